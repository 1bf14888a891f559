"""Path parameters stay inside their segment (the table itself is checked against the API reference in
tests/test_endpoint_table.py)."""

from __future__ import annotations

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import QlikClient

TENANT = "https://acme.eu.qlikcloud.com"


def make_client(router: respx.MockRouter) -> QlikClient:
    return respx_client(router, tenant=TENANT)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("project_id", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("../users", "..%2Fusers"),
        ("%2F", "%252F"),
        ("p?admin=1", "p%3Fadmin%3D1"),
        ("p#frag", "p%23frag"),
        ("p 1", "p%201"),
        ("ünï", "%C3%BCn%C3%AF"),
    ],
)
async def test_project_id_is_encoded_into_one_segment(project_id: str, encoded: str) -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(path__regex=r".*").mock(return_value=httpx.Response(200, json={"dataTasks": []}))

    async with make_client(router) as client:
        await client.list_tasks(project_id)

    request = route.calls.last.request
    assert request.url.raw_path == f"/api/v1/di-projects/{encoded}/di-tasks".encode()
    assert request.url.host == "acme.eu.qlikcloud.com"
    assert request.url.query == b""


@pytest.mark.anyio
async def test_task_and_action_ids_are_encoded_too() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(path__regex=r".*").mock(return_value=httpx.Response(200, json={}))

    async with make_client(router) as client:
        await client.get_task("..", "../../users")
        await client.get_action("a/b?c")

    raw_paths = [call.request.url.raw_path for call in route.calls]
    assert raw_paths == [
        b"/api/v1/di-projects/%2E%2E/di-tasks/..%2F..%2Fusers",
        b"/api/v1/di-projects/actions/a%2Fb%3Fc",
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("bad_id", ["", "   "])
async def test_empty_ids_are_refused_before_any_request(bad_id: str) -> None:
    router = respx.MockRouter(base_url=TENANT, assert_all_called=False)
    route = router.route().mock(return_value=httpx.Response(200, json={}))

    async with make_client(router) as client:
        with pytest.raises(ValueError, match="project_id"):
            await client.get_project(bad_id)
        with pytest.raises(ValueError, match="task_id"):
            await client.get_task_state("p1", bad_id)
        with pytest.raises(ValueError, match="action_id"):
            await client.get_action(bad_id)

    assert route.call_count == 0
