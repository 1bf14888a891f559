"""Client-side rate limits per Qlik tier, driven by a manual clock."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from qdi_mcp.api import ApiKeyAuth, QlikClient, RateTier, RetryPolicy, TierLimiter
from qdi_mcp.api.ratelimit import TIER_WINDOW_SECONDS, SlidingWindowLimiter
from qdi_mcp.clock import ManualClock

TENANT = "https://acme.eu.qlikcloud.com"
WINDOW = 60.0
# Tier limiters (what clients use) keep a one-second margin over Qlik's 60 s window.
TIER_WINDOW = TIER_WINDOW_SECONDS


def most_in_any_window(times: list[float], window: float = WINDOW) -> int:
    """The largest number of admissions less than `window` seconds apart, counted back from each one."""
    ordered = sorted(times)
    return max(sum(1 for other in ordered if other <= t and t - other < window) for t in ordered)


def test_tiers_have_qlik_documented_limits() -> None:
    assert RateTier.TIER1.requests_per_minute == 1000
    assert RateTier.TIER2.requests_per_minute == 100
    assert RateTier.RUNTIME_STATE.requests_per_minute == 120
    limiter = TierLimiter()
    assert [limiter.limit(tier) for tier in RateTier] == [1000, 100, 120]


@pytest.mark.anyio
async def test_tier_never_admits_more_than_its_count_per_window_and_waiters_proceed() -> None:
    clock = ManualClock(start=0.0)
    limiter = TierLimiter(clock=clock)
    admitted_at: list[float] = []

    async def caller() -> None:
        await limiter.acquire(RateTier.TIER2)
        admitted_at.append(clock.monotonic())

    await asyncio.gather(*(caller() for _ in range(250)))

    assert len(admitted_at) == 250  # everybody got through: callers wait, they do not fail
    assert most_in_any_window(admitted_at) == 100
    assert sorted(admitted_at)[99] == 0.0
    assert sorted(admitted_at)[100] >= WINDOW
    assert sorted(admitted_at)[200] >= 2 * WINDOW


@pytest.mark.anyio
async def test_callers_below_the_limit_do_not_wait() -> None:
    clock = ManualClock(start=0.0)
    limiter = TierLimiter(clock=clock)

    for _ in range(120):
        await limiter.acquire(RateTier.RUNTIME_STATE)

    assert clock.sleeps == []


@pytest.mark.anyio
async def test_tiers_are_counted_separately() -> None:
    clock = ManualClock(start=0.0)
    limiter = TierLimiter(clock=clock, limits={RateTier.TIER2: 1})

    await limiter.acquire(RateTier.TIER2)
    await limiter.acquire(RateTier.TIER1)
    await limiter.acquire(RateTier.RUNTIME_STATE)
    assert clock.sleeps == []

    await limiter.acquire(RateTier.TIER2)
    assert clock.monotonic() == pytest.approx(TIER_WINDOW)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=0, max_value=40, allow_nan=False), min_size=1, max_size=30),
)
def test_sliding_window_bound_holds_for_any_arrival_pattern(limit: int, gaps: list[float]) -> None:
    async def scenario() -> list[float]:
        clock = ManualClock(start=0.0)
        limiter = SlidingWindowLimiter(limit, window=WINDOW, clock=clock)
        admitted_at: list[float] = []

        async def caller(arrival: float) -> None:
            await clock.sleep(arrival)
            await limiter.acquire()
            admitted_at.append(clock.monotonic())

        arrivals = [sum(gaps[: i + 1]) for i in range(len(gaps))]
        await asyncio.gather(*(caller(arrival) for arrival in arrivals))
        return admitted_at

    admitted_at = asyncio.run(scenario())
    assert len(admitted_at) == len(gaps)
    assert most_in_any_window(admitted_at) <= limit


@pytest.mark.anyio
async def test_each_request_takes_its_endpoint_tier() -> None:
    clock = ManualClock(start=0.0)
    limiter = TierLimiter(clock=clock, limits={RateTier.RUNTIME_STATE: 1})
    router = respx.MockRouter(base_url=TENANT)
    sent_at: list[tuple[str, float]] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent_at.append((request.url.path.rsplit("/", 1)[-1], clock.monotonic()))
        return httpx.Response(200, json={})

    router.get(path__regex=r".*").mock(side_effect=record)
    client = QlikClient(
        TENANT,
        auth=ApiKeyAuth("key"),
        transport=httpx.MockTransport(router.async_handler),
        clock=clock,
        limiter=limiter,
        retry=RetryPolicy(jitter=False),
    )
    async with client:
        await client.get_task_state("p1", "t1")
        await client.get_project("p1")  # Tier 1: not held back by the exhausted runtime-state tier
        await client.get_task_state("p1", "t1")

    assert sent_at == [("state", 0.0), ("p1", 0.0), ("state", TIER_WINDOW)]


@pytest.mark.anyio
async def test_one_limiter_is_shared_by_several_clients() -> None:
    clock = ManualClock(start=0.0)
    limiter = TierLimiter(clock=clock, limits={RateTier.TIER1: 2})
    router = respx.MockRouter(base_url=TENANT)
    sent_at: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.monotonic())
        return httpx.Response(200, json={"id": "p1"})

    router.get("/api/v1/di-projects/p1").mock(side_effect=record)

    def make() -> QlikClient:
        return QlikClient(
            TENANT,
            auth=ApiKeyAuth("key"),
            transport=httpx.MockTransport(router.async_handler),
            clock=clock,
            limiter=limiter,
        )

    async with make() as first, make() as second:
        await asyncio.gather(*(client.get_project("p1") for client in (first, second, first, second)))

    assert sorted(sent_at) == [0.0, 0.0, TIER_WINDOW, TIER_WINDOW]


def test_limiter_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowLimiter(0)
