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
from collections import deque

from .operations import Tier

WINDOW_SECONDS = 60.0  # one minute: what Qlik's per-minute figures count


class RateLimiter:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, Tier], deque[float]] = {}
        self._blocked_until: dict[tuple[str, Tier], float] = {}

    def admit(self, caller: str, tier: Tier, now: float) -> float | None:
        """Record the request and return None, or return the seconds to wait (the request is refused)."""
        key = (caller, tier)
        blocked_until = self._blocked_until.get(key)
        if blocked_until is not None and now < blocked_until:
            return max(1.0, math.ceil(blocked_until - now))
        window = self._seen.setdefault(key, deque())
        while window and window[0] <= now - tier.window_seconds:
            window.popleft()
        if len(window) >= tier.budget:
            wait = max(1.0, math.ceil(window[0] + tier.window_seconds - now))
            self._blocked_until[key] = now + wait
            return wait
        window.append(now)
        return None
