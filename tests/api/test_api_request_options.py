"""Optional arguments: what is omitted by default, and invalid values refused before sending."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import ApiKeyAuth, QlikClient, Timeouts

TENANT = "https://acme.eu.qlikcloud.com"
T = "/api/v1/di-projects/p1/di-tasks/t1"


def make_client(router: respx.MockRouter) -> QlikClient:
    return respx_client(router, tenant=TENANT)


def _answer(request: httpx.Request) -> httpx.Response:
    if request.method == "GET":
        return httpx.Response(200, json={})
    if request.url.path.endswith(("/start", "/stop")):
        return httpx.Response(204)
    if request.url.path.endswith("/request-reload"):
        return httpx.Response(200, json={"success": True})
    return httpx.Response(202, json={"actionId": "a1"})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "query", "body"),
    [
        (lambda c: c.list_projects(), {}, None),
        (lambda c: c.get_bindings("p1"), {}, None),
        (lambda c: c.get_action("a1"), {}, None),
        (lambda c: c.prepare_project("p1"), {}, {"allowRecreate": False}),
        (
            lambda c: c.prepare_project("p1", selected_task_ids=[]),
            {},
            {"allowRecreate": False, "selectedTasks": []},
        ),
        (lambda c: c.validate_project("p1"), {}, {}),
        (lambda c: c.prepare_task("p1", "t1"), {}, {"allowRecreate": False}),
        (lambda c: c.request_task_reload("p1", "t1"), {}, {}),
        (lambda c: c.request_task_reload("p1", "t1", reload_strategy="NONE"), {}, {"reloadStrategy": "NONE"}),
        (lambda c: c.start_task("p1", "t1"), {}, {}),
    ],
    ids=[
        "list_projects",
        "get_bindings",
        "get_action",
        "prepare_project",
        "prepare_project_empty_selection",
        "validate_project",
        "prepare_task",
        "request_task_reload",
        "request_task_reload_strategy_only",
        "start_task",
    ],
)
async def test_defaults_omit_optional_fields(
    call: Callable[[QlikClient], Awaitable[Any]], query: dict[str, str], body: dict[str, Any] | None
) -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.route().mock(side_effect=_answer)

    async with make_client(router) as client:
        await call(client)

    request = route.calls.last.request
    assert dict(request.url.params) == query
    if body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.request_task_reload("p1", "t1", reload_strategy="DROP_ALL"), "reload_strategy"),
        (lambda c: c.start_task("p1", "t1", option="FROM_SCRATCH"), "option"),
        (lambda c: c.update_bindings("p1", ["not", "a", "mapping"]), "variables"),
    ],
    ids=["reload_strategy", "start_option", "bindings_variables"],
)
async def test_invalid_options_are_refused_before_sending(
    call: Callable[[QlikClient], Awaitable[Any]], field: str
) -> None:
    router = respx.MockRouter(base_url=TENANT, assert_all_called=False)
    route = router.route().mock(side_effect=_answer)

    async with make_client(router) as client:
        with pytest.raises(ValueError, match=field):
            await call(client)

    assert route.call_count == 0


@pytest.mark.anyio
async def test_stop_sends_no_body() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(T + "/runtime/actions/stop").mock(return_value=httpx.Response(204))

    async with make_client(router) as client:
        assert await client.stop_task("p1", "t1") is None

    request = route.calls.last.request
    assert request.content == b"" and "Content-Type" not in request.headers


@pytest.mark.anyio
async def test_timeouts_reach_every_request() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get("/api/v1/di-projects").mock(return_value=httpx.Response(200, json={}))
    client = QlikClient(
        TENANT,
        auth=ApiKeyAuth("key"),
        transport=httpx.MockTransport(router.async_handler),
        timeout=Timeouts(connect=1.0, read=2.0, write=3.0, pool=4.0),
    )

    async with client:
        await client.list_projects()

    assert route.calls.last.request.extensions["timeout"] == {
        "connect": 1.0,
        "read": 2.0,
        "write": 3.0,
        "pool": 4.0,
    }


def test_default_timeouts() -> None:
    assert Timeouts() == Timeouts(connect=5.0, read=30.0, write=30.0, pool=5.0)
