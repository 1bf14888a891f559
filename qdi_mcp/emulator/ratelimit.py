"""Qlik-like rate limiting: per caller and per tier, requests allowed in any one evaluation window.

qlik.dev rate-limiting page (stored doc 68622924174, 2025-06-19): Tier 1 is "1,000 per min" and Tier 2
"100 per min", each "evaluated over a 5-minute window to support bursts of requests"; the emulator reads that as
5x the per-minute figure in any 5 minutes (an average per minute, bursts allowed). The runtime-state endpoints
are "Special (120 requests per minute)" with no window stated; "Rate limit windows are per minute unless
documented otherwise", so theirs is one minute. A refused request gets 429 with `Retry-After` and Qlik's body,
and "Calls to endpoints in the same tier are all blocked in the waiting period": the whole tier stays refused
until the announced time, even if a slot frees earlier.

Off by default (tests and demos should not trip over it); `Emulator(rate_limits=True)` turns it on. Time is
the emulator's clock, so tests exercise it with a manual clock.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, deque

from .operations import Tier

WINDOW_SECONDS = 60.0  # one minute: what Qlik's per-minute figures count


# Admission times kept for `busiest` (tests and benchmarks ask what the tenant saw); enough for any test run.
MAX_LOGGED_ADMISSIONS = 1_000_000


class RateLimiter:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, Tier], deque[float]] = {}
        self._blocked_until: dict[tuple[str, Tier], float] = {}
        # What the tenant saw, per tier and for every caller together: admission times and refusals.
        self._admitted: dict[Tier, list[float]] = {}
        self.refused: Counter[Tier] = Counter()

    def busiest(self, tier: Tier, seconds: float) -> int:
        """The most requests of `tier` admitted within any `seconds` (all callers together)."""
        times = self._admitted.get(tier, [])
        most = 0
        for end, at in enumerate(times):
            start = bisect_left(times, at - seconds + 1e-9, 0, end + 1)
            most = max(most, end - start + 1)
        return most

    def stats(self) -> dict[str, dict[str, int]]:
        """Per tier: requests admitted and refused, and the busiest minute and five minutes."""
        return {
            tier.name.lower(): {
                "admitted": len(self._admitted.get(tier, [])),
                "refused": self.refused[tier],
                "busiest_60s": self.busiest(tier, 60.0),
                "busiest_300s": self.busiest(tier, 300.0),
            }
            for tier in Tier
        }

    def admit(self, caller: str, tier: Tier, now: float) -> float | None:
        """Record the request and return None, or return the seconds to wait (the request is refused)."""
        key = (caller, tier)
        blocked_until = self._blocked_until.get(key)
        if blocked_until is not None and now < blocked_until:
            self.refused[tier] += 1
            return max(1.0, math.ceil(blocked_until - now))
        window = self._seen.setdefault(key, deque())
        while window and window[0] <= now - tier.window_seconds:
            window.popleft()
        if len(window) >= tier.budget:
            wait = max(1.0, math.ceil(window[0] + tier.window_seconds - now))
            self._blocked_until[key] = now + wait
            self.refused[tier] += 1
            return wait
        window.append(now)
        admitted = self._admitted.setdefault(tier, [])
        if len(admitted) < MAX_LOGGED_ADMISSIONS:
            admitted.append(now)
        return None
