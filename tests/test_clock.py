"""The one clock module: the ManualClock contract every test, eval and benchmark relies on, and the real clocks."""

from __future__ import annotations

import time

import anyio
import pytest

from qdi_mcp.clock import DEFAULT_MANUAL_START, Clock, ManualClock, SpeedClock, SystemClock

pytestmark = pytest.mark.anyio


def test_every_clock_keeps_the_protocol() -> None:
    assert all(isinstance(clock, Clock) for clock in (SystemClock(), ManualClock(), SpeedClock(2.0)))


def test_a_manual_clock_starts_at_the_fixed_default_and_reads_one_time() -> None:
    clock = ManualClock()
    assert clock.now() == clock.monotonic() == DEFAULT_MANUAL_START
    assert ManualClock(start=5.0).now() == 5.0


async def test_a_sleep_returns_at_once_and_moves_time_to_the_wake_time() -> None:
    clock = ManualClock(start=100.0)
    started = time.monotonic()
    await clock.sleep(3600)
    assert time.monotonic() - started < 1.0  # nothing slept for real
    assert clock.monotonic() == 3700.0
    assert clock.sleeps == [3600]


async def test_concurrent_sleepers_each_wake_at_their_own_deadline() -> None:
    clock = ManualClock(start=0.0)
    woke: dict[str, float] = {}

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke[name] = clock.now()

    async with anyio.create_task_group() as group:
        for name, seconds in (("long", 30.0), ("short", 10.0), ("middle", 20.0)):
            group.start_soon(sleeper, name, seconds)

    # all three started at 0: none waits past the longest deadline, and each is awake no earlier than its own
    assert clock.now() == 30.0
    assert woke["short"] >= 10.0 and woke["middle"] >= 20.0 and woke["long"] == 30.0
    assert sorted(clock.sleeps) == [10.0, 20.0, 30.0]


async def test_time_never_runs_backwards() -> None:
    clock = ManualClock(start=0.0)
    clock.advance(50)
    await clock.sleep(10)  # wakes at 60
    await clock.sleep(-5)  # a negative sleep is no sleep
    seen = [clock.now()]

    async def late_short_sleeper() -> None:
        await clock.sleep(1)  # started at 60: its wake time 61 lies before what the long sleeper reaches

    async with anyio.create_task_group() as group:
        group.start_soon(clock.sleep, 100)
        group.start_soon(late_short_sleeper)
    seen.append(clock.now())

    assert seen == [60.0, 160.0]
    assert clock.sleeps == [10, -5, 100, 1]


def test_advance_moves_time_and_rejects_going_backwards() -> None:
    clock = ManualClock(start=0.0)
    clock.advance(2.5)
    assert clock.now() == 2.5
    with pytest.raises(ValueError, match="cannot go backwards"):
        clock.advance(-1)
    assert clock.now() == 2.5


async def test_a_speed_clock_runs_and_sleeps_in_its_own_faster_time() -> None:
    clock = SpeedClock(1000.0, start=0.0)
    started = time.monotonic()
    before = clock.monotonic()
    await clock.sleep(200)  # 200 clock seconds are 0.2 real seconds
    real = time.monotonic() - started
    assert 0.15 < real < 5.0
    assert clock.monotonic() - before >= 150
    with pytest.raises(ValueError, match="positive"):
        SpeedClock(0)


async def test_the_system_clock_reads_real_time() -> None:
    clock = SystemClock()
    assert abs(clock.now() - time.time()) < 5
    before = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() > before
