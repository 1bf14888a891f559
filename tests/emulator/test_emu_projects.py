"""Projects and tasks over HTTP: success shapes, auth, and error envelopes."""

from __future__ import annotations

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.emulator import Emulator

DEV_SPACE = "6650f0c1a2b3c4d5e6f7d001"


def assert_envelope(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"errors", "traceId"}
    assert body["traceId"] and response.headers["x-trace-id"] == body["traceId"]
    (error,) = body["errors"]
    assert error["status"] == status and error["code"] == f"HTTP-{status}"
    assert error["title"] and error["detail"]
    return error


@pytest.mark.anyio
async def test_list_projects_returns_the_demo_projects_in_todays_shape(emu: Emulator) -> None:
    async with client_for(emu) as http:
        response = await http.get(API)
    assert response.status_code == 200
    projects = response.json()["projects"]
    assert {p["name"] for p in projects} >= {"Customer 360", "Customer 360 (prod)", "Orders replication"}
    # DiProjectItemRsp of today's reference (stored doc 68598814407) adds type and platformType to the seed's
    for project in projects:
        assert set(project) == {"id", "name", "type", "ownerId", "spaceId", "description", "platformType"}
    orders = next(p for p in projects if p["name"] == "Orders replication")
    assert (orders["type"], orders["platformType"]) == ("DATA_MOVEMENT", "SNOWFLAKE")


@pytest.mark.anyio
async def test_list_projects_filters_by_space(emu: Emulator) -> None:
    async with client_for(emu) as http:
        everything = (await http.get(API)).json()["projects"]
        in_dev = (await http.get(API, params={"spaceId": DEV_SPACE})).json()["projects"]
    assert in_dev and len(in_dev) < len(everything)
    assert all(p["spaceId"] == DEV_SPACE for p in in_dev)


@pytest.mark.anyio
async def test_create_project_returns_201_and_the_project_is_listed(emu: Emulator) -> None:
    body = {
        "name": "Finance",
        "type": "DATA_PIPELINE",
        "space": DEV_SPACE,
        "description": "Ledger",
        "platformType": "SNOWFLAKE",
        "platformConnection": "DEV_SPACE.Snowflake_DEV",
    }
    async with client_for(emu) as http:
        created = await http.post(API, json=body)
        assert created.status_code == 201
        project = created.json()
        assert project["name"] == "Finance" and project["spaceId"] == DEV_SPACE
        assert project["description"] == "Ledger" and len(project["id"]) == 24
        fetched = await http.get(f"{API}/{project['id']}")
        bindings = (await http.get(f"{API}/{project['id']}/bindings")).json()
        tasks = (await http.get(f"{API}/{project['id']}/di-tasks")).json()
    assert fetched.json() == project
    assert bindings["variables"]["platformConnection"] == "{{id(connection, DEV_SPACE.Snowflake_DEV)}}"
    assert tasks == {"dataTasks": []}
    assert emu.counters["create_project"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"space": DEV_SPACE}, "/name"),
        ({"name": "  ", "space": DEV_SPACE}, "/name"),
        ({"name": "X"}, "/space"),
        ({"name": "X", "space": "nope"}, "/space"),
        ({"name": "X", "space": DEV_SPACE, "type": "LAKE"}, "/type"),
        ({"name": "X", "space": DEV_SPACE, "platformType": "ORACLE"}, "/platformType"),
        ({"name": "X", "space": DEV_SPACE, "platformConnection": "DEV_SPACE.Nope"}, "/platformConnection"),
        ({"name": "customer 360", "space": DEV_SPACE}, "/name"),
    ],
)
async def test_create_project_rejects_bad_fields_naming_them(emu: Emulator, body: dict, pointer: str) -> None:
    async with client_for(emu) as http:
        response = await http.post(API, json=body)
    error = assert_envelope(response, 400)
    assert error["source"] == {"pointer": pointer}
    assert emu.counters["create_project"] == 0


@pytest.mark.anyio
async def test_create_project_rejects_a_body_that_is_not_a_json_object(emu: Emulator) -> None:
    async with client_for(emu) as http:
        broken = await http.post(API, content=b"{name", headers={"content-type": "application/json"})
        array = await http.post(API, json=["Finance"])
    assert "not valid JSON" in assert_envelope(broken, 400)["detail"]
    assert "JSON object" in assert_envelope(array, 400)["detail"]


@pytest.mark.anyio
async def test_get_unknown_project_is_a_404_naming_it(emu: Emulator) -> None:
    async with client_for(emu) as http:
        response = await http.get(f"{API}/does-not-exist")
        tasks = await http.get(f"{API}/does-not-exist/di-tasks")
    assert "does-not-exist" in assert_envelope(response, 404)["detail"]
    assert "does-not-exist" in assert_envelope(tasks, 404)["detail"]


@pytest.mark.anyio
async def test_list_and_get_tasks_in_seed_shape(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        listed = (await http.get(f"{API}/{project_id}/di-tasks")).json()["dataTasks"]
        one = (await http.get(f"{API}/{project_id}/di-tasks/{listed[0]['id']}")).json()
    assert [t["name"] for t in listed][:2] == ["CRM LANDING", "ERP LANDING"]
    assert {t["type"] for t in listed} == {"LANDING", "STORAGE", "TRANSFORM", "DATAMART"}
    for task in listed:
        assert set(task) == {"id", "name", "type", "ownerId", "spaceId", "description"}
    assert one == listed[0]


@pytest.mark.anyio
async def test_unknown_task_is_a_404_naming_task_and_project(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        response = await http.get(f"{API}/{project_id}/di-tasks/ghost-0000")
    error = assert_envelope(response, 404)
    assert "ghost-0000" in error["detail"] and project_id in error["detail"]


@pytest.mark.anyio
@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_every_api_route_needs_the_bearer_key(emu: Emulator, key: str | None) -> None:
    async with client_for(emu, key=key) as http:
        responses = [
            await http.get(API),
            await http.post(API, json={"name": "X", "space": DEV_SPACE}),
            await http.get(f"{API}/actions/abc"),
            await http.get("/api/v1/not-a-route"),
        ]
    for response in responses:
        assert_envelope(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert emu.counters["create_project"] == 0


@pytest.mark.anyio
async def test_unknown_route_and_wrong_method_answer_in_the_envelope(emu: Emulator) -> None:
    async with client_for(emu) as http:
        unknown = await http.get("/api/v1/di-projects/x/y/z")
        outside = await http.get("/")
        wrong_method = await http.delete(API)
        trailing_slash = await http.get(API + "/")
    assert assert_envelope(unknown, 404)["detail"].startswith("No such endpoint")
    assert_envelope(outside, 404)
    assert_envelope(wrong_method, 405)
    assert "POST" in wrong_method.headers["allow"]
    assert_envelope(trailing_slash, 404)


@pytest.mark.anyio
async def test_requests_are_counted_per_operation_and_status(emu: Emulator) -> None:
    async with client_for(emu) as http:
        await http.get(API)
        await http.get(f"{API}/nope")
    assert emu.requests["list_projects"] == 1 and emu.requests["get_project"] == 1
    assert emu.responses["list_projects 200"] == 1 and emu.responses["get_project 404"] == 1
    assert emu.counters == {}
