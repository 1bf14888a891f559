"""Client-side rate limiting per Qlik rate tier.

Qlik Cloud rejects requests beyond a tier's budget with 429; limiting ourselves first keeps agents that poll
eagerly from burning the budget shared with everyone else on the tenant.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from enum import StrEnum

from qdi_mcp.clock import Clock, SystemClock

WINDOW_SECONDS = 60.0
# Requests admitted here reach Qlik up to a network round trip later, so a burst at the edge of our window
# could land in Qlik's next one and exceed its count there. A window one second longer than Qlik's absorbs that.
WINDOW_MARGIN_SECONDS = 1.0
TIER_WINDOW_SECONDS = WINDOW_SECONDS + WINDOW_MARGIN_SECONDS
# guards against a zero or negative wait from float rounding, which would spin without time advancing
_MIN_WAIT_SECONDS = 0.001


class RateTier(StrEnum):
    """Qlik's rate-limit tiers, as named in the API reference."""

    TIER1 = "tier1"
    TIER2 = "tier2"
    RUNTIME_STATE = "runtime_state"

    @property
    def requests_per_minute(self) -> int:
        return _REQUESTS_PER_MINUTE[self]

    @property
    def window_seconds(self) -> float:
        """Qlik's evaluation window of this tier."""
        return _WINDOW_MINUTES[self] * WINDOW_SECONDS

    @property
    def budget(self) -> int:
        """Requests Qlik admits in any one window of this tier."""
        return self.requests_per_minute * _WINDOW_MINUTES[self]


_REQUESTS_PER_MINUTE: dict[RateTier, int] = {
    RateTier.TIER1: 1000,
    RateTier.TIER2: 100,
    RateTier.RUNTIME_STATE: 120,
}
# qlik.dev rate-limiting page (stored doc 68622924174, 2025-06-19), Tier 1 and Tier 2: "The limit is evaluated
# over a 5-minute window to support bursts of requests." We read it as the per-minute figure averaged over 5
# minutes: 5x the per-minute count in any 5 minutes, so a burst may exceed one minute's count. The runtime-state
# endpoints are "Special (120 requests per minute)" with no window stated, and the page says "Rate limit windows
# are per minute unless documented otherwise": one minute.
_WINDOW_MINUTES: dict[RateTier, int] = {
    RateTier.TIER1: 5,
    RateTier.TIER2: 5,
    RateTier.RUNTIME_STATE: 1,
}


class SlidingWindowLimiter:
    """Admits at most `limit` calls in any `window` seconds; callers over the limit wait their turn.

    A log of admission times gives an exact bound (a token bucket would allow a burst of `limit` right after
    a full window). The fast path (far from the limit, nobody queued) takes no lock and does no awaiting.
    """

    def __init__(self, limit: int, *, window: float = WINDOW_SECONDS, clock: Clock | None = None) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be at least 1 request per window, got {limit}")
        if window <= 0:
            raise ValueError(f"rate limit window must be positive, got {window}")
        self.limit = limit
        self.window = window
        self._clock = clock or SystemClock()
        self._admitted: deque[float] = deque()
        # waiters queue on this lock (FIFO) so a burst of newcomers cannot overtake callers already waiting
        self._queue = asyncio.Lock()

    async def acquire(self) -> None:
        if not self._queue.locked() and self._try_admit():
            return
        async with self._queue:
            while not self._try_admit():
                await self._clock.sleep(self._seconds_until_slot())

    def _try_admit(self) -> bool:
        now = self._clock.monotonic()
        admitted = self._admitted
        # compare elapsed time (not oldest + window) so the bound holds exactly as "t2 - t1 < window"
        while admitted and now - admitted[0] >= self.window:
            admitted.popleft()
        if len(admitted) < self.limit:
            admitted.append(now)
            return True
        return False

    def _seconds_until_slot(self) -> float:
        elapsed = self._clock.monotonic() - self._admitted[0]
        return max(self.window - elapsed, _MIN_WAIT_SECONDS)

    def __repr__(self) -> str:
        return f"SlidingWindowLimiter(limit={self.limit}, window={self.window})"


class TierLimiter:
    """One limiter per rate tier; share one instance between every client of the same tenant.

    `limits` replaces a tier's budget (requests per window); `window` replaces every tier's window, which is
    otherwise Qlik's window of that tier plus our margin.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        limits: Mapping[RateTier, int] | None = None,
        window: float | None = None,
    ) -> None:
        self._clock = clock = clock or SystemClock()
        per_tier = {tier: tier.budget for tier in RateTier}
        per_tier.update(limits or {})
        self._limiters = {
            tier: SlidingWindowLimiter(limit, window=window or tier.window_seconds + WINDOW_MARGIN_SECONDS, clock=clock)
            for tier, limit in per_tier.items()
        }
        self._blocked_until: dict[RateTier, float] = {}

    async def acquire(self, tier: RateTier) -> None:
        # After a 429, Qlik blocks every call of that tier until Retry-After has passed ("Calls to endpoints in
        # the same tier are all blocked in the waiting period", qlik.dev rate-limiting page): sending others
        # meanwhile would only earn more 429s.
        while (wait := self._blocked_until.get(tier, 0.0) - self._clock.monotonic()) > 0:
            await self._clock.sleep(wait)
        await self._limiters[tier].acquire()

    async def block(self, tier: RateTier, seconds: float) -> None:
        """Hold every call of `tier` for `seconds` (Qlik answered 429 with this Retry-After)."""
        self._block_here(tier, seconds)

    def _block_here(self, tier: RateTier, seconds: float) -> None:
        until = self._clock.monotonic() + max(seconds, 0.0)
        self._blocked_until[tier] = max(until, self._blocked_until.get(tier, 0.0))

    async def answered(self, tier: RateTier) -> None:
        """The request admitted last by this task has been answered (a shared limiter re-dates its slot)."""

    async def aclose(self) -> None:
        """Release what the limiter holds (nothing here; a shared limiter's connections)."""

    def window(self, tier: RateTier) -> float:
        return self._limiters[tier].window

    def limit(self, tier: RateTier) -> int:
        return self._limiters[tier].limit

    def __repr__(self) -> str:
        limits = ", ".join(f"{tier.value}={limiter.limit}" for tier, limiter in self._limiters.items())
        return f"TierLimiter({limits})"
