"""Emulator clocks: the emulated tenant's notion of "now" (epoch seconds).

Every state machine in the emulator reads time from one of these, never from `time` directly, so tests
drive the tenant with a `ManualClock` (nothing moves until the test advances it) and a served emulator can
run faster than real time with a `SpeedClock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

# A fixed, realistic start for manual clocks, so ids and timestamps in tests are reproducible.
DEFAULT_MANUAL_START = datetime(2025, 3, 3, 9, 0, 0, tzinfo=UTC).timestamp()


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Current emulated time in epoch seconds."""
        ...


class ManualClock:
    """A clock that only moves when told to: `advance(seconds)`."""

    def __init__(self, start: float = DEFAULT_MANUAL_START) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds}))")
        self._now += float(seconds)

    def __repr__(self) -> str:
        return f"ManualClock(now={iso_time(self._now)})"


class SpeedClock:
    """Real time multiplied by `speed`, starting from `start` (default: the real current time)."""

    def __init__(self, speed: float = 1.0, *, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.speed = float(speed)
        self._start = time.time() if start is None else float(start)
        self._anchor = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._anchor) * self.speed

    def __repr__(self) -> str:
        return f"SpeedClock(speed={self.speed})"


def iso_time(epoch_seconds: float) -> str:
    """Qlik's timestamp format: ISO-8601 UTC with a `Z`, second precision."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hms_duration(seconds: float) -> str:
    """Qlik's duration format `HH:MM:SS` (hours may exceed 24)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"
