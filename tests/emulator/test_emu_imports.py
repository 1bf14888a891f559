"""Today's import endpoints as the emulated tenant serves them: the sync import takes legacy JSON only, import-async
takes both and runs as a PROJECT_IMPORT action, validate-project-definitions reports what is wrong in a zip."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from emulator_http import API, client_for
from qdi_data import FIXTURE_ZIP, build_zip

from qdi_mcp.emulator import Emulator

DEV_SPACE = "6650f0c1a2b3c4d5e6f7d001"
VALIDATE = f"{API}/utils/actions/validate-project-definitions"


def upload(data: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"zip": ("project.zip", data, "application/zip")}


async def new_project(http: httpx.AsyncClient, name: str) -> str:
    response = await http.post(API, json={"name": name, "space": DEV_SPACE, "platformType": "SNOWFLAKE"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def action(http: httpx.AsyncClient, action_id: str) -> dict:
    return (await http.get(f"{API}/actions/{action_id}", params={"detailed": "true"})).json()


def without_settings(data: bytes, task_folder: str) -> bytes:
    """The zip with one task.yaml stripped of its `settings`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == f"qtcp_tasks/{task_folder}/task.yaml":
                content = content.split(b"settings:")[0]
            target.writestr(name, content)
    return out.getvalue()


@pytest.mark.anyio
async def test_a_yaml_zip_sent_to_the_sync_import_gets_qliks_400_and_changes_nothing(emu: Emulator) -> None:
    async with client_for(emu) as http:
        target = await new_project(http, "Churn")
        response = await http.post(f"{API}/{target}/actions/import", files=upload(FIXTURE_ZIP.read_bytes()))
    assert response.status_code == 400
    error = response.json()["errors"][0]
    # qlik.dev di-projects reference: "Submitting a YAML-based zip to this endpoint returns `400`."
    assert "only accepts zips that contain JSON project files (the legacy format)" in error["detail"]
    assert "import-async" in error["detail"] and error["source"] == {"parameter": "zip"}
    assert emu.tasks(target) == [] and emu.counters["import_project"] == 0


@pytest.mark.anyio
async def test_a_legacy_export_round_trips_through_the_sync_import(emu: Emulator) -> None:
    source = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        legacy = await http.post(f"{API}/{source}/actions/export", json={"mode": "LEGACY"})
        target = await new_project(http, "Customer 360 copy")
        response = await http.post(f"{API}/{target}/actions/import", files=upload(legacy.content))
    assert response.status_code == 200 and response.json() == {}
    assert [(t["id"], t["name"]) for t in emu.tasks(target)] == [(t["id"], t["name"]) for t in emu.tasks(source)]


@pytest.mark.anyio
async def test_import_async_runs_as_a_project_import_action_and_changes_the_project_when_it_completes(
    emu: Emulator,
) -> None:
    async with client_for(emu) as http:
        target = await new_project(http, "Churn")
        started = await http.post(f"{API}/{target}/actions/import-async", files=upload(FIXTURE_ZIP.read_bytes()))
        action_id = started.json()["actionId"]
        pending = await action(http, action_id)
        emu.clock.advance(1)
        executing = await action(http, action_id)
        tasks_while_running = emu.tasks(target)
        emu.clock.advance(60)
        done = await action(http, action_id)
    assert started.status_code == 202
    assert started.headers["Location"] == f"/api/v1/di-projects/actions/{action_id}"
    assert (pending["type"], pending["state"]) == ("PROJECT_IMPORT", "PENDING")
    assert executing["state"] == "EXECUTING" and tasks_while_running == []
    assert done["state"] == "COMPLETED" and done["error"] is None
    assert len(done["taskDetails"]) == 9 and {d["state"] for d in done["taskDetails"]} == {"COMPLETED"}
    assert done["taskProgress"]["completed"] == 9
    assert len(emu.tasks(target)) == 9


@pytest.mark.anyio
async def test_import_async_takes_a_legacy_zip_too(emu: Emulator) -> None:
    source = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        legacy = await http.post(f"{API}/{source}/actions/export", json={"mode": "LEGACY"})
        target = await new_project(http, "Copy")
        started = await http.post(f"{API}/{target}/actions/import-async", files=upload(legacy.content))
        emu.clock.advance(60)
        done = await action(http, started.json()["actionId"])
    assert done["state"] == "COMPLETED"
    assert len(emu.tasks(target)) == len(emu.tasks(source))


@pytest.mark.anyio
async def test_import_async_answers_409_while_another_import_or_a_prepare_of_the_project_runs(emu: Emulator) -> None:
    data = FIXTURE_ZIP.read_bytes()
    async with client_for(emu) as http:
        target = await new_project(http, "Churn")
        first = await http.post(f"{API}/{target}/actions/import-async", files=upload(data))
        second = await http.post(f"{API}/{target}/actions/import-async", files=upload(data))
        sync = await http.post(f"{API}/{target}/actions/import", files=upload(b"PK\x05\x06" + bytes(18)))
        prepare_meanwhile = await http.post(f"{API}/{target}/actions/prepare", json={})
        emu.clock.advance(60)
        prepare = await http.post(f"{API}/{target}/actions/prepare", json={})
        during_prepare = await http.post(f"{API}/{target}/actions/import-async", files=upload(data))
    assert first.status_code == 202
    assert second.status_code == 409 and first.json()["actionId"] in second.json()["errors"][0]["detail"]
    assert sync.status_code == 400  # an empty zip is refused before the busy check
    assert prepare_meanwhile.status_code == 400 and "being imported" in prepare_meanwhile.json()["errors"][0]["detail"]
    assert prepare.status_code == 202 and prepare.headers["Location"].endswith(prepare.json()["actionId"])
    assert during_prepare.status_code == 409 and "prepares it" in during_prepare.json()["errors"][0]["detail"]


