"""Export and import through HTTP: round trips, the real fixture, broken zips, recreate after import.

A YAML zip goes through import-async (the sync import takes legacy JSON only: see test_emu_imports.py)."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest
from emulator_http import API, client_for
from qdi_data import FIXTURE_ZIP

from qdi_mcp.emulator import Emulator

DEV_SPACE = "6650f0c1a2b3c4d5e6f7d001"
# the real Qlik export, shared by the team next to the repository


@pytest.fixture
def churn_zip() -> bytes:
    return FIXTURE_ZIP.read_bytes()


async def export(http: httpx.AsyncClient, project_id: str, **body: object) -> bytes:
    response = await http.post(f"{API}/{project_id}/actions/export", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    return response.content


async def import_zip(http: httpx.AsyncClient, project_id: str, data: bytes) -> httpx.Response:
    return await http.post(
        f"{API}/{project_id}/actions/import", files={"zip": ("project.zip", data, "application/zip")}
    )


async def import_async(emu: Emulator, http: httpx.AsyncClient, project_id: str, data: bytes) -> httpx.Response:
    """import-async, then the clock moved on until the import action ended; the 202 answer."""
    response = await http.post(
        f"{API}/{project_id}/actions/import-async", files={"zip": ("project.zip", data, "application/zip")}
    )
    if response.status_code == 202:
        action = await finish(emu, http, response.json()["actionId"])
        assert action["state"] == "COMPLETED", action
    return response


async def new_project(http: httpx.AsyncClient, name: str) -> str:
    response = await http.post(API, json={"name": name, "space": DEV_SPACE, "platformType": "SNOWFLAKE"})
    assert response.status_code == 201
    return response.json()["id"]


async def finish(emu: Emulator, http: httpx.AsyncClient, action_id: str) -> dict:
    emu.clock.advance(600)
    return (await http.get(f"{API}/actions/{action_id}", params={"detailed": "true"})).json()


@pytest.mark.anyio
async def test_export_then_import_round_trips_tasks_and_bindings(emu: Emulator) -> None:
    source = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        data = await export(http, source, mode="LEGACY", includeBindings=True)
        target = await new_project(http, "Customer 360 copy")
        own_bindings = emu.bindings(target)
        response = await import_zip(http, target, data)
        source_tasks = (await http.get(f"{API}/{source}/di-tasks")).json()["dataTasks"]
        copied_tasks = (await http.get(f"{API}/{target}/di-tasks")).json()["dataTasks"]
        copied_bindings = (await http.get(f"{API}/{target}/bindings")).json()["variables"]
    assert response.status_code == 200 and response.json() == {}
    assert "bindings.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    strip = sorted((t["id"], t["name"], t["type"], t["description"]) for t in source_tasks)
    assert sorted((t["id"], t["name"], t["type"], t["description"]) for t in copied_tasks) == strip
    assert all(t["spaceId"] == DEV_SPACE for t in copied_tasks)
    # the zip's bindings.json is a reference only (qlik.dev export-and-import): the target keeps its own values
    assert copied_bindings["projectName"] == own_bindings["projectName"] == "Customer 360 copy"
    assert copied_bindings != emu.bindings(source)
    for task in copied_tasks:  # imported tasks must be prepared before they run
        assert emu.task_readiness(target, task["id"]) == "NOT_RUNNABLE"
    assert emu.counters["import_project"] == 1 and emu.counters["export_project"] == 0


@pytest.mark.anyio
async def test_export_writes_bindings_only_when_asked_and_validates_mode(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        plain = await export(http, project_id)
        every = await export(http, project_id, mode="ALL")
        legacy = await export(http, project_id, mode="LEGACY")
        bad_mode = await http.post(f"{API}/{project_id}/actions/export", json={"mode": "FULL"})
        bad_flag = await http.post(f"{API}/{project_id}/actions/export", json={"includeBindings": "yes"})
        missing = await http.post(f"{API}/nope/actions/export", json={})
    names = zipfile.ZipFile(io.BytesIO(plain)).namelist()
    assert "qtcp_project.yaml" in names and "qtcp_bindings_definition.json" in names
    assert "bindings.json" not in names
    assert len(every) > len(plain) and legacy[:2] == b"PK"
    assert bad_mode.status_code == 400 and bad_mode.json()["errors"][0]["source"] == {"pointer": "/mode"}
    assert bad_flag.status_code == 400 and missing.status_code == 404


@pytest.mark.anyio
async def test_exported_bindings_are_the_current_bindings(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    variables = emu.bindings(project_id)
    variables["projectName"] = "Renamed in bindings"
    async with client_for(emu) as http:
        await http.put(f"{API}/{project_id}/bindings", json={"variables": variables})
        data = await export(http, project_id, includeBindings=True)
    exported = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("bindings.json"))
    assert exported["variables"]["projectName"] == "Renamed in bindings"


@pytest.mark.anyio
async def test_the_real_qlik_export_imports_and_lists_its_nine_tasks(emu: Emulator, churn_zip: bytes) -> None:
    async with client_for(emu) as http:
        project_id = await new_project(http, "Churn")
        response = await import_async(emu, http, project_id, churn_zip)
        tasks = (await http.get(f"{API}/{project_id}/di-tasks")).json()["dataTasks"]
        bindings = (await http.get(f"{API}/{project_id}/bindings")).json()["variables"]
    assert response.status_code == 202
    assert len(tasks) == 9
    assert {"id": "churn_landing-wjkl", "name": "CHURN LANDING", "type": "LANDING"}.items() <= tasks[0].items()
    by_name = {t["name"]: t for t in tasks}
    assert by_name["CHURN STORAGE"]["id"] == "storage-0ivk" and by_name["DATA MART"]["type"] == "DATAMART"
    assert by_name["DEMOGRAPHICS REGISTERED"]["type"] == "REGISTERED_DATA"
    # the zip's bindings.json names ChurnDB.source_mysql_e2e; a new variable stays unset until the target binds it
    assert bindings["task.churn_landing-wjkl.sourceConnection"] == ""
    assert bindings["projectName"] == "Churn"


@pytest.mark.anyio
async def test_import_without_bindings_recalculates_keeping_existing_values(emu: Emulator, churn_zip: bytes) -> None:
    async with client_for(emu) as http:
        project_id = await new_project(http, "Churn")
        without_bindings = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(churn_zip)) as source, zipfile.ZipFile(without_bindings, "w") as target:
            for name in source.namelist():
                if name != "bindings.json":
                    target.writestr(name, source.read(name))
        response = await import_async(emu, http, project_id, without_bindings.getvalue())
        bindings = (await http.get(f"{API}/{project_id}/bindings")).json()["variables"]
    assert response.status_code == 202
    assert bindings["projectName"] == "Churn"  # kept from the project's own bindings
    assert bindings["task.churn_landing-wjkl.sourceConnection"] == ""  # new key, declared default
    assert "task.storage-0ivk.taskSchema" in bindings


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ({"qtcp_project.yaml": "properties: [unclosed\n"}, "qtcp_project.yaml"),
        ({"readme.txt": "no project here"}, "qtcp_project.yaml"),
    ],
)
async def test_broken_zip_is_a_400_naming_the_bad_file(emu: Emulator, entries: dict[str, str], named: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    project_id = emu.project_id("Customer 360")
    tasks_before = emu.tasks(project_id)
    async with client_for(emu) as http:
        response = await import_async(emu, http, project_id, buffer.getvalue())
        not_a_zip = await import_async(emu, http, project_id, b"plain text")
        not_a_zip_sync = await import_zip(http, project_id, b"plain text")
    assert response.status_code == 400 and named in response.json()["errors"][0]["detail"]
    assert response.json()["errors"][0]["source"] == {"parameter": "zip"}
    for refused in (not_a_zip, not_a_zip_sync):
        assert refused.status_code == 400 and "<zip>" in refused.json()["errors"][0]["detail"]
    assert emu.tasks(project_id) == tasks_before
    assert emu.counters["import_project"] == emu.counters["import_project_async"] == 0


@pytest.mark.anyio
async def test_import_needs_a_multipart_zip_field(emu: Emulator, churn_zip: bytes) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        wrong_field = await http.post(
            f"{API}/{project_id}/actions/import", files={"file": ("p.zip", b"PK", "application/zip")}
        )
        text_field = await http.post(
            f"{API}/{project_id}/actions/import", data={"zip": "abc"}, files={"other": ("x", b"x")}
        )
        json_body = await http.post(f"{API}/{project_id}/actions/import", json={"zip": "abc"})
        missing_project = await import_zip(http, "nope", churn_zip)
    for response in (wrong_field, text_field, json_body):
        assert response.status_code == 400
        assert response.json()["errors"][0]["source"] == {"parameter": "zip"}
    assert missing_project.status_code == 404


@pytest.mark.anyio
async def test_import_is_refused_while_a_task_runs_or_types_differ(emu: Emulator, churn_zip: bytes) -> None:
    running_project = emu.project_id("Orders replication")
    qvd_project = emu.project_id("Sales QVD")
    async with client_for(emu) as http:
        data = await export(http, running_project)
        while_running = await import_async(emu, http, running_project, data)
        other_platform = await import_async(emu, http, qvd_project, churn_zip)
    assert while_running.status_code == 400 and "ORDERS REPLICATION" in while_running.json()["errors"][0]["detail"]
    assert other_platform.status_code == 400 and "SNOWFLAKE" in other_platform.json()["errors"][0]["detail"]


@pytest.mark.anyio
async def test_import_that_changes_datasets_requires_allow_recreate(emu: Emulator) -> None:
    dev = emu.project_id("Customer 360")
    prod = emu.project_id("Customer 360 (prod)")
    storage = emu.task_id(prod, "ERP STORAGE")
    assert {d["dataReadiness"] for d in emu.datasets(prod, storage)} == {"READY"}
    async with client_for(emu) as http:
        await import_async(emu, http, prod, await export(http, dev))
        readiness = (await http.get(f"{API}/{prod}/di-tasks/{storage}/runtime/state")).json()["runReadiness"]
        variables = emu.bindings(prod)
        crm_landing = emu.task_id(prod, "CRM LANDING")
        variables[f"task.{crm_landing}.sourceConnection"] = "{{id(connection, PROD_SPACE.Salesforce)}}"
        await http.put(f"{API}/{prod}/bindings", json={"variables": variables})

        refused = await finish(
            emu, http, (await http.post(f"{API}/{prod}/actions/prepare", json={})).json()["actionId"]
        )
        allowed = await finish(
            emu,
            http,
            (await http.post(f"{API}/{prod}/actions/prepare", json={"allowRecreate": True})).json()["actionId"],
        )
    assert readiness["state"] == "NOT_RUNNABLE" and "allowRecreate" in readiness["message"]
    details = {d["name"]: d for d in refused["taskDetails"]}
    assert refused["state"] == "FAILED"
    assert details["ERP LANDING"]["error"]["code"] == "RECREATE_REQUIRED"
    assert "allowRecreate" in details["ERP LANDING"]["error"]["message"]
    assert details["ERP STORAGE"]["state"] == "CANCELED"  # its upstream did not succeed
    assert details["CRM LANDING"]["state"] == "COMPLETED"  # a new task has no tables to recreate
    assert allowed["state"] == "COMPLETED", allowed
    assert emu.task_readiness(prod, storage) == "READY_TO_RUN"
    datasets = emu.datasets(prod, storage)
    assert len(datasets) == 5 and {d["dataReadiness"] for d in datasets} == {"NOT_READY"}  # tables recreated


@pytest.mark.anyio
async def test_reimporting_the_same_design_keeps_tasks_prepared(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        response = await import_async(emu, http, project_id, await export(http, project_id))
    assert response.status_code == 202
    assert {emu.task_readiness(project_id, t["id"]) for t in emu.tasks(project_id)} == {"READY_TO_RUN"}
