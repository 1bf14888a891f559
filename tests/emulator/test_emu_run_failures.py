"""Runs that fail: a dataset whose source is broken (`Emulator.set_dataset_broken`) ends its load in ERROR and
the run FAILED, seen through the HTTP API on a manual clock."""

from __future__ import annotations

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.emulator import Emulator
from qdi_mcp.emulator.runtime import load_seconds
from qdi_mcp.emulator.timings import TASK_STARTING_SECONDS

CUSTOMER_360 = "Customer 360"
MISSING_TABLE = "Table 'ORDERS_ENRICHED' does not exist in the source database."


def ids(emu: Emulator, task: str) -> tuple[str, str]:
    project_id = emu.project_id(CUSTOMER_360)
    return project_id, emu.task_id(project_id, task)


def url_of(project_id: str, task_id: str) -> str:
    return f"{API}/{project_id}/di-tasks/{task_id}"


def seconds_to_load(emu: Emulator, project_id: str, task_id: str, name: str) -> float:
    task = emu.tenant.projects[project_id].tasks[task_id]
    return load_seconds(next(d for d in task.datasets.values() if d.name == name))


async def last_run(http: httpx.AsyncClient, url: str) -> dict:
    response = await http.get(f"{url}/runtime/state")
    assert response.status_code == 200
    return response.json()["lastRun"]


async def datasets_by_name(http: httpx.AsyncClient, url: str) -> dict[str, dict]:
    response = await http.get(f"{url}/runtime/state/datasets")
    assert response.status_code == 200
    return {d["name"]: d for d in response.json()["datasets"]}


async def start(http: httpx.AsyncClient, url: str) -> None:
    assert (await http.post(f"{url}/runtime/actions/start")).status_code == 204


