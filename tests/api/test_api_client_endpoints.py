"""Every QlikClient method: the request it sends, how it reads the answer, and its 404/400 errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import (
    ENDPOINTS,
    USER_AGENT,
    Action,
    ActionRef,
    ApiKeyAuth,
    BadRequestError,
    Bindings,
    CreateProjectRequest,
    DatasetState,
    DataTask,
    NotFoundError,
    Project,
    QlikClient,
    ReloadResult,
    TaskRuntimeState,
)

TENANT = "https://acme.eu.qlikcloud.com"
API_KEY = "test-api-key-0123456789"

Call = Callable[[QlikClient], Awaitable[Any]]


def make_client(router: respx.MockRouter) -> QlikClient:
    return respx_client(router, tenant=TENANT, auth=ApiKeyAuth(API_KEY))


@dataclass
class Case:
    operation: str
    call: Call
    path: str
    response: httpx.Response
    check: Callable[[Any], None]
    body: Any = None  # the JSON body expected on the wire; None means no body at all
    query: dict[str, str] = field(default_factory=dict)


def _action_ref(result: Any) -> None:
    assert isinstance(result, ActionRef)
    assert result.action_id == "act-1"


ACTION_CREATED = httpx.Response(202, json={"actionId": "act-1"})
P = "/api/v1/di-projects/p1"
T = P + "/di-tasks/t1"


def _check_projects(result: Any) -> None:
    assert [type(p) for p in result] == [Project, Project]
    assert [p.id for p in result] == ["p1", "p2"]
    assert result[0].owner_id == "u1" and result[0].space_id == "s1"


def _check_created(result: Any) -> None:
    assert isinstance(result, Project)
    assert (result.id, result.name, result.space_id) == ("p9", "Churn", "space-456")


def _check_project(result: Any) -> None:
    assert isinstance(result, Project)
    assert (result.id, result.description) == ("p1", "demo")


def _check_bindings(result: Any) -> None:
    assert isinstance(result, Bindings)
    assert result.variables == {"SOURCE_DB": "prod"}
    assert result.name_to_id_map == {"SOURCE_DB": "var-1"}


def _check_tasks(result: Any) -> None:
    assert all(isinstance(task, DataTask) for task in result)
    assert [(task.id, task.type) for task in result] == [("t1", "LANDING"), ("t2", "STORAGE")]


def _check_task(result: Any) -> None:
    assert isinstance(result, DataTask)
    assert (result.id, result.name, result.type, result.owner_id) == ("t1", "Land", "LANDING", "u1")


def _check_state(result: Any) -> None:
    assert isinstance(result, TaskRuntimeState)
    assert result.last_run is not None and result.last_run.state == "RUNNING"
    assert result.last_run.full_load is not None and result.last_run.full_load.completed_count == 3
    assert result.run_readiness is not None and result.run_readiness.state == "ALREADY_RUNNING"


def _check_datasets(result: Any) -> None:
    assert [type(d) for d in result] == [DatasetState]
    assert result[0].dataset_id == "d1" and result[0].data_readiness == "READY"
    assert result[0].full_load is not None and result[0].full_load.state == "COMPLETED"


def _check_action(result: Any) -> None:
    assert isinstance(result, Action)
    assert (result.state, result.type) == ("EXECUTING", "PROJECT_PREPARE")
    assert result.task_progress is not None and result.task_progress.executing == 1
    assert result.task_details[0].task_id == "t1"


def _check_reload(result: Any) -> None:
    assert isinstance(result, ReloadResult) and result.success is True


def _check_none(result: Any) -> None:
    assert result is None


def _check_import(result: Any) -> None:
    assert result == {"imported": True}


def _check_update(result: Any) -> None:
    assert result == {}


RUN_SEARCH_EXAMPLE = {
    "runs": [
        {
            "runId": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
            "status": "STARTING",
            "endTime": "2024-03-01T09:30:00Z",
            "duration": "00:30:00",
            "startTime": "2024-03-01T09:00:00Z",
            "subStatus": "string",
            "errorMessage": "",
            "datasetsCount": 10,
            "originSubStatus": "string",
            "datasetsErrorCount": 0,
        }
    ],
    "lastId": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
    "nextPageExists": True,
}


def _check_run_page(page: Any) -> None:
    assert page.next_page_exists is True and page.last_id == "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a"
    (run,) = page.runs
    assert (run.run_id, run.status, run.duration, run.datasets_count) == (page.last_id, "STARTING", "00:30:00", 10)
    assert (run.sub_status, run.origin_sub_status, run.error_message) == ("string", "string", "")


CASES = [
    Case(
        "list_projects",
        lambda c: c.list_projects(space_id="s1"),
        "/api/v1/di-projects",
        httpx.Response(
            200,
            json={
                "projects": [
                    {"id": "p1", "name": "One", "ownerId": "u1", "spaceId": "s1"},
                    {"id": "p2", "name": "Two"},
                ]
            },
        ),
        _check_projects,
        query={"spaceId": "s1"},
    ),
    Case(
        "create_project",
        lambda c: c.create_project(
            CreateProjectRequest(
                name="Churn",
                type="DATA_PIPELINE",
                space="space-456",
                platform_type="SNOWFLAKE",
                platform_connection="conn",
                cloud_staging_connection="stage",
            )
        ),
        "/api/v1/di-projects",
        httpx.Response(201, json={"id": "p9", "name": "Churn", "spaceId": "space-456"}),
        _check_created,
        body={
            "name": "Churn",
            "type": "DATA_PIPELINE",
            "space": "space-456",
            "platformType": "SNOWFLAKE",
            "platformConnection": "conn",
            "cloudStagingConnection": "stage",
        },
    ),
    Case(
        "get_project",
        lambda c: c.get_project("p1"),
        P,
        httpx.Response(200, json={"id": "p1", "description": "demo"}),
        _check_project,
    ),
    Case(
        "prepare_project",
        lambda c: c.prepare_project("p1", allow_recreate=True, selected_task_ids=["t1", "t2"]),
        P + "/actions/prepare",
        ACTION_CREATED,
        _action_ref,
        body={"allowRecreate": True, "selectedTasks": [{"taskId": "t1"}, {"taskId": "t2"}]},
    ),
    Case(
        "validate_project",
        lambda c: c.validate_project("p1", selected_task_ids=["t2"]),
        P + "/actions/validate",
        ACTION_CREATED,
        _action_ref,
        body={"selectedTasks": [{"taskId": "t2"}]},
    ),
    Case(
        "get_bindings",
        lambda c: c.get_bindings("p1", recalculate=True),
        P + "/bindings",
        httpx.Response(200, json={"variables": {"SOURCE_DB": "prod"}, "nameToIdMap": {"SOURCE_DB": "var-1"}}),
        _check_bindings,
        query={"recalculate": "true"},
    ),
    Case(
        "update_bindings",
        lambda c: c.update_bindings("p1", {"SOURCE_DB": "test"}),
        P + "/bindings",
        httpx.Response(200, json={}),
        _check_update,
        body={"variables": {"SOURCE_DB": "test"}},
    ),
    Case(
        "list_tasks",
        lambda c: c.list_tasks("p1"),
        P + "/di-tasks",
        httpx.Response(200, json={"dataTasks": [{"id": "t1", "type": "LANDING"}, {"id": "t2", "type": "STORAGE"}]}),
        _check_tasks,
    ),
    Case(
        "get_task",
        lambda c: c.get_task("p1", "t1"),
        T,
        httpx.Response(200, json={"id": "t1", "name": "Land", "type": "LANDING", "ownerId": "u1"}),
        _check_task,
    ),
    Case(
        "prepare_task",
        lambda c: c.prepare_task("p1", "t1", allow_recreate=True),
        T + "/actions/prepare",
        ACTION_CREATED,
        _action_ref,
        body={"allowRecreate": True},
    ),
    Case(
        "recreate_task_datasets",
        lambda c: c.recreate_task_datasets("p1", "t1"),
        T + "/actions/recreate-datasets",
        ACTION_CREATED,
        _action_ref,
        body={},
    ),
    Case(
        "request_task_reload",
        lambda c: c.request_task_reload("p1", "t1", reload_strategy="TRUNCATE", dataset_ids=["d1", "d2"]),
        T + "/actions/request-reload",
        httpx.Response(200, json={"success": True}),
        _check_reload,
        body={"reloadStrategy": "TRUNCATE", "selectedDatasets": [{"datasetId": "d1"}, {"datasetId": "d2"}]},
    ),
    Case(
        "validate_task",
        lambda c: c.validate_task("p1", "t1"),
        T + "/actions/validate",
        ACTION_CREATED,
        _action_ref,
        body={},
    ),
    Case(
        "start_task",
        lambda c: c.start_task(
            "p1", "t1", option="PROCESS_CHANGES_FROM_TIMESTAMP", process_changes_from="2024-01-01T00:00:00Z"
        ),
        T + "/runtime/actions/start",
        httpx.Response(204),
        _check_none,
        body={"option": "PROCESS_CHANGES_FROM_TIMESTAMP", "processChangesFrom": "2024-01-01T00:00:00Z"},
    ),
    Case(
        "stop_task",
        lambda c: c.stop_task("p1", "t1"),
        T + "/runtime/actions/stop",
        httpx.Response(204),
        _check_none,
    ),
    Case(
        "get_task_state",
        lambda c: c.get_task_state("p1", "t1"),
        T + "/runtime/state",
        httpx.Response(
            200,
            json={
                "name": "Land",
                "type": "LANDING",
                "lastRun": {"state": "RUNNING", "fullLoad": {"completedCount": 3}},
                "runReadiness": {"state": "ALREADY_RUNNING"},
            },
        ),
        _check_state,
    ),
    Case(
        "get_task_datasets_state",
        lambda c: c.get_task_datasets_state("p1", "t1"),
        T + "/runtime/state/datasets",
        httpx.Response(
            200,
            json={"datasets": [{"datasetId": "d1", "dataReadiness": "READY", "fullLoad": {"state": "COMPLETED"}}]},
        ),
        _check_datasets,
    ),
    Case(
        "get_action",
        lambda c: c.get_action("act-1", detailed=True),
        "/api/v1/di-projects/actions/act-1",
        httpx.Response(
            200,
            json={
                "type": "PROJECT_PREPARE",
                "state": "EXECUTING",
                "taskDetails": [{"taskId": "t1", "state": "EXECUTING"}],
                "taskProgress": {"executing": 1, "pending": 2},
            },
        ),
        _check_action,
        query={"detailed": "true"},
    ),
    Case(
        "export_project",
        lambda c: c.export_project("p1", mode="ALL", include_bindings=True),
        P + "/actions/export",
        httpx.Response(200, content=b"PK\x03\x04zip-bytes", headers={"Content-Type": "application/octet-stream"}),
        lambda result: _assert_equal(result, b"PK\x03\x04zip-bytes"),
        body={"mode": "ALL", "includeBindings": True},
    ),
    Case(
        "import_project",
        lambda c: c.import_project("p1", b"PK\x03\x04zip", filename="churn.zip"),
        P + "/actions/import",
        httpx.Response(200, json={"imported": True}),
        _check_import,
        body="multipart",
    ),
    # issue 14, imports: today's reference examples
    Case(
        "import_project_async",
        lambda c: c.import_project_async("p1", b"PK\x03\x04zip", filename="churn.zip"),
        P + "/actions/import-async",
        httpx.Response(202, json={"actionId": "act-1"}),
        _action_ref,
        body="multipart",
    ),
    Case(
        "validate_project_definitions",
        lambda c: c.validate_project_definitions(b"PK\x03\x04zip", filename="churn.zip"),
        "/api/v1/di-projects/utils/actions/validate-project-definitions",
        httpx.Response(200, json={"reports": [{"path": "string", "level": "WARNING", "reason": "string"}]}),
        lambda result: _assert_equal([(r.path, r.level, r.reason) for r in result], [("string", "WARNING", "string")]),
        body="multipart",
    ),
    # run history (issue 14): the reference's own example request and answer
    Case(
        "list_task_runs",
        lambda c: c.list_task_runs(
            "p1",
            "t1",
            limit=50,
            last_id="caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
            filters=[
                {"field": "STATUS", "operator": "IN", "value": ["COMPLETED", "FAILED"]},
                {"field": "PERIOD", "operator": "BETWEEN", "value": ["2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z"]},
            ],
        ),
        T + "/runtime/runs/actions/search",
        httpx.Response(200, json=RUN_SEARCH_EXAMPLE),
        lambda page: _check_run_page(page),
        body={
            "limit": 50,
            "lastId": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
            "filters": [
                {"field": "STATUS", "operator": "IN", "value": ["COMPLETED", "FAILED"]},
                {"field": "PERIOD", "operator": "BETWEEN", "value": ["2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z"]},
            ],
        },
    ),
    Case(
        "get_task_run",
        lambda c: c.get_task_run("p1", "t1", "r1"),
        T + "/runtime/runs/r1/state",
        httpx.Response(
            200,
            json={
                "name": "Land",
                "lastRun": {"state": "RUNNING", "fullLoad": {"completedCount": 3}},
                "runReadiness": {"state": "ALREADY_RUNNING"},
            },
        ),
        _check_state,
    ),
    Case(
        "get_task_run_datasets",
        lambda c: c.get_task_run_datasets("p1", "t1", "r1"),
        T + "/runtime/runs/r1/state/datasets",
        httpx.Response(
            200, json={"datasets": [{"datasetId": "d1", "dataReadiness": "READY", "fullLoad": {"state": "COMPLETED"}}]}
        ),
        _check_datasets,
    ),
    Case(
        "list_spaces",
        lambda c: c.list_spaces(name="dev", type="data", limit=2, next="c1"),
        "/api/v1/spaces",
        httpx.Response(
            200,
            json={
                "data": [{"id": "62716f4b39b865ece543cd45", "name": "DEV_SPACE", "type": "data", "tenantId": "t"}],
                "links": {
                    "self": {"href": TENANT + "/api/v1/spaces?limit=2"},
                    "next": {"href": TENANT + "/api/v1/spaces?limit=2&next=c2"},
                },
                "meta": {"count": 3},
            },
        ),
        lambda page: _assert_equal(([s.name for s in page.spaces], page.next_cursor), (["DEV_SPACE"], "c2")),
        query={"name": "dev", "type": "data", "limit": "2", "next": "c1"},
    ),
    Case(
        "list_connections",
        lambda c: c.list_data_connections(space_id="s1", limit=5, next="pg1"),
        "/api/v1/data-connections",
        httpx.Response(
            200,
            json={
                "data": [{"qID": "c1", "qName": "MySQL_DEV", "qType": "repsrc_mysql", "space": "s1"}],
                "links": {"self": {"href": "x"}},
            },
        ),
        lambda page: _assert_equal(
            ([(c.id, c.name, c.type, c.space_id) for c in page.connections], page.next_cursor),
            ([("c1", "MySQL_DEV", "repsrc_mysql", "s1")], None),
        ),
        query={"spaceId": "s1", "limit": "5", "page": "pg1"},
    ),
]


def _assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected


def test_cases_cover_every_endpoint() -> None:
    assert sorted(case.operation for case in CASES) == sorted(ENDPOINTS)


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.operation)
async def test_method_sends_documented_request_and_parses_answer(case: Case) -> None:
    router = respx.MockRouter(base_url=TENANT)
    endpoint = ENDPOINTS[case.operation]
    route = router.route(method=endpoint.method, path=case.path).mock(return_value=case.response)

    async with make_client(router) as client:
        result = await case.call(client)

    case.check(result)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == endpoint.method
    assert request.url.path == case.path
    assert dict(request.url.params) == case.query
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"] == USER_AGENT
    if case.body is None:
        assert request.content == b""
    elif case.body == "multipart":
        assert request.headers["Content-Type"].startswith("multipart/form-data")
        assert b'name="zip"; filename="churn.zip"' in request.content
        assert b"PK\x03\x04zip" in request.content
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == case.body


def _envelope(status: int, code: str, detail: str) -> httpx.Response:
    title = "Not Found" if status == 404 else "Bad Request"
    return httpx.Response(
        status,
        json={
            "errors": [{"code": code, "title": title, "detail": detail, "status": status}],
            "traceId": "t-1",
        },
    )


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.operation)
async def test_method_raises_not_found_with_envelope_details(case: Case) -> None:
    router = respx.MockRouter(base_url=TENANT)
    endpoint = ENDPOINTS[case.operation]
    route = router.route(method=endpoint.method, path=case.path).mock(
        return_value=_envelope(404, "HTTP-404", "no such thing here")
    )

    async with make_client(router) as client:
        with pytest.raises(NotFoundError) as caught:
            await case.call(client)

    error = caught.value
    assert (error.status, error.code, error.trace_id) == (404, "HTTP-404", "t-1")
    assert (error.method, error.path) == (endpoint.method, case.path)
    assert str(error) == f"{endpoint.method} {case.path} → 404 Not Found: no such thing here (traceId t-1)"
    assert error.retryable is False
    assert route.call_count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.operation)
async def test_method_raises_bad_request_with_envelope_details(case: Case) -> None:
    router = respx.MockRouter(base_url=TENANT)
    endpoint = ENDPOINTS[case.operation]
    route = router.route(method=endpoint.method, path=case.path).mock(
        return_value=_envelope(400, "HTTP-400", "field is invalid")
    )

    async with make_client(router) as client:
        with pytest.raises(BadRequestError) as caught:
            await case.call(client)

    error = caught.value
    assert (error.status, error.code, error.trace_id) == (400, "HTTP-400", "t-1")
    assert error.errors[0].detail == "field is invalid"
    assert "400 Bad Request: field is invalid (traceId t-1)" in str(error)
    assert route.call_count == 1