@pytest.mark.anyio
async def test_an_import_with_a_task_missing_settings_fails_and_changes_nothing(emu: Emulator) -> None:
    data = without_settings(FIXTURE_ZIP.read_bytes(), "CHURN STORAGE")
    async with client_for(emu) as http:
        target = await new_project(http, "Churn")
        started = await http.post(f"{API}/{target}/actions/import-async", files=upload(data))
        emu.clock.advance(60)
        done = await action(http, started.json()["actionId"])
    details = {d["name"]: d for d in done["taskDetails"]}
    assert done["state"] == "FAILED" and "Nothing was changed" in done["error"]["message"]
    assert details["CHURN STORAGE"]["state"] == "FAILED"
    assert details["CHURN STORAGE"]["error"]["message"] == "Property 'settings' is missing."
    assert details["CHURN LANDING"]["state"] == "CANCELED" and "all or nothing" in details["CHURN LANDING"]["info"]
    assert emu.tasks(target) == []


@pytest.mark.anyio
async def test_import_keeps_the_target_bindings_set_before_it_not_the_zips_bindings_json(emu: Emulator) -> None:
    """qlik.dev deploy-di-project: Step 5 sets the target's bindings, Step 6 imports; export-and-import: "Do not
    rely on bindings.json to provide target environment values during import"."""
    prod_connection = "{{id(connection, PROD_SPACE.Salesforce)}}"
    async with client_for(emu) as http:
        target = await new_project(http, "Churn prod")
        variables = {**emu.bindings(target), "task.churn_landing-wjkl.sourceConnection": prod_connection}
        put = await http.put(f"{API}/{target}/bindings", json={"variables": variables})
        started = await http.post(f"{API}/{target}/actions/import-async", files=upload(FIXTURE_ZIP.read_bytes()))
        emu.clock.advance(60)
        done = await action(http, started.json()["actionId"])
    assert put.status_code == 200 and done["state"] == "COMPLETED"
    bindings = emu.bindings(target)
    # the zip's bindings.json says ChurnDB.source_mysql_e2e and "E2E Customer Churn": neither is taken
    assert bindings["task.churn_landing-wjkl.sourceConnection"] == prod_connection
    assert bindings["projectName"] == "Churn prod"
    # a variable the new design adds and the target never set stays unset
    assert bindings["task.storage-0ivk.taskSchema"] == ""


@pytest.mark.anyio
async def test_validate_project_definitions_reports_the_documented_checks(emu: Emulator) -> None:
    broken = build_zip(
        [
            ("qtcp_project.yaml", b"properties: {name: x}\n"),
            ("qtcp_tasks/t1/task.yaml", b"properties: {id: t1, name: T1, type: LANDING}\n"),
            ("qtcp_tasks/t1/notes.txt", b"hello"),
            ("qtcp_bindings_definition.json", b""),
        ]
    )
    async with client_for(emu) as http:
        clean = await http.post(VALIDATE, files=upload(FIXTURE_ZIP.read_bytes()))
        findings = await http.post(VALIDATE, files=upload(broken))
        not_a_zip = await http.post(VALIDATE, files=upload(b"plain text"))
        too_big = await http.post(VALIDATE, files=upload(b"PK" + bytes(10 * 1024 * 1024)))
    assert clean.status_code == 200 and clean.json() == {"reports": []}
    assert findings.status_code == 200
    assert findings.json()["reports"] == [
        {"path": "qtcp_bindings_definition.json", "level": "ERROR", "reason": "File is empty."},
        {
            "path": "qtcp_tasks/t1/notes.txt",
            "level": "ERROR",
            "reason": "Unsupported file type: project files are YAML or JSON.",
        },
        {"path": "qtcp_tasks/t1/task.yaml", "level": "ERROR", "reason": "Property 'settings' is missing."},
    ]
    assert not_a_zip.status_code == 400 and not_a_zip.json()["errors"][0]["source"] == {"parameter": "zip"}
    assert too_big.status_code == 400 and "10 MB" in too_big.json()["errors"][0]["detail"]
    assert emu.counters["validate_project_definitions"] == 0  # a check, not a change


@pytest.mark.anyio
async def test_validate_project_definitions_warns_about_a_legacy_zip(emu: Emulator) -> None:
    source = emu.project_id("Orders replication")
    async with client_for(emu) as http:
        legacy = await http.post(f"{API}/{source}/actions/export", json={"mode": "LEGACY"})
        response = await http.post(VALIDATE, files=upload(legacy.content))
    assert response.json()["reports"] == [
        {"path": "project.json", "level": "WARNING", "reason": "Legacy JSON project format; it is deprecated."}
    ]
