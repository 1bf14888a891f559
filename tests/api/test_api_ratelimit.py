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
# Tier limiters (what clients use) keep a one-second margin over Qlik's window: 60 s for runtime state...
TIER_WINDOW = TIER_WINDOW_SECONDS
# ... and 5 minutes for Tier 1 and Tier 2 ("evaluated over a 5-minute window", qlik.dev rate-limiting page).
FIVE_MINUTE_WINDOW = 5 * WINDOW + 1.0


def most_in_any_window(times: list[float], window: float = WINDOW) -> int:
    """The largest number of admissions less than `window` seconds apart, counted back from each one."""
    ordered = sorted(times)
    return max(sum(1 for other in ordered if other <= t and t - other < window) for t in ordered)


def test_tiers_have_qlik_documented_limits() -> None:
    assert RateTier.TIER1.requests_per_minute == 1000
    assert RateTier.TIER2.requests_per_minute == 100
    assert RateTier.RUNTIME_STATE.requests_per_minute == 120
    # Tier 1 and 2 are evaluated over 5 minutes (5x the per-minute count), runtime state per minute
    assert [tier.window_seconds for tier in RateTier] == [300.0, 300.0, 60.0]
    limiter = TierLimiter()
    assert [limiter.limit(tier) for tier in RateTier] == [5000, 500, 120]
    assert [limiter.window(tier) for tier in RateTier] == [FIVE_MINUTE_WINDOW, FIVE_MINUTE_WINDOW, TIER_WINDOW]


@pytest.mark.anyio
async def test_tier_never_admits_more_than_its_count_per_window_and_waiters_proceed() -> None:
    clock = ManualClock(start=0.0)
    limiter = TierLimiter(clock=clock)
    admitted_at: list[float] = []

    async def caller() -> None:
        await limiter.acquire(RateTier.TIER2)
        admitted_at.append(clock.monotonic())

    await asyncio.gather(*(caller() for _ in range(1250)))

    assert len(admitted_at) == 1250  # everybody got through: callers wait, they do not fail
    # a burst of up to 5 minutes' budget passes at once; then no more than 500 in any 5 minutes
    assert most_in_any_window(admitted_at, 5 * WINDOW) == 500
    assert sorted(admitted_at)[499] == 0.0
    assert sorted(admitted_at)[500] >= 5 * WINDOW
    assert sorted(admitted_at)[1000] >= 10 * WINDOW


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
    assert clock.monotonic() == pytest.approx(FIVE_MINUTE_WINDOW)


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

    assert sorted(sent_at) == [0.0, 0.0, FIVE_MINUTE_WINDOW, FIVE_MINUTE_WINDOW]


@pytest.mark.anyio
async def test_a_429_holds_every_call_of_its_tier_until_retry_after_and_no_other_tier() -> None:
    # qlik.dev rate-limiting page: "Calls to endpoints in the same tier are all blocked in the waiting period.
    # Calls to endpoints in other tiers are not restricted."
    clock = ManualClock(start=0.0)
    router = respx.MockRouter(base_url=TENANT)
    sent: list[tuple[str, float]] = []
    answers = iter(
        [
            httpx.Response(
                429,
                headers={"Retry-After": "13"},
                json={
                    "errors": [
                        {
                            "code": "HTTP-429",
                            "title": "API rate limit reached.",
                            "detail": "You need to wait 13 seconds until limit is lifted.",
                        }
                    ]
                },
            )
        ]
    )

    def record(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, clock.monotonic()))
        if request.url.path.endswith("/p1"):
            return next(answers, httpx.Response(200, json={"id": "p1"}))
        return httpx.Response(200, json={"id": "p2", "projects": []})

    router.route(path__regex=r".*").mock(side_effect=record)
    client = QlikClient(
        TENANT,
        auth=ApiKeyAuth("key"),
        transport=httpx.MockTransport(router.async_handler),
        clock=clock,
        retry=RetryPolicy(jitter=False),
    )
    async with client:
        await client.get_project("p1")  # 429, then retried after 13 s
        await client.export_project("p2")  # Tier 2: not held
        await client.get_project("p2")  # Tier 1, another endpoint: held until the wait is over

    assert sent[0] == ("/api/v1/di-projects/p1", 0.0)
    assert sent[1] == ("/api/v1/di-projects/p1", 13.0)
    assert sent[2:] == [("/api/v1/di-projects/p2/actions/export", 13.0), ("/api/v1/di-projects/p2", 13.0)]
    held = TierLimiter(clock=clock)
    await held.block(RateTier.TIER1, 10)
    await held.acquire(RateTier.TIER2)
    assert clock.monotonic() == 13.0  # another tier is not restricted
    await held.acquire(RateTier.TIER1)
    assert clock.monotonic() == 23.0


def test_limiter_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowLimiter(0)
