"""Time, read and waited on through one protocol: the bottom of the package, importable by every layer.

Everything that reads or waits on time (the API client's retry back-off, rate limits and token expiry, the
tools' polls, the emulator's state machines) takes a `Clock`, never `time` or `sleep` directly, so:

- production runs on `SystemClock`;
- a served emulator can run faster than real time with `SpeedClock`;
- tests, evals and benchmarks run on `ManualClock`, and can hand ONE instance to both the emulator and the
  client: a client wait then moves the tenant's state machines, so a 300 s prepare takes milliseconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

# A fixed, realistic start for manual clocks, so ids and timestamps in tests are reproducible.
DEFAULT_MANUAL_START = datetime(2025, 3, 3, 9, 0, 0, tzinfo=UTC).timestamp()


@runtime_checkable
class Clock(Protocol):
    """A time source that can also wait."""

    def now(self) -> float:
        """Wall-clock time in epoch seconds (what timestamps are made of)."""
        ...

    def monotonic(self) -> float:
        """Seconds that never run backwards (what durations and deadlines are measured with)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when `advance` is called or something sleeps on it.

    `sleep(s)` returns at once (after a checkpoint, so other tasks get to run in between as they would during
    a real sleep) and moves time to at least "when the sleep started + s": several tasks sleeping concurrently
    each wake at their own deadline, and time never runs backwards. Every requested sleep is recorded in
    `sleeps`, so tests can assert on back-off without waiting for it.
    """

    def __init__(self, start: float = DEFAULT_MANUAL_START) -> None:
        self._now = float(start)
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake_at = self._now + max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()
        self._now = max(self._now, wake_at)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds}))")
        self._now += float(seconds)

    def __repr__(self) -> str:
        return f"ManualClock(now={datetime.fromtimestamp(self._now, tz=UTC).isoformat()})"


class SpeedClock:
    """Real time multiplied by `speed`, starting from `start` (default: the real current time).

    Durations and sleeps are in this clock's time too: a sleep of s seconds takes s / speed real seconds, so
    a client and a served emulator on one SpeedClock agree on what a minute is (rate-limit windows, polls)."""

    def __init__(self, speed: float = 1.0, *, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.speed = float(speed)
        self._start = time.time() if start is None else float(start)
        self._anchor = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._anchor) * self.speed

    def monotonic(self) -> float:
        # derived from time.monotonic, so it never runs backwards even when the wall clock is set back
        return self.now()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0) / self.speed)

    def __repr__(self) -> str:
        return f"SpeedClock(speed={self.speed})"
