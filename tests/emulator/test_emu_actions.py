"""Asynchronous actions (prepare, validate, recreate) on a manual clock."""

from __future__ import annotations

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.emulator import Emulator


async def get_action(http: httpx.AsyncClient, action_id: str, *, detailed: bool = True) -> dict:
    response = await http.get(f"{API}/actions/{action_id}", params={"detailed": str(detailed).lower()})
    assert response.status_code == 200
    return response.json()


async def run_to_end(emu: Emulator, http: httpx.AsyncClient, action_id: str) -> dict:
    for _ in range(200):
        action = await get_action(http, action_id)
        if action["state"] in ("COMPLETED", "FAILED"):
            return action
        emu.clock.advance(0.5)
    raise AssertionError("the action never finished")


@pytest.mark.anyio
async def test_project_prepare_moves_task_by_task_in_dependency_order(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        started = await http.post(f"{API}/{project_id}/actions/prepare", json={"allowRecreate": False})
        assert started.status_code == 202
        action_id = started.json()["actionId"]
        first = await get_action(http, action_id)
        assert first["state"] == "PENDING" and first["startTime"] is None  # null until it starts, as Qlik sends
        assert first["taskProgress"]["pending"] == 6
        assert first["name"] == "Prepare project DEV_SPACE.Customer 360" and first["type"] == "PROJECT_PREPARE"

        finished_order: list[str] = []
        seen_states: set[str] = set()
        for _ in range(100):
            emu.clock.advance(0.5)
            action = await get_action(http, action_id)
            seen_states.add(action["state"])
            assert action["taskProgress"]["executing"] <= 1  # one task at a time
            for detail in action["taskDetails"]:
                if detail["state"] == "COMPLETED" and detail["name"] not in finished_order:
                    finished_order.append(detail["name"])
            if action["state"] == "COMPLETED":
                break
    assert "EXECUTING" in seen_states
    assert action["taskProgress"] == {
        "failed": 0,
        "pending": 0,
        "skipped": 0,
        "canceled": 0,
        "completed": 6,
        "executing": 0,
    }
    assert action["startTime"].endswith("Z") and action["endTime"] >= action["startTime"]
    assert action["error"] is None
    position = {name: index for index, name in enumerate(finished_order)}
    assert position["CRM LANDING"] < position["CRM STORAGE"] < position["CUSTOMER TRANSFORM"]
    assert position["ERP LANDING"] < position["ERP STORAGE"] < position["CUSTOMER TRANSFORM"] < position["SALES MART"]
    assert emu.counters["prepare_project"] == 1


@pytest.mark.anyio
async def test_nothing_moves_until_the_clock_advances(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        action_id = (await http.post(f"{API}/{project_id}/actions/validate", json={})).json()["actionId"]
        for _ in range(3):
            assert (await get_action(http, action_id))["state"] == "PENDING"
        emu.clock.advance(600)  # no request in between: events apply on the next read
        assert (await get_action(http, action_id))["state"] == "COMPLETED"


@pytest.mark.anyio
async def test_detailed_false_omits_task_details_but_keeps_progress(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        action_id = (await http.post(f"{API}/{project_id}/actions/validate", json={})).json()["actionId"]
        brief = await get_action(http, action_id, detailed=False)
        plain = (await http.get(f"{API}/actions/{action_id}")).json()
        detailed = await get_action(http, action_id, detailed=True)
    assert brief["taskDetails"] is None and plain["taskDetails"] is None and "taskProgress" in brief
    assert [d["name"] for d in detailed["taskDetails"]][0] == "CRM LANDING"
    assert detailed["type"] == "PROJECT_VALIDATE"


@pytest.mark.anyio
async def test_demo_failing_prepare_reports_the_empty_connection_and_cancels_downstream(
    emu: Emulator,
) -> None:
    project_id = emu.project_id("Sales QVD")
    landing_id = emu.task_id(project_id, "SALES LANDING")
    async with client_for(emu) as http:
        action_id = (await http.post(f"{API}/{project_id}/actions/prepare", json={})).json()["actionId"]
        action = await run_to_end(emu, http, action_id)
    assert action["state"] == "FAILED"
    assert action["error"]["code"] == "MISSING_CONNECTION"
    assert "SALES LANDING" in action["error"]["message"]
    landing, storage = action["taskDetails"]
    assert landing["state"] == "FAILED" and f"task.{landing_id}.sourceConnection" in landing["error"]["message"]
    assert "DEV_SPACE.MySQL_DEV" in landing["error"]["details"]  # the hint lists usable connections
    assert storage["state"] == "CANCELED" and "SALES LANDING" in storage["info"]
    assert action["taskProgress"]["failed"] == 1 and action["taskProgress"]["canceled"] == 1
    assert emu.task_readiness(project_id, landing_id) == "NOT_RUNNABLE"
    assert "sourceConnection" in emu.task_state(project_id, landing_id)["runReadiness"]["message"]


@pytest.mark.anyio
async def test_binding_the_connection_fixes_the_failing_prepare(emu: Emulator) -> None:
    project_id = emu.project_id("Sales QVD")
    landing_id = emu.task_id(project_id, "SALES LANDING")
    async with client_for(emu) as http:
        variables = (await http.get(f"{API}/{project_id}/bindings")).json()["variables"]
        variables[f"task.{landing_id}.sourceConnection"] = "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
        assert (await http.put(f"{API}/{project_id}/bindings", json={"variables": variables})).status_code == 200
        action_id = (await http.post(f"{API}/{project_id}/actions/prepare", json={})).json()["actionId"]
        action = await run_to_end(emu, http, action_id)
    assert action["state"] == "COMPLETED", action
    for task in emu.tasks(project_id):
        assert emu.task_readiness(project_id, task["id"]) == "READY_TO_RUN"


@pytest.mark.anyio
async def test_a_connection_the_tenant_lacks_fails_prepare(emu: Emulator) -> None:
    project_id = emu.project_id("Sales QVD")
    landing_id = emu.task_id(project_id, "SALES LANDING")
    variables = emu.bindings(project_id)
    variables[f"task.{landing_id}.sourceConnection"] = "{{id(connection, DEV_SPACE.Oracle_Gone)}}"
    async with client_for(emu) as http:
        await http.put(f"{API}/{project_id}/bindings", json={"variables": variables})
        action_id = (
            await http.post(f"{API}/{project_id}/di-tasks/{landing_id}/actions/prepare", json={"allowRecreate": False})
        ).json()["actionId"]
        action = await run_to_end(emu, http, action_id)
    assert action["state"] == "FAILED" and action["type"] == "TASK_PREPARE"
    assert (
        action["error"]["code"] == "UNKNOWN_CONNECTION"
        and "Oracle_Gone" in action["taskDetails"][0]["error"]["message"]
    )


@pytest.mark.anyio
async def test_selected_tasks_limits_the_prepare_and_keeps_dependency_order(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    mart = emu.task_id(project_id, "SALES MART")
    landing = emu.task_id(project_id, "CRM LANDING")
    async with client_for(emu) as http:
        body = {"selectedTasks": [{"taskId": mart}, {"taskId": landing}]}
        action_id = (await http.post(f"{API}/{project_id}/actions/prepare", json=body)).json()["actionId"]
        action = await run_to_end(emu, http, action_id)
    assert [d["taskId"] for d in action["taskDetails"]] == [landing, mart]
    assert action["state"] == "COMPLETED"


@pytest.mark.anyio
async def test_unknown_selected_task_is_a_400_naming_it(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        response = await http.post(
            f"{API}/{project_id}/actions/prepare", json={"selectedTasks": [{"taskId": "nope-1"}]}
        )
        bad_shape = await http.post(f"{API}/{project_id}/actions/validate", json={"selectedTasks": "all"})
        bad_flag = await http.post(f"{API}/{project_id}/actions/prepare", json={"allowRecreate": "yes"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert "nope-1" in error["detail"] and error["source"] == {"pointer": "/selectedTasks/0/taskId"}
    assert bad_shape.status_code == 400 and bad_flag.status_code == 400
    assert bad_flag.json()["errors"][0]["source"] == {"pointer": "/allowRecreate"}
    assert emu.counters["prepare_project"] == 0


@pytest.mark.anyio
async def test_second_prepare_while_one_executes_is_a_400_conflict(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    task_id = emu.task_id(project_id, "CRM STORAGE")
    async with client_for(emu) as http:
        first = (await http.post(f"{API}/{project_id}/actions/prepare", json={})).json()["actionId"]
        emu.clock.advance(1)
        again = await http.post(f"{API}/{project_id}/actions/prepare", json={})
        task_level = await http.post(
            f"{API}/{project_id}/di-tasks/{task_id}/actions/prepare", json={"allowRecreate": False}
        )
        start = await http.post(f"{API}/{project_id}/di-tasks/{task_id}/runtime/actions/start")
        await run_to_end(emu, http, first)
        after = await http.post(f"{API}/{project_id}/actions/prepare", json={})
    assert again.status_code == 400 and first in again.json()["errors"][0]["detail"]
    assert task_level.status_code == 400 and start.status_code == 400
    assert "being prepared" in start.json()["errors"][0]["detail"]
    assert after.status_code == 202
    assert emu.counters["prepare_project"] == 2 and emu.counters["prepare_task"] == 0


@pytest.mark.anyio
async def test_prepare_or_recreate_of_a_running_task_is_refused(emu: Emulator) -> None:
    project_id = emu.project_id("Orders replication")
    task_id = emu.task_id(project_id, "ORDERS REPLICATION")
    base = f"{API}/{project_id}/di-tasks/{task_id}"
    async with client_for(emu) as http:
        prepare = await http.post(f"{base}/actions/prepare", json={"allowRecreate": True})
        recreate = await http.post(f"{base}/actions/recreate-datasets", json={})
        selected = await http.post(f"{API}/{project_id}/actions/prepare", json={"selectedTasks": [{"taskId": task_id}]})
        orchestrated = (await http.post(f"{API}/{project_id}/actions/prepare", json={})).json()["actionId"]
        action = await run_to_end(emu, http, orchestrated)
    for refused in (prepare, recreate, selected):
        assert refused.status_code == 400 and "stop the task first" in refused.json()["errors"][0]["detail"]
    # project-level orchestration skips a running task (a conflict) instead of failing
    assert action["state"] == "COMPLETED" and action["taskDetails"][0]["state"] == "SKIPPED"
    assert action["taskProgress"]["skipped"] == 1
    assert emu.task_run_state(project_id, task_id) == "RUNNING"


@pytest.mark.anyio
async def test_validate_never_changes_readiness(emu: Emulator) -> None:
    project_id = emu.project_id("Sales QVD")
    storage_id = emu.task_id(project_id, "SALES QVD STORAGE")
    landing_id = emu.task_id(project_id, "SALES LANDING")
    async with client_for(emu) as http:
        task_action = (await http.post(f"{API}/{project_id}/di-tasks/{storage_id}/actions/validate", json={})).json()
        project_action = (await http.post(f"{API}/{project_id}/actions/validate", json={})).json()
        storage_result = await run_to_end(emu, http, task_action["actionId"])
        project_result = await run_to_end(emu, http, project_action["actionId"])
    assert storage_result["type"] == "TASK_VALIDATE" and storage_result["state"] == "COMPLETED"
    assert project_result["state"] == "FAILED"  # same binding problem prepare would hit
    assert project_result["taskDetails"][0]["error"]["code"] == "MISSING_CONNECTION"
    assert emu.task_readiness(project_id, storage_id) == "NOT_RUNNABLE"
    assert "has not been prepared" in emu.task_state(project_id, landing_id)["runReadiness"]["message"]


@pytest.mark.anyio
async def test_task_prepare_needs_its_upstream_prepared(emu: Emulator) -> None:
    project_id = emu.project_id("Sales QVD")
    storage_id = emu.task_id(project_id, "SALES QVD STORAGE")
    async with client_for(emu) as http:
        action_id = (
            await http.post(f"{API}/{project_id}/di-tasks/{storage_id}/actions/prepare", json={"allowRecreate": False})
        ).json()["actionId"]
        action = await run_to_end(emu, http, action_id)
    assert action["state"] == "FAILED" and action["error"]["code"] == "UPSTREAM_NOT_PREPARED"
    assert "SALES LANDING" in action["taskDetails"][0]["error"]["message"]


@pytest.mark.anyio
async def test_unknown_action_is_a_404(emu: Emulator) -> None:
    async with client_for(emu) as http:
        response = await http.get(f"{API}/actions/ffffffffffffffffffffffff")
        bad_flag = await http.get(f"{API}/actions/ffffffffffffffffffffffff", params={"detailed": "maybe"})
    assert response.status_code == 404 and "ffffffffffffffffffffffff" in response.json()["errors"][0]["detail"]
    assert bad_flag.status_code == 400 and bad_flag.json()["errors"][0]["source"] == {"parameter": "detailed"}


@pytest.mark.anyio
async def test_recreate_datasets_is_a_task_prepare_that_resets_the_datasets(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    task_id = emu.task_id(project_id, "CRM STORAGE")
    assert {d["dataReadiness"] for d in emu.datasets(project_id, task_id)} == {"READY", "ERROR"}
    async with client_for(emu) as http:
        response = await http.post(f"{API}/{project_id}/di-tasks/{task_id}/actions/recreate-datasets", json={})
        assert response.status_code == 202
        action = await run_to_end(emu, http, response.json()["actionId"])
    assert action["type"] == "TASK_PREPARE" and action["state"] == "COMPLETED"
    assert action["name"] == "Recreate datasets of task DEV_SPACE.Customer 360.CRM STORAGE"
    datasets = emu.datasets(project_id, task_id)
    assert {d["dataReadiness"] for d in datasets} == {"NOT_READY"}
    assert all("fullLoad" not in d for d in datasets)
    assert emu.task_readiness(project_id, task_id) == "READY_TO_RUN"
    assert emu.counters["recreate_task_datasets"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("body", [None, {}, {"allowRecreate": None}])
async def test_a_task_prepare_without_allow_recreate_is_refused_and_starts_nothing(emu: Emulator, body: object) -> None:
    # The reference marks a task prepare's allowRecreate as required (a project prepare's is optional).
    project_id = emu.project_id("Customer 360")
    task_id = emu.task_id(project_id, "ERP LANDING")
    async with client_for(emu) as http:
        response = await http.post(f"{API}/{project_id}/di-tasks/{task_id}/actions/prepare", json=body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert "allowRecreate" in error["detail"] and error["source"] == {"pointer": "/allowRecreate"}
    assert emu.tenant.actions == {}
