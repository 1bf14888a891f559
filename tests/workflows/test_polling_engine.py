"""The polling engine on its own, on a manual clock: the schedule's rules, the completion estimate, the final
re-check at the deadline, and heartbeats between polls."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from qdi_mcp.clock import ManualClock
from qdi_mcp.tools.polling import CompletionEstimate, PollSchedule, poll_until

pytestmark = pytest.mark.anyio


@dataclass
class Job:
    """Work of `steps` equal steps ending `duration` seconds after `start`, read through the clock."""

    clock: ManualClock
    duration: float
    steps: int = 1
    start: float = 0.0
    reads: int = 0

    async def fetch(self) -> tuple[float, float]:
        self.reads += 1
        elapsed = self.clock.monotonic() - self.start
        return (min(self.steps, int(elapsed / self.duration * self.steps)), float(self.steps))

    @staticmethod
    def done(value: tuple[float, float]) -> bool:
        return value[0] >= value[1]


# --- the schedule ---------------------------------------------------------------------------------------


def test_first_intervals_start_at_half_a_second_and_grow() -> None:
    schedule = PollSchedule(jitter=0.0)
    rng = random.Random(1)
    assert schedule.interval(0, 0.0, rng) == 0.5
    assert schedule.interval(1, 0.5, rng) == 0.75
    assert schedule.interval(2, 1.25, rng) == 1.0, "capped by the lag bound of 1 s this early"


def test_without_a_prediction_no_interval_exceeds_the_lag_bound() -> None:
    schedule = PollSchedule()
    rng = random.Random(3)
    for looks in range(40):
        for elapsed in (0.0, 1.0, 5.0, 30.0, 120.0, 900.0):
            interval = schedule.interval(looks, elapsed, rng)
            assert 0 < interval <= max(1.0, 0.1 * elapsed)
            assert interval <= schedule.max_interval


def test_a_very_long_wait_keeps_looking_at_the_lag_bound_without_overflowing() -> None:
    schedule = PollSchedule(jitter=0.0)
    assert schedule.interval(5000, 3000.0, random.Random(1)) == schedule.lag_bound(3000.0) == 60.0


def test_a_far_prediction_leaps_at_most_half_the_remainder_and_at_most_the_time_waited() -> None:
    schedule = PollSchedule()
    rng = random.Random(5)
    for _ in range(20):
        leap = schedule.interval(6, 10.0, rng, predicted_remaining=290.0)
        assert schedule.lag_bound(10.0) < leap <= 10.0
        late = schedule.interval(12, 200.0, rng, predicted_remaining=100.0)
        assert 45.0 <= late <= 50.0, "half the remainder, jittered down only"
        assert schedule.interval(12, 900.0, rng, predicted_remaining=2000.0) <= schedule.max_interval


def test_near_the_predicted_end_it_sleeps_exactly_until_then() -> None:
    schedule = PollSchedule()
    assert schedule.interval(9, 100.0, random.Random(1), predicted_remaining=4.0) == 4.0


def test_once_the_predicted_end_has_passed_the_lag_bound_applies_again() -> None:
    schedule = PollSchedule()
    rng = random.Random(2)
    for _ in range(20):
        assert schedule.interval(9, 100.0, rng, predicted_remaining=-3.0) <= schedule.lag_bound(100.0)


def test_a_schedule_with_impossible_values_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        PollSchedule(first=0)
    with pytest.raises(ValueError, match="growth"):
        PollSchedule(growth=0.5)


# --- the estimate ---------------------------------------------------------------------------------------


def test_the_estimate_projects_the_end_from_the_rate_seen_so_far() -> None:
    estimate = CompletionEstimate()
    estimate.observe(0.0, 0, 10)
    assert estimate.remaining(0.0) is None, "one look says nothing about speed"
    estimate.observe(4.0, 2, 10)
    assert estimate.remaining(4.0) == pytest.approx(16.0)
    estimate.observe(9.0, 2, 10)
    assert estimate.remaining(9.0) == pytest.approx(11.0), "a look without change does not move the end"


def test_the_estimate_starts_afresh_when_the_count_goes_back() -> None:
    estimate = CompletionEstimate()
    estimate.observe(0.0, 0, 4)
    estimate.observe(2.0, 4, 4)
    estimate.observe(3.0, 0, 4)
    assert estimate.remaining(3.0) is None


def test_the_estimate_ignores_work_without_a_total() -> None:
    estimate = CompletionEstimate()
    estimate.observe(0.0, 0, 0)
    estimate.observe(5.0, 0, 0)
    assert estimate.remaining(5.0) is None


# --- poll_until -----------------------------------------------------------------------------------------


async def test_poll_until_returns_the_first_value_that_is_done() -> None:
    clock = ManualClock(start=0.0)
    job = Job(clock, duration=3.0)
    outcome = await poll_until(job.fetch, job.done, timeout=60, clock=clock, rng=random.Random(1))
    assert outcome.done and not outcome.timed_out
    assert outcome.last == (1, 1.0)
    assert outcome.polls == job.reads
    assert outcome.elapsed >= 3.0


async def test_poll_until_rechecks_at_the_deadline_itself() -> None:
    clock = ManualClock(start=0.0)
    job = Job(clock, duration=20.0)
    outcome = await poll_until(job.fetch, job.done, timeout=20, clock=clock, rng=random.Random(1))
    assert clock.monotonic() == 20.0
    assert outcome.done and not outcome.timed_out


async def test_poll_until_times_out_with_the_last_value_seen() -> None:
    clock = ManualClock(start=0.0)
    job = Job(clock, duration=100.0, steps=10)
    outcome = await poll_until(job.fetch, job.done, timeout=30, clock=clock, rng=random.Random(1))
    assert outcome.timed_out and not outcome.done
    assert outcome.elapsed == 30.0
    assert outcome.last == (3, 10.0)


async def test_first_value_counts_as_the_first_answer() -> None:
    clock = ManualClock(start=0.0)
    job = Job(clock, duration=0.0)
    outcome = await poll_until(job.fetch, job.done, timeout=5, clock=clock, first_value=(1, 1.0))
    assert outcome.done and outcome.polls == 0 and job.reads == 0


async def test_with_progress_the_wait_looks_less_often_than_without() -> None:
    looks = {}
    for name, progress_of in (("blind", None), ("informed", lambda value: value)):
        clock = ManualClock(start=0.0)
        job = Job(clock, duration=300.0, steps=150)
        outcome = await poll_until(
            job.fetch, job.done, timeout=600, clock=clock, rng=random.Random(4), progress_of=progress_of
        )
        assert outcome.done
        looks[name] = outcome.polls
    assert looks["informed"] < looks["blind"]


async def test_heartbeats_fill_the_time_between_rare_polls() -> None:
    clock = ManualClock(start=0.0)
    job = Job(clock, duration=100.0)
    beats: list[float] = []
    polls: list[float] = []

    async def on_heartbeat(elapsed: float) -> None:
        beats.append(elapsed)

    async def on_poll(value: tuple[float, float], elapsed: float) -> None:
        polls.append(elapsed)

    schedule = PollSchedule(first=40, min_lag=40, max_interval=40, predict=False, jitter=0.0)
    outcome = await poll_until(
        job.fetch,
        job.done,
        timeout=300,
        clock=clock,
        schedule=schedule,
        on_poll=on_poll,
        on_heartbeat=on_heartbeat,
    )
    assert outcome.done
    assert polls == [0.0, 40.0, 80.0, 120.0]
    assert beats == [10.0, 20.0, 30.0, 50.0, 60.0, 70.0, 90.0, 100.0, 110.0]
    assert all(sleep <= 10.0 for sleep in clock.sleeps)
