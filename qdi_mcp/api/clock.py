"""Time sources for the API client.

Everything that waits (retry back-off, rate limiting, token expiry) reads time through a `Clock`, so tests
drive time with `ManualClock` and never sleep for real.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A monotonic time source that can also wait."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: `time.monotonic` and `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "MonotonicClock()"


class ManualClock:
    """A clock that only moves when something sleeps on it or `advance` is called.

    `sleep(s)` returns at once but moves time to at least "when the sleep started + s", so several tasks
    sleeping concurrently each wake at their own deadline and time never runs backwards. Every requested
    sleep is recorded in `sleeps` so tests can assert on back-off without waiting for it.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake_at = self.now + max(seconds, 0.0)
        # yield to the event loop like a real sleep would, so other tasks get to run in between
        await asyncio.sleep(0)
        self.now = max(self.now, wake_at)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now!r})"
