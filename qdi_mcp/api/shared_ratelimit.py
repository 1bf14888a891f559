"""Rate-limit windows shared by every replica and process that uses one Redis (`QDI_MCP_STATE_URL`).

Qlik counts a tenant's requests per tier, whoever sends them; N replicas each keeping their own window send N times
the budget, and Qlik then blocks the whole tier for everyone. Here the sliding window of `SlidingWindowLimiter`
lives in Redis (one sorted set of admission times per tier) and so does the tier block after a 429.

Why a Lua script of our own rather than `limits` (its Redis moving window): an admission must check the tier
block, trim the window, count and record in one atomic step, and answer how long to wait; `limits` has no notion of
a block set by someone else's 429 and its async Redis storage brings a second client library. The script uses
Redis's clock (`TIME`), so replicas whose clocks differ still share one window.

Redis down or slow (each command bounded by the shared state's timeout): the limiter falls back to the
per-replica windows of `TierLimiter`, logs one warning, and tries Redis again a few seconds later. Reads keep
working; nothing waits on Redis longer than its timeout.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qdi_mcp.clock import Clock
from qdi_mcp.settings import StateUrl
from qdi_mcp.shared_state import Keyspace, async_client

from .ratelimit import RateTier, TierLimiter

if TYPE_CHECKING:
    import redis.asyncio

logger = logging.getLogger("qdi_mcp.api")

# After a failure, how long the per-replica windows are used before Redis is tried again.
RETRY_SHARED_AFTER_SECONDS = 5.0
# A waiting caller asks Redis again at least this often: a slot freed by a window edge is taken promptly, and
# a block lifted early (none today) would be noticed.
MAX_WAIT_SECONDS = 1.0

# KEYS[1]: the tier's window (sorted set of admission times, ms), KEYS[2]: the tier's block (a key with a TTL)
# ARGV[1]: requests admitted per window, ARGV[2]: window in ms, ARGV[3]: a member id unique to this admission
# Returns 0 when admitted, else the milliseconds to wait before asking again.
_ADMIT = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# KEYS[1]: the tier's block; ARGV[1]: ms. A block only ever grows: a shorter Retry-After never shortens one.
_BLOCK = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 0
"""


# KEYS[1]: the tier's window; ARGV[1]: the member of an admission now answered, ARGV[2]: window in ms.
# Re-dates the admission to now (Redis's clock): the request reached Qlik between its admission and its answer, and
# on a busy host that can be seconds after the admission, longer than any fixed margin (a benchmark run saw 6
# answers 429 with admissions dated at admission). Counting from the answer is never early.
_ANSWERED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"""

# The admission of the request the current task is sending: `answered` re-dates it.
_admission: contextvars.ContextVar[tuple[RateTier, str] | None] = contextvars.ContextVar("admission", default=None)


class SharedTierLimiter(TierLimiter):
    def __init__(
        self,
        url: StateUrl,
        keys: Keyspace,
        *,
        client: redis.asyncio.Redis | None = None,
        clock: Clock | None = None,
        limits: Mapping[RateTier, int] | None = None,
        window: float | None = None,
    ) -> None:
        super().__init__(clock=clock, limits=limits, window=window)
        self.url = url
        self._keys = keys
        self._redis = client if client is not None else async_client(url)
        self._admit = self._redis.register_script(_ADMIT)
        self._block = self._redis.register_script(_BLOCK)
        self._answered = self._redis.register_script(_ANSWERED)
        self._member_prefix = secrets.token_hex(6)
        self._members = itertools.count()
        self._local_until: float | None = None  # set while Redis is unusable: per-replica windows until then

    def __repr__(self) -> str:
        return f"SharedTierLimiter({self.url.shown!r}, tenant={self._keys.tenant!r})"

    @property
    def shared(self) -> bool:
        """Whether admissions currently go through Redis (False while falling back after a failure)."""
        return self._local_until is None or self._clock.monotonic() >= self._local_until

    async def acquire(self, tier: RateTier) -> None:
        _admission.set(None)
        while self.shared:
            member = self._member()
            try:
                wait_ms = await self._admit(
                    keys=[self._keys.key("rate-window", tier.value), self._keys.key("rate-block", tier.value)],
                    args=[self.limit(tier), int(self.window(tier) * 1000), member],
                )
            except Exception as exc:  # noqa: BLE001 - any failure of the shared state means: limit per replica
                self._fall_back(exc)
                break
            self._recovered()
            if int(wait_ms) <= 0:
                _admission.set((tier, member))
                return
            await self._clock.sleep(min(int(wait_ms) / 1000, MAX_WAIT_SECONDS))
        await super().acquire(tier)

    async def block(self, tier: RateTier, seconds: float) -> None:
        self._block_here(tier, seconds)
        if not self.shared:
            return
        try:
            await self._block(keys=[self._keys.key("rate-block", tier.value)], args=[max(1, int(seconds * 1000))])
        except Exception as exc:  # noqa: BLE001 - the block still holds in this replica
            self._fall_back(exc)

    async def answered(self, tier: RateTier) -> None:
        admission = _admission.get()
        _admission.set(None)
        if admission is None or admission[0] is not tier or not self.shared:
            return
        try:
            await self._answered(
                keys=[self._keys.key("rate-window", tier.value)], args=[admission[1], int(self.window(tier) * 1000)]
            )
        except Exception as exc:  # noqa: BLE001 - the admission stays dated at admission
            self._fall_back(exc)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _member(self) -> str:
        return f"{self._member_prefix}:{next(self._members)}"

    def _fall_back(self, exc: BaseException) -> None:
        if self._local_until is None:
            logger.warning(
                "shared rate limits at %s unavailable (%s): limiting per replica, retrying in %g s",
                self.url.shown,
                _reason(exc),
                RETRY_SHARED_AFTER_SECONDS,
            )
        self._local_until = self._clock.monotonic() + RETRY_SHARED_AFTER_SECONDS

    def _recovered(self) -> None:
        if self._local_until is not None:
            logger.warning("shared rate limits at %s are back", self.url.shown)
            self._local_until = None


def _reason(exc: BaseException) -> str:
    text: Any = str(exc).strip() or type(exc).__name__
    return str(text).splitlines()[0][:200]
