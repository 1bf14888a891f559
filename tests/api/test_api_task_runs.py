"""Run history in the client: Qlik's documented errors (404, 410, 413, 429 with Retry-After) and filters that are
refused before any request. The happy paths are in test_api_client_endpoints.py."""

from __future__ import annotations

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import ApiKeyAuth, ApiStatusError, NotFoundError, QlikClient
from qdi_mcp.api.errors import GoneError
from qdi_mcp.clock import ManualClock

TENANT = "https://acme.eu.qlikcloud.com"
RUNS = "/api/v1/di-projects/p1/di-tasks/t1/runtime/runs"

pytestmark = pytest.mark.anyio


def make_client(router: respx.MockRouter, clock: ManualClock) -> QlikClient:
    return respx_client(router, tenant=TENANT, auth=ApiKeyAuth("test-api-key-0123456789"), clock=clock)


def qlik_error(status: int, title: str, detail: str) -> httpx.Response:
    body = {"errors": [{"code": f"HTTP-{status}", "title": title, "detail": detail, "status": status}], "traceId": "tr"}
    return httpx.Response(status, json=body)


async def test_a_purged_run_raises_gone_with_qliks_wording() -> None:
    router = respx.MockRouter(base_url=TENANT)
    detail = "Gone — the dataset state for this run has been purged due to retention policy."
    router.get(f"{RUNS}/r1/state/datasets").mock(return_value=qlik_error(410, "Gone", detail))
    async with make_client(router, ManualClock()) as client:
        with pytest.raises(GoneError) as caught:
            await client.get_task_run_datasets("p1", "t1", "r1")
    assert caught.value.status == 410 and caught.value.errors[0].detail == detail
    assert caught.value.retryable is False


async def test_a_too_large_run_raises_a_413_status_error_without_retrying() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(f"{RUNS}/r1/state/datasets").mock(
        return_value=qlik_error(413, "Payload Too Large", "the dataset state for this run exceeds the size limit")
    )
    async with make_client(router, ManualClock()) as client:
        with pytest.raises(ApiStatusError) as caught:
            await client.get_task_run_datasets("p1", "t1", "r1")
    assert caught.value.status == 413 and route.call_count == 1


async def test_an_unknown_run_raises_not_found() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get(f"{RUNS}/nope/state").mock(return_value=qlik_error(404, "Not Found", "Task run not found."))
    async with make_client(router, ManualClock()) as client:
        with pytest.raises(NotFoundError):
            await client.get_task_run("p1", "t1", "nope")


async def test_search_waits_as_retry_after_says_on_429() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(f"{RUNS}/actions/search").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "9"}),
            httpx.Response(200, json={"runs": [], "nextPageExists": False}),
        ]
    )
    async with make_client(router, clock) as client:
        page = await client.list_task_runs("p1", "t1")
    assert page.runs == [] and page.next_page_exists is False
    assert route.call_count == 2 and clock.sleeps == [9.0]
    assert route.calls.last.request.content == b"{}"  # nothing set, nothing sent


@pytest.mark.parametrize(
    ("filters", "limit"),
    [
        ([{"field": "STATUS", "operator": "BETWEEN", "value": ["a", "b"]}], None),
        ([{"field": "PERIOD", "operator": "BETWEEN", "value": ["2024-03-01T00:00:00Z"]}], None),
        ([{"field": "PERIOD", "operator": "IN", "value": ["2024-03-01T00:00:00Z"]}], None),
        ([{"field": "OWNER", "operator": "IN", "value": ["x"]}], None),
        ([{"field": "STATUS", "operator": "IN", "value": []}], None),
        (None, 0),
    ],
)
async def test_a_malformed_search_is_refused_before_any_request(filters: list | None, limit: int | None) -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(f"{RUNS}/actions/search").mock(return_value=httpx.Response(200, json={}))
    async with make_client(router, ManualClock()) as client:
        with pytest.raises(ValueError):
            await client.list_task_runs("p1", "t1", filters=filters, limit=limit)
    assert route.call_count == 0