@pytest.mark.anyio
async def test_broken_dataset_fails_its_load_and_the_run_ends_failed_with_errors(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    url = url_of(project_id, task_id)
    emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(60)
        run = await last_run(http, url)
        state = await http.get(f"{url}/runtime/state")
    assert run["state"] == "FAILED" and run["endTime"] >= run["startTime"]
    assert run["errors"] == [
        {"code": "DATASET_ERROR", "title": "Dataset ORDERS_ENRICHED is in error", "detail": MISSING_TABLE}
    ]
    assert "1 of 3 datasets" in run["message"] and "ORDERS_ENRICHED" in run["message"]
    assert run["fullLoad"] == {"errorCount": 1, "queuedCount": 0, "loadingCount": 0, "completedCount": 2}
    assert run["general"]["datasetCount"] == 3 and run["general"]["datasetsInErrorCount"] == 1
    assert "dataTaskUpdatedTo" not in run["general"]  # the data was not brought up to date
    assert state.json()["runReadiness"]["state"] == "READY_TO_RUN"  # a failed run can be started again
    assert emu.task_run_state(project_id, task_id) == "FAILED"


@pytest.mark.anyio
async def test_failed_run_ends_when_its_last_load_would_have_completed(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    url = url_of(project_id, task_id)
    slowest = max(seconds_to_load(emu, project_id, task_id, n) for n in ("CUSTOMER_360", "OPPORTUNITY_PIPELINE"))
    emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(TASK_STARTING_SECONDS + slowest - 0.01)
        still_loading = await last_run(http, url)
        emu.clock.advance(0.02)
        finished = await last_run(http, url)
    assert still_loading["state"] == "RUNNING" and still_loading["fullLoad"]["errorCount"] == 1
    assert still_loading["errors"][0]["title"] == "Dataset ORDERS_ENRICHED is in error"  # known before the end
    assert finished["state"] == "FAILED"


@pytest.mark.anyio
async def test_broken_load_ends_in_error_when_it_would_have_completed_and_other_datasets_load(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    url = url_of(project_id, task_id)
    seconds = seconds_to_load(emu, project_id, task_id, "ORDERS_ENRICHED")
    emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(TASK_STARTING_SECONDS + seconds - 0.01)
        before = (await datasets_by_name(http, url))["ORDERS_ENRICHED"]
        emu.clock.advance(0.02)
        failed = (await datasets_by_name(http, url))["ORDERS_ENRICHED"]
        emu.clock.advance(60)
        final = await datasets_by_name(http, url)
        emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED", broken=False)
        after_repair = (await datasets_by_name(http, url))["ORDERS_ENRICHED"]
    assert after_repair["fullLoad"] == failed["fullLoad"]  # a repair changes the next run, not the finished load
    assert before["fullLoad"]["state"] == "LOADING" and before["dataReadiness"] == "NOT_READY"
    assert before["fullLoad"]["totalProcessedCount"] == 0  # a missing source delivers nothing while "loading"
    assert failed["dataReadiness"] == "ERROR"
    load = failed["fullLoad"]
    assert load["state"] == "ERROR" and load["message"] == MISSING_TABLE
    assert load["totalProcessedCount"] == 0  # a missing table fails before any row
    assert {"startTime", "endTime", "duration"} <= set(load) and load["endTime"] >= load["startTime"]
    assert final["ORDERS_ENRICHED"] == failed  # nothing moves after the error
    for name in ("CUSTOMER_360", "OPPORTUNITY_PIPELINE"):
        assert final[name]["dataReadiness"] == "READY" and final[name]["fullLoad"]["state"] == "COMPLETED"
        assert "message" not in final[name]["fullLoad"]


@pytest.mark.anyio
async def test_custom_failure_message_reaches_the_dataset_and_the_run_errors(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    url = url_of(project_id, task_id)
    message = "ORA-00942: table or view does not exist"
    emu.set_dataset_broken(project_id, task_id, "customer_360-z3sw", message=message)  # by id
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(60)
        run = await last_run(http, url)
        dataset = (await datasets_by_name(http, url))["CUSTOMER_360"]
    assert run["state"] == "FAILED" and [e["detail"] for e in run["errors"]] == [message]
    assert dataset["fullLoad"]["message"] == message and dataset["dataReadiness"] == "ERROR"


@pytest.mark.anyio
async def test_cdc_task_whose_full_load_failed_ends_failed_and_streams_no_changes(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "ERP LANDING")
    url = url_of(project_id, task_id)
    emu.set_dataset_broken(project_id, task_id, "orders")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(60)
        failed = await last_run(http, url)
        emu.clock.advance(120)
        later = await last_run(http, url)
        per_dataset = await datasets_by_name(http, url)
    assert failed["state"] == later["state"] == "FAILED" and "endTime" in failed
    assert failed["fullLoad"] == {"errorCount": 1, "queuedCount": 0, "loadingCount": 0, "completedCount": 4}
    assert [e["detail"] for e in failed["errors"]] == ["Table 'orders' does not exist in the source database."]
    assert later["cdcStatus"]["totalProcessedCount"] == 0 and later["cdcStatus"]["throughputInKilobytesPerSecond"] == 0
    assert per_dataset["orders"]["cdcStatus"]["state"] == "ERROR"
    assert per_dataset["customers"]["dataReadiness"] == "READY"
    assert all(d["cdcStatus"]["state"] != "PROCESSING" for d in per_dataset.values())


@pytest.mark.anyio
async def test_stop_after_a_load_failed_ends_canceled_and_keeps_the_error(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "SALES MART")
    url = url_of(project_id, task_id)
    seconds = seconds_to_load(emu, project_id, task_id, "DIM_CUSTOMER")  # the first of the four to finish
    emu.set_dataset_broken(project_id, task_id, "DIM_CUSTOMER")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(TASK_STARTING_SECONDS + seconds + 0.1)
        failing = await last_run(http, url)
        assert (await http.post(f"{url}/runtime/actions/stop")).status_code == 204
        emu.clock.advance(60)
        stopped = await last_run(http, url)
        per_dataset = await datasets_by_name(http, url)
    assert failing["state"] == "RUNNING" and failing["fullLoad"]["errorCount"] == 1
    assert failing["fullLoad"]["loadingCount"] == 3
    assert stopped["state"] == "CANCELED" and stopped["message"] == "The task was stopped."
    assert stopped["general"]["datasetsInErrorCount"] == 1
    broken = per_dataset.pop("DIM_CUSTOMER")
    assert broken["fullLoad"]["state"] == "ERROR" and "DIM_CUSTOMER" in broken["fullLoad"]["message"]
    assert all("Interrupted" in d["fullLoad"]["message"] for d in per_dataset.values())


@pytest.mark.anyio
async def test_stop_before_the_broken_load_finished_ends_canceled_without_errors(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "SALES MART")
    url = url_of(project_id, task_id)
    emu.set_dataset_broken(project_id, task_id, "FACT_SALES")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(TASK_STARTING_SECONDS + 1)
        assert (await http.post(f"{url}/runtime/actions/stop")).status_code == 204
        emu.clock.advance(60)
        stopped = await last_run(http, url)
        per_dataset = await datasets_by_name(http, url)
    assert stopped["state"] == "CANCELED" and stopped["errors"] == []
    assert {d["dataReadiness"] for d in per_dataset.values()} == {"NOT_READY"}


@pytest.mark.anyio
async def test_rerun_while_still_broken_fails_again_and_after_repair_completes(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    url = url_of(project_id, task_id)
    emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED")
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(60)
        first = await last_run(http, url)
        await start(http, url)
        emu.clock.advance(60)
        second = await last_run(http, url)

        emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED", broken=False)
        await start(http, url)
        emu.clock.advance(3)
        retrying = (await datasets_by_name(http, url))["ORDERS_ENRICHED"]
        emu.clock.advance(60)
        repaired = await last_run(http, url)
        per_dataset = await datasets_by_name(http, url)
    assert first["state"] == second["state"] == "FAILED" and second["traceId"] != first["traceId"]
    # the datasets that loaded are not loaded again; the failed one is retried
    assert second["fullLoad"] == {"errorCount": 1, "queuedCount": 0, "loadingCount": 0, "completedCount": 0}
    assert retrying["dataReadiness"] == "NOT_READY" and retrying["fullLoad"]["state"] == "LOADING"
    assert "message" not in retrying["fullLoad"]
    assert repaired["state"] == "COMPLETED" and repaired["errors"] == []
    assert repaired["fullLoad"]["completedCount"] == 1 and repaired["general"]["datasetsInErrorCount"] == 0
    assert {d["dataReadiness"] for d in per_dataset.values()} == {"READY"}
    assert per_dataset["ORDERS_ENRICHED"]["fullLoad"]["state"] == "COMPLETED"


@pytest.mark.anyio
async def test_breaking_during_a_load_fails_that_load(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    url = url_of(project_id, task_id)
    async with client_for(emu) as http:
        await start(http, url)
        emu.clock.advance(TASK_STARTING_SECONDS + 1)
        emu.set_dataset_broken(project_id, task_id, "OPPORTUNITY_PIPELINE")
        emu.clock.advance(60)
        run = await last_run(http, url)
    assert run["state"] == "FAILED" and run["errors"][0]["title"] == "Dataset OPPORTUNITY_PIPELINE is in error"


@pytest.mark.anyio
async def test_a_loaded_dataset_fails_only_when_a_run_loads_it_again(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "ERP STORAGE")
    url = url_of(project_id, task_id)
    name = next(iter(emu.tenant.projects[project_id].tasks[task_id].datasets.values())).name
    emu.set_dataset_broken(project_id, task_id, name)
    async with client_for(emu) as http:
        await start(http, url)  # the demo loaded it an hour ago: this run applies a batch of changes only
        emu.clock.advance(30)
        incremental = await last_run(http, url)
        dataset_id = (await datasets_by_name(http, url))[name]["datasetId"]
        body = {"reloadStrategy": "NONE", "selectedDatasets": [{"datasetId": dataset_id}]}
        assert (await http.post(f"{url}/actions/request-reload", json=body)).status_code == 200
        await start(http, url)
        emu.clock.advance(30)
        reloaded = await last_run(http, url)
    assert incremental["state"] == "COMPLETED"
    assert reloaded["state"] == "FAILED" and reloaded["fullLoad"]["errorCount"] == 1


def test_broken_datasets_show_in_the_snapshot(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED", message="gone")
    project = next(p for p in emu.snapshot()["projects"] if p["id"] == project_id)
    task = next(t for t in project["tasks"] if t["id"] == task_id)
    assert task["brokenDatasets"] == {"orders_enriched-tzh9": "gone"}
    emu.set_dataset_broken(project_id, task_id, "ORDERS_ENRICHED", broken=False)
    project = next(p for p in emu.snapshot()["projects"] if p["id"] == project_id)
    assert next(t for t in project["tasks"] if t["id"] == task_id)["brokenDatasets"] == {}


@pytest.mark.parametrize(
    ("project", "task", "dataset", "options", "expected"),
    [
        ("ghost-project", None, "ORDERS_ENRICHED", {}, "no project 'ghost-project'"),
        (None, "ghost-task", "ORDERS_ENRICHED", {}, "no task 'ghost-task' in project 'Customer 360'"),
        (None, None, "NO_SUCH_TABLE", {}, "no dataset 'NO_SUCH_TABLE'"),
        (None, None, "ORDERS_ENRICHED", {"message": "   "}, "must not be empty"),
        (None, None, "ORDERS_ENRICHED", {"broken": False, "message": "x"}, "only when breaking"),
    ],
)
def test_bad_control_arguments_raise_value_error_naming_the_problem(
    emu: Emulator, project: str | None, task: str | None, dataset: str, options: dict, expected: str
) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    with pytest.raises(ValueError, match=expected) as raised:
        emu.set_dataset_broken(project or project_id, task or task_id, dataset, **options)
    if dataset == "NO_SUCH_TABLE":
        assert "CUSTOMER_360, OPPORTUNITY_PIPELINE, ORDERS_ENRICHED" in str(raised.value)
    assert all(d.load_failure is None for d in emu.tenant.projects[project_id].tasks[task_id].datasets.values())


@pytest.mark.anyio
async def test_the_control_route_breaks_and_repairs_a_dataset_of_the_served_emulator(emu: Emulator) -> None:
    project_id, task_id = ids(emu, "CUSTOMER TRANSFORM")
    task = emu.tenant.projects[project_id].tasks[task_id]
    dataset = next(d for d in task.datasets.values() if d.name == "ORDERS_ENRICHED")
    body = {"projectId": project_id, "taskId": task_id, "dataset": "ORDERS_ENRICHED", "message": "gone"}
    async with client_for(emu) as http:
        broken = await http.post("/_emulator/datasets/broken", json=body)
        after_break = dataset.load_failure
        repaired = await http.post("/_emulator/datasets/broken", json={**body, "broken": False, "message": None})
        unknown = await http.post("/_emulator/datasets/broken", json={**body, "dataset": "NO_SUCH_TABLE"})
        incomplete = await http.post("/_emulator/datasets/broken", json={"projectId": project_id})
    assert broken.status_code == 204 and after_break == "gone"
    assert repaired.status_code == 204 and dataset.load_failure is None
    assert unknown.status_code == 400 and "NO_SUCH_TABLE" in unknown.json()["errors"][0]["detail"]
    assert incomplete.status_code == 400 and "'taskId'" in incomplete.json()["errors"][0]["detail"]
