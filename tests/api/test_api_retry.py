"""Retries: what is repeated, how long we wait, and when a write's outcome is reported unknown."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import (
    BadRequestError,
    OutcomeUnknownError,
    QlikClient,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from qdi_mcp.api.retry import parse_retry_after
from qdi_mcp.clock import ManualClock

TENANT = "https://acme.eu.qlikcloud.com"
PROJECT = "/api/v1/di-projects/p1"
START = PROJECT + "/di-tasks/t1/runtime/actions/start"
OK_PROJECT = httpx.Response(200, json={"id": "p1"})


def make_client(router: respx.MockRouter, clock: ManualClock, retry: RetryPolicy | None = None) -> QlikClient:
    return respx_client(router, tenant=TENANT, clock=clock, retry=retry)


@pytest.mark.anyio
async def test_get_honours_retry_after_seconds_on_429() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), OK_PROJECT])

    async with make_client(router, clock) as client:
        project = await client.get_project("p1")

    assert project.id == "p1"
    assert route.call_count == 2
    assert clock.sleeps == [7.0]


@pytest.mark.anyio
async def test_get_honours_retry_after_http_date_on_429() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    retry_at = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    route = router.get(PROJECT).mock(side_effect=[httpx.Response(429, headers={"Retry-After": retry_at}), OK_PROJECT])

    async with make_client(router, clock, RetryPolicy(jitter=False, max_total=60)) as client:
        await client.get_project("p1")

    assert route.call_count == 2
    assert len(clock.sleeps) == 1
    # the date has one-second resolution, so the wait is a little under 20 s
    assert 15 < clock.sleeps[0] <= 20


@pytest.mark.anyio
async def test_get_retries_503_then_succeeds() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(side_effect=[httpx.Response(503), OK_PROJECT])

    async with make_client(router, clock) as client:
        project = await client.get_project("p1")

    assert project.id == "p1"
    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")],
    ids=type,
)
async def test_get_retried_on_connection_failures(failure: Exception) -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(side_effect=[failure, OK_PROJECT])

    async with make_client(router, clock) as client:
        project = await client.get_project("p1")

    assert project.id == "p1"
    assert route.call_count == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("peer closed"), httpx.ReadError("reset")],
    ids=type,
)
async def test_post_not_retried_after_request_may_have_arrived(failure: Exception) -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(START).mock(side_effect=[failure, httpx.Response(204)])

    async with make_client(router, clock) as client:
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.start_task("p1", "t1")

    assert route.call_count == 1
    assert clock.sleeps == []
    error = caught.value
    assert "outcome is unknown" in str(error)
    assert (error.method, error.path, error.status, error.retryable) == ("POST", START, None, False)


@pytest.mark.anyio
async def test_post_5xx_is_outcome_unknown_and_keeps_status() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(START).mock(
        return_value=httpx.Response(503, json={"errors": [{"code": "HTTP-503", "title": "busy"}], "traceId": "t-9"})
    )

    async with make_client(router, ManualClock()) as client:
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.start_task("p1", "t1")

    assert route.call_count == 1
    assert (caught.value.status, caught.value.trace_id, caught.value.code) == (503, "t-9", "HTTP-503")
    assert "outcome is unknown" in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("full")],
    ids=type,
)
async def test_post_retried_when_request_never_left(failure: Exception) -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(START).mock(side_effect=[failure, httpx.Response(204)])

    async with make_client(router, clock) as client:
        await client.start_task("p1", "t1")

    assert route.call_count == 2
    assert clock.sleeps == [0.5]


@pytest.mark.anyio
async def test_post_retried_after_429() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(START).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(204)]
    )

    async with make_client(router, clock) as client:
        await client.start_task("p1", "t1")

    assert route.call_count == 2
    assert clock.sleeps == [2.0]


@pytest.mark.anyio
async def test_get_gives_up_after_max_attempts_with_exponential_backoff() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(return_value=httpx.Response(503))

    async with make_client(router, clock) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_project("p1")

    assert route.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert caught.value.status == 503 and caught.value.retryable is True


@pytest.mark.anyio
async def test_backoff_is_capped_at_max_delay() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(return_value=httpx.Response(502))
    policy = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=4.0, max_total=100.0, jitter=False)

    async with make_client(router, clock, policy) as client:
        with pytest.raises(ServerError):
            await client.get_project("p1")

    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]


@pytest.mark.anyio
async def test_connect_errors_exhaust_attempts_into_retryable_transport_error() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(side_effect=httpx.ConnectError("refused"))

    async with make_client(router, clock, RetryPolicy(max_attempts=3, jitter=False)) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_project("p1")

    assert route.call_count == 3
    assert caught.value.retryable is True
    assert "ConnectError" in str(caught.value)


@pytest.mark.anyio
async def test_retry_after_beyond_total_budget_fails_at_once() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(return_value=httpx.Response(429, headers={"Retry-After": "100"}))

    async with make_client(router, clock) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_project("p1")

    assert route.call_count == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 100.0 and caught.value.retryable is True


@pytest.mark.anyio
async def test_total_retry_time_is_bounded() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(return_value=httpx.Response(429, headers={"Retry-After": "12"}))

    async with make_client(router, clock, RetryPolicy(max_attempts=10, max_total=30.0, jitter=False)) as client:
        with pytest.raises(RateLimitedError):
            await client.get_project("p1")

    # 12 + 12 fits in 30 s, a third wait would not
    assert clock.sleeps == [12.0, 12.0]
    assert route.call_count == 3


@pytest.mark.anyio
async def test_client_errors_are_not_retried() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(return_value=httpx.Response(400, json={"errors": []}))

    async with make_client(router, ManualClock()) as client:
        with pytest.raises(BadRequestError):
            await client.get_project("p1")

    assert route.call_count == 1


def test_jittered_backoff_stays_between_half_and_full_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(7)
    for retry_number, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [policy.backoff(retry_number, rng) for _ in range(50)]
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(set(delays)) > 1


def test_retry_policy_refuses_zero_attempts() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected
