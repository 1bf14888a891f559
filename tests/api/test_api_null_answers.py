"""Answers shaped as the live service sends them, which the reference leaves open: `null` for fields without a
value, and list answers as bare arrays. Each must parse to the same values as the documented shape, so a
wait or a status view does not fail on a real tenant where it passes on the emulator."""

from __future__ import annotations

import httpx
import pytest
import respx

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock

pytestmark = pytest.mark.anyio
TENANT = "https://acme.eu.qlikcloud.com"


def client_answering(method: str, path: str, body: object) -> QlikClient:
    router = respx.MockRouter(base_url=TENANT)
    router.route(method=method, path=path).mock(return_value=httpx.Response(200, json=body))
    return QlikClient(
        TENANT,
        auth=ApiKeyAuth("test-api-key-0123456789"),
        transport=httpx.MockTransport(router.async_handler),
        clock=ManualClock(),
    )


async def test_a_finished_prepare_with_null_details_start_and_error_parses() -> None:
    # The body of qlik.dev's "Deploy a data integration project" tutorial, step 8.
    body = {
        "name": "Prepare project",
        "type": "PROJECT_PREPARE",
        "state": "COMPLETED",
        "taskDetails": None,
        "startTime": None,
        "endTime": "2025-03-04T10:00:00Z",
        "error": None,
        "taskProgress": {"failed": None, "pending": 0, "completed": 3},
    }
    async with client_answering("GET", "/api/v1/di-projects/actions/a1", body) as client:
        action = await client.get_action("a1")
    assert action.state == "COMPLETED"
    assert action.task_details == [] and action.error is None and action.start_time is None
    assert action.task_progress is not None
    assert (action.task_progress.failed, action.task_progress.completed) == (0, 3)


async def test_a_last_run_with_null_errors_parses_to_no_errors() -> None:
    body = {"name": "ERP LANDING", "lastRun": {"state": "COMPLETED", "errors": None}, "runReadiness": None}
    async with client_answering("GET", "/api/v1/di-projects/p1/di-tasks/t1/runtime/state", body) as client:
        state = await client.get_task_state("p1", "t1")
    assert state.last_run is not None and state.last_run.errors == []
    assert state.run_readiness is None


async def test_bindings_with_a_null_name_map_parse_to_an_empty_map() -> None:
    body = {"variables": {"projectName": "C360"}, "nameToIdMap": None}
    async with client_answering("GET", "/api/v1/di-projects/p1/bindings", body) as client:
        bindings = await client.get_bindings("p1")
    assert bindings.variables == {"projectName": "C360"} and bindings.name_to_id_map == {}


async def test_projects_as_a_bare_array_parse_like_the_documented_envelope() -> None:
    items = [{"id": "p1", "name": "Customer 360"}, {"id": "p2", "name": "Orders"}]
    async with client_answering("GET", "/api/v1/di-projects", items) as client:
        bare = await client.list_projects()
    async with client_answering("GET", "/api/v1/di-projects", {"projects": items}) as client:
        wrapped = await client.list_projects()
    assert [p.name for p in bare] == ["Customer 360", "Orders"]
    assert bare == wrapped


async def test_tasks_as_a_bare_array_or_null_parse() -> None:
    async with client_answering("GET", "/api/v1/di-projects/p1/di-tasks", [{"id": "t1", "name": "LANDING"}]) as client:
        tasks = await client.list_tasks("p1")
    async with client_answering("GET", "/api/v1/di-projects/p1/di-tasks", {"dataTasks": None}) as client:
        none = await client.list_tasks("p1")
    assert [t.id for t in tasks] == ["t1"]
    assert none == []
