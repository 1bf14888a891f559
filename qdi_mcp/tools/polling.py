"""The polling engine behind every "…_and_wait" tool. No MCP in here: progress leaves through callbacks.

Two goals pull against each other: answer soon after the work ends (detection lag at most max(1 s, 10 % of
the duration)) and look rarely (a 300 s action in at most 25 polls). Pure geometric growth cannot do both:
growing by 10 % a poll meets the lag goal but costs ~70 polls over 300 s, growing faster misses the lag goal.
So the schedule takes the tightest of three rules, and leaps ahead only where the work says it may:
- early looks start at `first` and grow geometrically, because most actions on a small project end in seconds;
- the lag bound: never wait longer than max(`min_lag`, `lag_fraction` × time waited) when nothing is known, so
  whenever the work ends, the next look comes within 10 % of the time it took;
- a prediction: when the work reports a finished count (tasks of an action, datasets of a full load), the rate
  it rises at says when it will end. The wait then halves the predicted remainder at each look (never more than
  doubling the time waited, never past `max_interval`) and, once close, sleeps exactly until the predicted end.
  A wrong prediction costs little: once the predicted end has passed, the lag bound applies again.
Concurrent waits share the API client's per-tier limiters, so 50 of them queue politely instead of earning 429s;
jitter (which only ever shortens a sleep) keeps them from polling in lock-step.

Progress heartbeats do not need polls: a long sleep is cut into pieces of at most `heartbeat` seconds and
`on_heartbeat` runs between them, so clients that reset their timeout on progress keep waiting.

One last re-check at the deadline: the last sleep ends exactly there, because the action may have finished
between the last poll and the deadline. Cancellation needs no code: sleeping is the only place time passes,
and a cancelled request raises there, so nothing keeps polling after the client gives up.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from qdi_mcp.clock import Clock, SystemClock

T = TypeVar("T")

HEARTBEAT_SECONDS = 10.0
# A prediction that lands a hair before the real end costs one look more; sleeping no less than this keeps a
# prediction of "now" from turning into a busy loop.
_MIN_SLEEP_SECONDS = 0.01
# Float rounding can leave a sliver of a sleep; less than this counts as none.
_NEGLIGIBLE_SECONDS = 1e-6


@dataclass(frozen=True)
class PollSchedule:
    first: float = 0.5
    growth: float = 1.5
    lag_fraction: float = 0.1
    min_lag: float = 1.0
    max_interval: float = 60.0
    heartbeat: float = HEARTBEAT_SECONDS
    jitter: float = 0.1
    predict: bool = True

    def __post_init__(self) -> None:
        if self.first <= 0 or self.min_lag <= 0 or self.heartbeat <= 0 or self.max_interval <= 0:
            raise ValueError("poll intervals, lag and heartbeat must be positive")
        if self.growth < 1 or not 0 <= self.jitter < 1 or self.lag_fraction < 0:
            raise ValueError("growth must be at least 1, jitter in [0, 1) and lag_fraction not negative")

    def lag_bound(self, elapsed: float) -> float:
        """The longest sleep that still answers within the lag goal, whenever the work ends."""
        return min(self.max_interval, max(self.min_lag, self.lag_fraction * elapsed))

    def interval(
        self,
        looks: int,
        elapsed: float,
        rng: random.Random,
        *,
        predicted_remaining: float | None = None,
    ) -> float:
        """Seconds to sleep before the next poll, after `looks` sleeps and `elapsed` seconds of waiting."""
        bound = self.lag_bound(elapsed)
        # The exponent is capped: the lag bound wins long before, and a huge power would overflow a float.
        early = min(bound, self.first * self.growth ** min(looks, 64))
        if predicted_remaining is None or not self.predict or predicted_remaining <= 0:
            # Nothing known, or the predicted end has passed: look as often as the lag goal asks.
            return min(bound, early * (1 + rng.uniform(-self.jitter, self.jitter)))
        if predicted_remaining <= bound:
            # Close to the predicted end: sleep exactly until then (no jitter: it would only add lag).
            return max(predicted_remaining, _MIN_SLEEP_SECONDS)
        leap = min(predicted_remaining / 2, max(elapsed, bound), self.max_interval)
        return max(early, leap * (1 - rng.uniform(0, self.jitter)))


class CompletionEstimate:
    """When a piece of work will end, from how fast its finished count rose while we watched.

    The rate is measured from the first observation to the last one that saw the count change, and the end is
    projected from that change (not from "now"), so a stretch with no change does not shift the prediction.
    """

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None
        self._change: tuple[float, float] | None = None
        self._total = 0.0

    def observe(self, at: float, done: float, total: float) -> None:
        if total <= 0:
            return
        self._total = total
        last_done = self._change[1] if self._change else self._origin[1] if self._origin else None
        if self._origin is None or last_done is None or done < last_done:
            # First look, or the count went back (a new run): measure afresh.
            self._origin, self._change = (at, done), None
        elif done > last_done:
            self._change = (at, done)

    def remaining(self, now: float) -> float | None:
        """Predicted seconds left (negative once the predicted end has passed), or None if unknown yet."""
        if self._origin is None or self._change is None:
            return None
        (t0, d0), (tc, dc) = self._origin, self._change
        if tc <= t0 or dc <= d0:
            return None
        rate = (dc - d0) / (tc - t0)
        return tc + (self._total - dc) / rate - now


@dataclass
class WaitOutcome(Generic[T]):
    last: T
    done: bool
    timed_out: bool
    elapsed: float
    polls: int


OnPoll = Callable[[T, float], Awaitable[None]]
OnHeartbeat = Callable[[float], Awaitable[None]]
ProgressOf = Callable[[T], "tuple[float, float] | None"]


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    timeout: float,
    on_poll: OnPoll[T] | None = None,
    on_heartbeat: OnHeartbeat | None = None,
    progress_of: ProgressOf[T] | None = None,
    clock: Clock | None = None,
    schedule: PollSchedule | None = None,
    rng: random.Random | None = None,
    first_value: T | None = None,
) -> WaitOutcome[T]:
    """Fetch until `is_done` or `timeout` seconds pass; `on_poll(value, elapsed)` sees every value fetched.

    `progress_of(value)` returns (finished, total) when the value tells how far the work is; it feeds the
    prediction. `on_heartbeat(elapsed)` runs at least every `schedule.heartbeat` seconds between polls.
    `first_value`, when given, counts as the first poll's answer (a caller that already fetched once).
    """
    clock = clock or SystemClock()
    schedule = schedule or PollSchedule()
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    estimate = CompletionEstimate()
    started = clock.monotonic()
    deadline = started + timeout
    polls = looks = 0
    if first_value is None:
        value = await fetch()
        polls += 1
    else:
        value = first_value
    while True:
        now = clock.monotonic()
        elapsed = now - started
        progress = progress_of(value) if progress_of is not None else None
        if progress is not None:
            estimate.observe(now, *progress)
        if on_poll is not None:
            await on_poll(value, elapsed)
        if is_done(value):
            return WaitOutcome(value, True, False, elapsed, polls)
        left = deadline - now
        if left <= 0:
            return WaitOutcome(value, False, True, elapsed, polls)
        pause = schedule.interval(looks, elapsed, rng, predicted_remaining=estimate.remaining(now))
        # Never past the deadline: the last sleep ends on it, for the final re-check.
        await _sleep(clock, min(pause, left), schedule.heartbeat, on_heartbeat, started)
        looks += 1
        value = await fetch()
        polls += 1


async def _sleep(
    clock: Clock, seconds: float, heartbeat: float, on_heartbeat: OnHeartbeat | None, started: float
) -> None:
    """Sleep `seconds` in pieces of at most `heartbeat`, calling `on_heartbeat` between pieces."""
    wake_at = clock.monotonic() + seconds
    while True:
        left = wake_at - clock.monotonic()
        if left <= _NEGLIGIBLE_SECONDS:
            return
        await clock.sleep(min(left, heartbeat))
        if on_heartbeat is not None and wake_at - clock.monotonic() > _NEGLIGIBLE_SECONDS:
            await on_heartbeat(clock.monotonic() - started)
