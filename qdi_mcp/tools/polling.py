"""The polling engine behind every "…_and_wait" tool. No MCP in here: progress leaves through a callback.

Why it is shaped this way:
- Intervals start small (most actions on a small project finish in seconds) and grow geometrically, so a
  long action costs few polls; they are capped (about 10 s, less for short timeouts) so an answer never lags
  far behind the service, and jittered so many concurrent waits do not poll in lock-step.
- Every poll goes through the shared API client, whose per-tier limiter is shared by every wait in the
  process: 50 concurrent waits queue politely instead of earning 429s.
- One last re-check at the deadline: the action may have finished between the last poll and the deadline.
- Cancellation needs no code: the sleep is the only place time passes, and a cancelled request raises
  there, so nothing keeps polling after the client gives up.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from qdi_mcp.api import Clock, MonotonicClock

T = TypeVar("T")

HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class PollSchedule:
    first: float = 0.5
    growth: float = 1.5
    cap: float = 10.0
    jitter: float = 0.1

    def interval(self, poll_number: int, timeout: float, rng: random.Random) -> float:
        # Scaled to the timeout: a 20 s wait should not sleep 10 s between looks.
        cap = max(self.first, min(self.cap, timeout / 6))
        base = min(cap, self.first * self.growth**poll_number)
        # Clamp after the jitter too: every poll doubles as a progress heartbeat, due at least every cap seconds.
        return min(cap, base * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass
class WaitOutcome(Generic[T]):
    last: T
    done: bool
    timed_out: bool
    elapsed: float
    polls: int


OnPoll = Callable[[T, float], Awaitable[None]]


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    timeout: float,
    on_poll: OnPoll[T] | None = None,
    clock: Clock | None = None,
    schedule: PollSchedule | None = None,
    rng: random.Random | None = None,
    first_value: T | None = None,
) -> WaitOutcome[T]:
    """Fetch until `is_done` or `timeout` seconds pass; `on_poll(value, elapsed)` sees every value fetched.

    `first_value`, when given, counts as the first poll's answer (a caller that already fetched once).
    """
    clock = clock or MonotonicClock()
    schedule = schedule or PollSchedule()
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    started = clock.monotonic()
    deadline = started + timeout
    polls = 0
    if first_value is None:
        value = await fetch()
        polls += 1
    else:
        value = first_value
    while True:
        elapsed = clock.monotonic() - started
        if on_poll is not None:
            await on_poll(value, elapsed)
        if is_done(value):
            return WaitOutcome(value, True, False, elapsed, polls)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return WaitOutcome(value, False, True, elapsed, polls)
        await clock.sleep(min(schedule.interval(polls, timeout, rng), remaining))
        value = await fetch()
        polls += 1
