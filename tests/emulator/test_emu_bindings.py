"""Project bindings: GET (with nameToIdMap), PUT, recalculate."""

from __future__ import annotations

import pytest
from emulator_http import API, client_for

from qdi_mcp.emulator import Emulator


@pytest.mark.anyio
async def test_get_bindings_maps_each_connection_reference_to_its_id(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    connections = {
        f"{{{{id(connection, {c['spaceName']}.{c['name']})}}}}": c["id"] for c in emu.snapshot()["connections"]
    }
    async with client_for(emu) as http:
        response = await http.get(f"{API}/{project_id}/bindings")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"variables", "nameToIdMap"}
    assert body["variables"]["projectName"] == "Customer 360"
    references = {v for v in body["variables"].values() if isinstance(v, str) and v.startswith("{{id(connection")}
    assert references and set(body["nameToIdMap"]) == references
    for reference, connection_id in body["nameToIdMap"].items():
        assert connections[reference] == connection_id


@pytest.mark.anyio
async def test_name_to_id_map_leaves_out_connections_the_tenant_lacks(emu: Emulator) -> None:
    project_id = emu.project_id("Sales QVD")
    variables = emu.bindings(project_id)
    landing = emu.task_id(project_id, "SALES LANDING")
    variables[f"task.{landing}.sourceConnection"] = "{{id(connection, NOWHERE.Nothing)}}"
    async with client_for(emu) as http:
        await http.put(f"{API}/{project_id}/bindings", json={"variables": variables})
        body = (await http.get(f"{API}/{project_id}/bindings")).json()
    assert body["variables"][f"task.{landing}.sourceConnection"] == "{{id(connection, NOWHERE.Nothing)}}"
    assert body["nameToIdMap"] == {}


@pytest.mark.anyio
async def test_put_bindings_replaces_the_variables(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        response = await http.put(
            f"{API}/{project_id}/bindings", json={"variables": {"projectName": "C360", "x": None}}
        )
        body = (await http.get(f"{API}/{project_id}/bindings")).json()
    assert response.status_code == 200 and response.json() == {}
    assert body == {"variables": {"projectName": "C360", "x": None}, "nameToIdMap": {}}
    assert emu.counters["update_bindings"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/variables"),
        ({"variables": ["a"]}, "/variables"),
        ({"variables": {"a": 1}}, "/variables/a"),
        ({"variables": {"a/b": {"nested": True}}}, "/variables/a~1b"),
    ],
)
async def test_put_bindings_rejects_bad_variables_naming_them(emu: Emulator, body: dict, pointer: str) -> None:
    project_id = emu.project_id("Customer 360")
    before = emu.bindings(project_id)
    async with client_for(emu) as http:
        response = await http.put(f"{API}/{project_id}/bindings", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}
    assert emu.bindings(project_id) == before and emu.counters["update_bindings"] == 0


@pytest.mark.anyio
async def test_recalculate_answers_the_recomputed_set_and_saves_nothing(
    emu: Emulator,
) -> None:
    project_id = emu.project_id("Customer 360")
    landing = emu.task_id(project_id, "ERP LANDING")
    variables = emu.bindings(project_id)
    kept_key = f"task.{landing}.sourceConnection"
    removed_key = f"task.{landing}.taskSchema"
    variables.pop(removed_key)
    variables["obsolete.variable"] = "old"
    variables[kept_key] = "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
    async with client_for(emu) as http:
        await http.put(f"{API}/{project_id}/bindings", json={"variables": variables})
        saved = (await http.get(f"{API}/{project_id}/bindings")).json()["variables"]
        recalculated = (await http.get(f"{API}/{project_id}/bindings", params={"recalculate": "true"})).json()
        after = (await http.get(f"{API}/{project_id}/bindings")).json()["variables"]
    assert "obsolete.variable" in saved and removed_key not in saved  # plain GET returns what was saved
    values = recalculated["variables"]
    assert "obsolete.variable" not in values
    assert values[removed_key] == ""  # re-added with its declared default
    assert values[kept_key] == "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
    assert values["projectName"] == "Customer 360"
    # A GET changes nothing: qdi_get_bindings is a read tool (served in read-only mode), so it must not save.
    assert after == saved
    assert "{{id(connection, DEV_SPACE.MySQL_DEV)}}" in recalculated["nameToIdMap"]


@pytest.mark.anyio
async def test_bindings_404_for_unknown_project_and_400_for_bad_recalculate(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        missing = await http.get(f"{API}/nope/bindings")
        put_missing = await http.put(f"{API}/nope/bindings", json={"variables": {}})
        bad_flag = await http.get(f"{API}/{project_id}/bindings", params={"recalculate": "perhaps"})
    assert missing.status_code == 404 and put_missing.status_code == 404
    assert bad_flag.status_code == 400 and bad_flag.json()["errors"][0]["source"] == {"parameter": "recalculate"}
