"""Run history: every run keeps a runId and a record, searchable and readable after it ended (run_history.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.emulator import Emulator, run_history

pytestmark = pytest.mark.anyio


def task_url(emu: Emulator, project: str, task: str) -> str:
    project_id = emu.project_id(project)
    return f"{API}/{project_id}/di-tasks/{emu.task_id(project_id, task)}"


async def search(http: httpx.AsyncClient, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await http.post(f"{url}/runtime/runs/actions/search", json=body or {})
    assert response.status_code == 200, response.text
    return response.json()


async def get_json(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_demo_history_ends_in_the_current_run_with_its_dataset_error(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        runs = (await search(http, url))["runs"]
        current = (await get_json(http, f"{url}/runtime/state"))["lastRun"]
        newest = runs[0]
        # newest first, and the newest is the run the task's runtime state shows
        assert [r["startTime"] for r in runs] == sorted((r["startTime"] for r in runs), reverse=True)
        assert len(runs) == 1 + run_history_nights()
        assert (newest["status"], newest["startTime"], newest["endTime"]) == (
            current["state"],
            current["startTime"],
            current["endTime"],
        )
        assert newest["datasetsCount"] == 4 and newest["datasetsErrorCount"] == 1
        assert all(r["datasetsErrorCount"] == 0 and r["status"] == "COMPLETED" for r in runs[1:])

        run_state = await get_json(http, f"{url}/runtime/runs/{newest['runId']}/state")
        assert run_state["lastRun"] == current and run_state["runReadiness"]["state"] == "READY_TO_RUN"
        datasets = (await get_json(http, f"{url}/runtime/runs/{newest['runId']}/state/datasets"))["datasets"]
        in_error = [d for d in datasets if d["dataReadiness"] == "ERROR"]
        assert [d["name"] for d in in_error] == ["User"]
        assert "cannot be converted to TIMESTAMP_NTZ" in in_error[0]["fullLoad"]["message"]

        older = await get_json(http, f"{url}/runtime/runs/{runs[1]['runId']}/state")
        assert "runReadiness" not in older  # a past run does not speak for the task today
        assert older["lastRun"]["general"]["datasetsInErrorCount"] == 0


def run_history_nights() -> int:
    from qdi_mcp.emulator.seeding import HISTORY_NIGHTS

    return HISTORY_NIGHTS


async def test_the_demo_cdc_task_was_stopped_before_and_an_unprepared_task_misfired(emu: Emulator) -> None:
    async with client_for(emu) as http:
        orders = (await search(http, task_url(emu, "Orders replication", "ORDERS REPLICATION")))["runs"]
        assert [r["status"] for r in orders] == ["RUNNING"] + ["CANCELED"] * run_history_nights()
        assert "endTime" not in orders[0] and all(r["endTime"] < orders[0]["startTime"] for r in orders[1:])
        landing = (await search(http, task_url(emu, "Sales QVD", "SALES LANDING")))["runs"]
        assert [r["status"] for r in landing] == ["MISFIRED"]
        assert "has not been prepared" in landing[0]["errorMessage"] and landing[0]["datasetsCount"] == 0
        # a task never run has no history
        assert (await search(http, task_url(emu, "Customer 360", "SALES MART"))) == {
            "runs": [],
            "nextPageExists": False,
        }


async def test_a_run_is_recorded_live_and_frozen_at_its_end(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CUSTOMER TRANSFORM")
    async with client_for(emu) as http:
        assert (await http.post(f"{url}/runtime/actions/start")).status_code == 204
        first = (await search(http, url))["runs"]
        assert [r["status"] for r in first] == ["STARTING"] and "endTime" not in first[0]
        run_id = first[0]["runId"]
        emu.clock.advance(120)
        done = (await search(http, url))["runs"][0]
        assert (done["runId"], done["status"], done["datasetsErrorCount"]) == (run_id, "COMPLETED", 0)
        frozen = await get_json(http, f"{url}/runtime/runs/{run_id}/state/datasets")
        assert {d["dataReadiness"] for d in frozen["datasets"]} == {"READY"}

        # a recreate empties the task's tables; the finished run's record keeps what that run did
        assert (await http.post(f"{url}/actions/recreate-datasets", json={})).status_code == 202
        emu.clock.advance(600)
        assert {d["dataReadiness"] for d in (await get_json(http, f"{url}/runtime/state/datasets"))["datasets"]} == {
            "NOT_READY"
        }
        assert await get_json(http, f"{url}/runtime/runs/{run_id}/state/datasets") == frozen


async def test_a_stop_cancels_the_run_and_a_broken_source_fails_it(emu: Emulator) -> None:
    orders = task_url(emu, "Orders replication", "ORDERS REPLICATION")
    transform = task_url(emu, "Customer 360", "CUSTOMER TRANSFORM")
    project_id = emu.project_id("Customer 360")
    emu.set_dataset_broken(project_id, emu.task_id(project_id, "CUSTOMER TRANSFORM"), "ORDERS_ENRICHED")
    async with client_for(emu) as http:
        assert (await http.post(f"{orders}/runtime/actions/stop")).status_code == 204
        assert (await search(http, orders))["runs"][0]["status"] == "RUNNING"  # STOPPING is still running
        assert (await http.post(f"{transform}/runtime/actions/start")).status_code == 204
        emu.clock.advance(600)
        stopped = (await search(http, orders))["runs"][0]
        assert stopped["status"] == "CANCELED" and "errorMessage" not in stopped
        failed = (await search(http, transform))["runs"][0]
        assert failed["status"] == "FAILED" and failed["datasetsErrorCount"] == 1
        assert "ORDERS_ENRICHED" in failed["errorMessage"]


async def test_search_pages_by_last_id_until_no_page_is_left(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM LANDING")
    async with client_for(emu) as http:
        everything = (await search(http, url))["runs"]
        seen: list[str] = []
        body: dict[str, Any] = {"limit": 1}
        while True:
            page = await search(http, url, body)
            assert len(page["runs"]) == 1 and page["lastId"] == page["runs"][0]["runId"]
            seen.append(page["lastId"])
            if not page["nextPageExists"]:
                break
            body = {"limit": 1, "lastId": page["lastId"]}
        assert seen == [r["runId"] for r in everything] and len(seen) == 4


async def test_search_filters_by_status_id_and_period(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        runs = (await search(http, url))["runs"]
        newest, oldest = runs[0], runs[-1]

        async def ids(*filters: dict[str, Any]) -> list[str]:
            return [r["runId"] for r in (await search(http, url, {"filters": list(filters)}))["runs"]]

        assert await ids({"field": "STATUS", "operator": "IN", "value": ["FAILED", "MISFIRED"]}) == []
        assert len(await ids({"field": "STATUS", "operator": "NOT_IN", "value": ["FAILED"]})) == len(runs)
        assert await ids({"field": "ID", "operator": "IN", "value": [oldest["runId"]]}) == [oldest["runId"]]
        period = {"field": "PERIOD", "operator": "BETWEEN", "value": [newest["startTime"], "2999-01-01T00:00:00Z"]}
        assert await ids(period) == [newest["runId"]]
        assert await ids({"field": "SUB_STATUS", "operator": "IN", "value": ["x"]}) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"filters": [{"field": "STATUS", "operator": "BETWEEN", "value": ["a", "b"]}]}, "/filters/0"),
        ({"filters": [{"field": "PERIOD", "operator": "IN", "value": ["2025-01-01T00:00:00Z"]}]}, "/filters/0"),
        (
            {"filters": [{"field": "PERIOD", "operator": "BETWEEN", "value": ["2025-01-01T00:00:00Z"]}]},
            "/filters/0/value",
        ),
        (
            {"filters": [{"field": "PERIOD", "operator": "BETWEEN", "value": ["yesterday", "today"]}]},
            "/filters/0/value",
        ),
        (
            {
                "filters": [
                    {
                        "field": "PERIOD",
                        "operator": "BETWEEN",
                        "value": ["2025-02-01T00:00:00Z", "2025-01-01T00:00:00Z"],
                    }
                ]
            },
            "/filters/0/value",
        ),
        ({"filters": [{"field": "OWNER", "operator": "IN", "value": ["x"]}]}, "/filters/0/field"),
        ({"filters": [{"field": "STATUS", "operator": "IN", "value": ["DONE"]}]}, "/filters/0/value"),
        ({"filters": [{"field": "STATUS", "operator": "IN", "value": []}]}, "/filters/0/value"),
        ({"filters": {"field": "STATUS"}}, "/filters"),
        ({"limit": 0}, "/limit"),
        ({"limit": 101}, "/limit"),
        ({"limit": "10"}, "/limit"),
        ({"lastId": "not-a-run"}, "/lastId"),
    ],
)
async def test_a_malformed_search_is_a_400_pointing_at_the_field(
    emu: Emulator, body: dict[str, Any], pointer: str
) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        response = await http.post(f"{url}/runtime/runs/actions/search", json=body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["source"]["pointer"] == pointer and response.json()["traceId"]


async def test_unknown_runs_and_tasks_are_404(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        for path in ("/state", "/state/datasets"):
            response = await http.get(f"{url}/runtime/runs/no-such-run{path}")
            assert response.status_code == 404
            assert response.json()["errors"][0]["source"] == {"parameter": "runId"}
        missing_task = await http.post(
            f"{API}/{emu.project_id('Customer 360')}/di-tasks/nope/runtime/runs/actions/search"
        )
        assert missing_task.status_code == 404


async def test_a_run_past_retention_keeps_its_record_but_its_datasets_are_gone(emu: Emulator) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    async with client_for(emu) as http:
        oldest = (await search(http, url))["runs"][-1]["runId"]
        assert (await http.get(f"{url}/runtime/runs/{oldest}/state/datasets")).status_code == 200
        emu.clock.advance(run_history.DATASET_STATE_RETENTION_SECONDS - 3 * 86400)
        gone = await http.get(f"{url}/runtime/runs/{oldest}/state/datasets")
        assert gone.status_code == 410 and "retention" in gone.json()["errors"][0]["detail"]
        assert (await http.get(f"{url}/runtime/runs/{oldest}/state")).status_code == 200
        newest = (await search(http, url))["runs"][0]["runId"]
        assert (await http.get(f"{url}/runtime/runs/{newest}/state/datasets")).status_code == 200


async def test_a_run_whose_dataset_state_is_too_large_is_413(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    url = task_url(emu, "Customer 360", "CRM STORAGE")
    monkeypatch.setattr(run_history, "MAX_DATASET_STATE_BYTES", 200)
    async with client_for(emu) as http:
        newest = (await search(http, url))["runs"][0]["runId"]
        response = await http.get(f"{url}/runtime/runs/{newest}/state/datasets")
    assert response.status_code == 413 and "size limit" in response.json()["errors"][0]["detail"]


async def test_a_scheduled_trigger_starts_a_ready_task_and_misfires_on_one_that_cannot_run(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    ready = emu.task_id(project_id, "SALES MART")
    async with client_for(emu) as http:
        started = await http.post("/_emulator/runs/scheduled", json={"projectId": project_id, "taskId": ready})
        assert started.status_code == 201 and started.json()["status"] == "STARTING"
        again = await http.post("/_emulator/runs/scheduled", json={"projectId": project_id, "taskId": ready})
        assert again.json()["status"] == "MISFIRED"  # already running: the schedule's next trigger misfires
        runs = (await search(http, task_url(emu, "Customer 360", "SALES MART")))["runs"]
        assert [r["status"] for r in runs] == ["MISFIRED", "STARTING"]
        assert "already running" in runs[0]["errorMessage"]
        # a misfire never becomes the task's lastRun (its state enum has no MISFIRED)
        assert emu.task_run_state(project_id, ready) == "STARTING"
        misfired = await get_json(
            http, f"{task_url(emu, 'Customer 360', 'SALES MART')}/runtime/runs/{runs[0]['runId']}/state/datasets"
        )
        assert misfired == {"datasets": []}
