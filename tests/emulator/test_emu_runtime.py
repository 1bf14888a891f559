"""Task runs, readiness and dataset state on a manual clock."""

from __future__ import annotations

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.emulator import Emulator


def task_url(emu: Emulator, project: str, task: str) -> str:
    project_id = emu.project_id(project)
    return f"{API}/{project_id}/di-tasks/{emu.task_id(project_id, task)}"


async def state(http: httpx.AsyncClient, url: str) -> dict:
    response = await http.get(f"{url}/runtime/state")
    assert response.status_code == 200
    return response.json()


async def datasets(http: httpx.AsyncClient, url: str) -> list[dict]:
    response = await http.get(f"{url}/runtime/state/datasets")
    assert response.status_code == 200
    return response.json()["datasets"]


@pytest.mark.anyio
async def test_full_load_task_starts_runs_loads_and_completes(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CUSTOMER TRANSFORM")
    async with client_for(emu) as http:
        before = await state(http, url)
        assert "lastRun" not in before and before["runReadiness"]["state"] == "READY_TO_RUN"
        assert {d["dataReadiness"] for d in await datasets(http, url)} == {"NOT_READY"}

        started = await http.post(f"{url}/runtime/actions/start")
        assert started.status_code == 204 and started.content == b""
        starting = await state(http, url)
        assert starting["lastRun"]["state"] == "STARTING"
        assert starting["runReadiness"]["state"] == "ALREADY_RUNNING"

        emu.clock.advance(2.5)
        running = await state(http, url)
        assert running["lastRun"]["state"] == "RUNNING"
        load = running["lastRun"]["fullLoad"]
        assert load["loadingCount"] + load["queuedCount"] == 3 and load["completedCount"] == 0
        loading = [d for d in await datasets(http, url) if d["fullLoad"]["state"] == "LOADING"]
        assert loading and all(0 < d["fullLoad"]["totalProcessedCount"] for d in loading)
        emu.clock.advance(0.5)
        later = {d["datasetId"]: d for d in await datasets(http, url)}
        for dataset in loading:  # counts rise between two reads
            now = later[dataset["datasetId"]]["fullLoad"]
            assert (
                now["state"] == "COMPLETED" or now["totalProcessedCount"] > dataset["fullLoad"]["totalProcessedCount"]
            )

        emu.clock.advance(30)
        done = await state(http, url)
        final = await datasets(http, url)
    run = done["lastRun"]
    assert run["state"] == "COMPLETED" and run["endTime"] >= run["startTime"]
    assert len(run["duration"].split(":")) == 3
    assert run["fullLoad"] == {"errorCount": 0, "queuedCount": 0, "loadingCount": 0, "completedCount": 3}
    assert run["general"]["datasetCount"] == 3 and run["general"]["datasetsInErrorCount"] == 0
    assert done["runReadiness"]["state"] == "READY_TO_RUN"
    assert {d["dataReadiness"] for d in final} == {"READY"}
    assert all(d["fullLoad"]["state"] == "COMPLETED" and d["fullLoad"]["totalProcessedCount"] > 0 for d in final)
    assert all("cdcStatus" not in d for d in final)
    assert emu.counters["start_task"] == 1


@pytest.mark.anyio
async def test_cdc_task_finishes_full_load_and_keeps_running_with_moving_counters(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "ERP LANDING")
    async with client_for(emu) as http:
        assert (await http.post(f"{url}/runtime/actions/start", json={})).status_code == 204
        emu.clock.advance(120)
        first = await state(http, url)
        emu.clock.advance(60)
        second = await state(http, url)
        per_dataset = await datasets(http, url)
    assert first["lastRun"]["state"] == second["lastRun"]["state"] == "RUNNING"
    assert second["lastRun"]["fullLoad"]["completedCount"] == len(per_dataset) == 5
    assert (
        second["lastRun"]["cdcStatus"]["totalProcessedCount"] > first["lastRun"]["cdcStatus"]["totalProcessedCount"] > 0
    )
    assert second["lastRun"]["cdcStatus"]["latency"].count(":") == 2
    assert "endTime" not in second["lastRun"]
    for dataset in per_dataset:
        assert dataset["sourceName"] == dataset["name"] and dataset["dataReadiness"] == "READY"
        assert dataset["cdcStatus"]["state"] == "PROCESSING" and dataset["cdcStatus"]["totalProcessedCount"] > 0


@pytest.mark.anyio
async def test_stop_goes_through_stopping_to_canceled(emu: Emulator) -> None:
    url = task_url(emu, "Orders replication", "ORDERS REPLICATION")
    async with client_for(emu) as http:
        assert (await state(http, url))["lastRun"]["state"] == "RUNNING"
        assert (await http.post(f"{url}/runtime/actions/stop")).status_code == 204
        stopping = await state(http, url)
        emu.clock.advance(2)
        stopped = await state(http, url)
        emu.clock.advance(60)
        later = await state(http, url)
        again = await http.post(f"{url}/runtime/actions/stop")
    assert stopping["lastRun"]["state"] == "STOPPING" and stopping["runReadiness"]["state"] == "ALREADY_RUNNING"
    assert stopped["lastRun"]["state"] == "CANCELED" and "endTime" in stopped["lastRun"]
    assert stopped["runReadiness"]["state"] == "READY_TO_RUN"
    # a stopped CDC task's counters no longer move
    assert (
        later["lastRun"]["cdcStatus"]["totalProcessedCount"] == stopped["lastRun"]["cdcStatus"]["totalProcessedCount"]
    )
    assert again.status_code == 400 and "not running" in again.json()["errors"][0]["detail"]
    assert emu.counters["stop_task"] == 1


@pytest.mark.anyio
async def test_stopping_during_full_load_leaves_datasets_to_load_next_time(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "SALES MART")
    async with client_for(emu) as http:
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(3)
        await http.post(f"{url}/runtime/actions/stop")
        emu.clock.advance(60)
        interrupted = await datasets(http, url)
        assert (await state(http, url))["lastRun"]["state"] == "CANCELED"
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(60)
        rerun = await state(http, url)
    assert all(d["dataReadiness"] == "NOT_READY" for d in interrupted)
    assert any("Interrupted" in d["fullLoad"].get("message", "") for d in interrupted)
    assert rerun["lastRun"]["state"] == "COMPLETED" and rerun["lastRun"]["fullLoad"]["completedCount"] == 4


@pytest.mark.anyio
async def test_start_of_a_never_prepared_task_is_refused_with_the_readiness_message(emu: Emulator) -> None:
    url = task_url(emu, "Sales QVD", "SALES QVD STORAGE")
    async with client_for(emu) as http:
        readiness = (await state(http, url))["runReadiness"]
        response = await http.post(f"{url}/runtime/actions/start")
        stop_idle = await http.post(f"{url}/runtime/actions/stop")
    assert readiness["state"] == "NOT_RUNNABLE" and "not been prepared" in readiness["message"]
    assert response.status_code == 400 and "not been prepared" in response.json()["errors"][0]["detail"]
    assert stop_idle.status_code == 400 and "never run" in stop_idle.json()["errors"][0]["detail"]
    assert emu.counters["start_task"] == 0 and emu.counters["stop_task"] == 0


@pytest.mark.anyio
async def test_start_of_a_running_task_is_refused(emu: Emulator) -> None:
    url = task_url(emu, "Orders replication", "ORDERS REPLICATION")
    async with client_for(emu) as http:
        response = await http.post(f"{url}/runtime/actions/start")
    assert response.status_code == 400 and "already running" in response.json()["errors"][0]["detail"]


@pytest.mark.anyio
async def test_idle_completed_task_reruns_with_an_incremental_batch(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM LANDING")
    async with client_for(emu) as http:
        previous = (await state(http, url))["lastRun"]
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(10)
        rerun = (await state(http, url))["lastRun"]
    assert previous["state"] == "COMPLETED" and rerun["state"] == "COMPLETED"
    assert rerun["traceId"] != previous["traceId"]
    assert rerun["fullLoad"]["completedCount"] == 0 and rerun["lastBatchOfChanges"]["totalProcessedCount"] > 0


@pytest.mark.anyio
async def test_run_options_apply_to_replication_tasks_only(emu: Emulator) -> None:
    replication = task_url(emu, "Orders replication", "ORDERS REPLICATION")
    landing = task_url(emu, "Customer 360", "ERP LANDING")
    option = {"option": "PROCESS_CHANGES_FROM_TIMESTAMP", "processChangesFrom": "2025-03-01T08:00:00Z"}
    async with client_for(emu) as http:
        not_replication = await http.post(f"{landing}/runtime/actions/start", json=option)
        await http.post(f"{replication}/runtime/actions/stop")
        emu.clock.advance(5)
        bad_time = await http.post(
            f"{replication}/runtime/actions/start", json={**option, "processChangesFrom": "yesterday"}
        )
        bad_option = await http.post(f"{replication}/runtime/actions/start", json={"option": "REWIND"})
        missing_from = await http.post(f"{replication}/runtime/actions/start", json={"option": option["option"]})
        accepted = await http.post(f"{replication}/runtime/actions/start", json=option)
        run = (await state(http, replication))["lastRun"]
    assert not_replication.status_code == 400
    assert not_replication.json()["errors"][0]["source"] == {"pointer": "/option"}
    assert "REPLICATION" in not_replication.json()["errors"][0]["detail"]
    assert bad_time.status_code == 400 and bad_time.json()["errors"][0]["source"] == {"pointer": "/processChangesFrom"}
    assert bad_option.status_code == 400 and missing_from.status_code == 400
    assert accepted.status_code == 204
    assert "PROCESS_CHANGES_FROM_TIMESTAMP" in run["message"] and "2025-03-01T08:00:00Z" in run["message"]


@pytest.mark.anyio
async def test_demo_storage_task_has_a_dataset_in_error(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        run = (await state(http, url))["lastRun"]
        per_dataset = await datasets(http, url)
    in_error = [d for d in per_dataset if d["dataReadiness"] == "ERROR"]
    assert run["general"]["datasetsInErrorCount"] == len(in_error) == 1
    assert run["fullLoad"]["errorCount"] == 1 and run["fullLoad"]["completedCount"] == len(per_dataset) - 1
    assert "cannot be converted" in in_error[0]["fullLoad"]["message"]
    assert in_error[0]["name"] in run["errors"][0]["title"]


@pytest.mark.anyio
async def test_request_reload_is_applied_by_the_next_run(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        broken = next(d for d in await datasets(http, url) if d["dataReadiness"] == "ERROR")
        # without a reload request, a new run leaves the dataset in error
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(30)
        assert (
            next(d for d in await datasets(http, url) if d["datasetId"] == broken["datasetId"])["dataReadiness"]
            == "ERROR"
        )

        body = {"reloadStrategy": "NONE", "selectedDatasets": [{"datasetId": broken["datasetId"]}]}
        reload = await http.post(f"{url}/actions/request-reload", json=body)
        assert reload.status_code == 200 and reload.json() == {"success": True}
        unchanged = next(d for d in await datasets(http, url) if d["datasetId"] == broken["datasetId"])
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(30)
        run = (await state(http, url))["lastRun"]
        fixed = next(d for d in await datasets(http, url) if d["datasetId"] == broken["datasetId"])
    assert unchanged["dataReadiness"] == "ERROR"  # a reload waits for the next run
    assert run["state"] == "COMPLETED" and run["fullLoad"]["completedCount"] == 1
    assert run["general"]["datasetsInErrorCount"] == 0
    assert fixed["dataReadiness"] == "READY" and fixed["fullLoad"]["state"] == "COMPLETED"
    assert emu.counters["request_task_reload"] == 1


@pytest.mark.anyio
async def test_truncate_reload_resets_counts_and_readiness_of_cdc_datasets(emu: Emulator) -> None:
    url = task_url(emu, "Orders replication", "ORDERS REPLICATION")
    async with client_for(emu) as http:
        before = {d["datasetId"]: d for d in await datasets(http, url)}
        await http.post(
            f"{url}/actions/request-reload",
            json={"reloadStrategy": "TRUNCATE", "selectedDatasets": [{"datasetId": "orders"}]},
        )
        await http.post(f"{url}/runtime/actions/stop")
        emu.clock.advance(5)
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(2.5)
        reloading = {d["datasetId"]: d for d in await datasets(http, url)}
        emu.clock.advance(30)
        reloaded = {d["datasetId"]: d for d in await datasets(http, url)}
    assert before["orders"]["cdcStatus"]["totalProcessedCount"] > 0
    assert reloading["orders"]["dataReadiness"] == "NOT_READY"
    assert reloading["customers"]["dataReadiness"] == "READY"  # not selected: untouched
    assert reloaded["orders"]["dataReadiness"] == "READY"
    assert reloaded["orders"]["cdcStatus"]["totalProcessedCount"] < before["orders"]["cdcStatus"]["totalProcessedCount"]
    assert (
        reloaded["customers"]["cdcStatus"]["totalProcessedCount"]
        >= before["customers"]["cdcStatus"]["totalProcessedCount"]
    )


@pytest.mark.anyio
async def test_request_reload_without_selection_reloads_every_dataset(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "ERP STORAGE")
    async with client_for(emu) as http:
        assert (await http.post(f"{url}/actions/request-reload", json={})).status_code == 200
        await http.post(f"{url}/runtime/actions/start")
        emu.clock.advance(60)
        run = (await state(http, url))["lastRun"]
    assert run["fullLoad"]["completedCount"] == run["general"]["datasetCount"] == 5


@pytest.mark.anyio
async def test_request_reload_rejects_unknown_datasets_and_strategies(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "ERP STORAGE")
    async with client_for(emu) as http:
        unknown = await http.post(f"{url}/actions/request-reload", json={"selectedDatasets": [{"datasetId": "nope"}]})
        strategy = await http.post(f"{url}/actions/request-reload", json={"reloadStrategy": "WIPE"})
    assert unknown.status_code == 400 and "'nope'" in unknown.json()["errors"][0]["detail"]
    assert strategy.status_code == 400 and strategy.json()["errors"][0]["source"] == {"pointer": "/reloadStrategy"}
    assert emu.counters["request_task_reload"] == 0


@pytest.mark.anyio
async def test_runtime_routes_404_for_unknown_task(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        for path in ("runtime/state", "runtime/state/datasets"):
            response = await http.get(f"{API}/{project_id}/di-tasks/ghost/{path}")
            assert response.status_code == 404 and "ghost" in response.json()["errors"][0]["detail"]
        start = await http.post(f"{API}/{project_id}/di-tasks/ghost/runtime/actions/start")
    assert start.status_code == 404
