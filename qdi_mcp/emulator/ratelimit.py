"""Qlik-like rate limiting: per caller and per tier, requests allowed in any 60-second window.

Off by default (tests and demos should not trip over it); `Emulator(rate_limits=True)` turns it on. Time is
the emulator's clock, so tests exercise it with a manual clock.
"""

from __future__ import annotations

import math
from collections import deque

from .operations import Tier

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, Tier], deque[float]] = {}

    def admit(self, caller: str, tier: Tier, now: float) -> float | None:
        """Record the request and return None, or return the seconds to wait (the request is refused)."""
        window = self._seen.setdefault((caller, tier), deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if len(window) >= tier.per_minute:
            return max(1.0, math.ceil(window[0] + WINDOW_SECONDS - now))
        window.append(now)
        return None
