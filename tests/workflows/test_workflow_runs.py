"""Start and stop "and wait", and the one-call project status, through a real MCP client against the emulator on
the virtual clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, SALES_QVD, Stack, call_ok, open_stack

pytestmark = pytest.mark.anyio


def task_args(stack: Stack, project: str, task: str) -> dict[str, str]:
    return {"project_id": stack.project_id(project), "task_id": stack.task_id(project, task)}


def runs_started(stack: Stack, args: dict[str, str]) -> int:
    return stack.emulator.tenant.projects[args["project_id"]].tasks[args["task_id"]].runs_started


# --- start and stop -------------------------------------------------------------------------------------


async def test_start_and_wait_runs_a_full_load_task_to_completed(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, CUSTOMER_360, "CUSTOMER TRANSFORM")
        datasets = len(stack.emulator.datasets(**args))
        body = await call_ok(stack, "qdi_start_task_and_wait", args)
        assert body["state"] == "COMPLETED" == stack.emulator.task_run_state(**args)
        assert body["timed_out"] is False
        assert body["full_load"]["completed_count"] == datasets
        assert body["full_load"]["queued_count"] == 0 and body["full_load"]["loading_count"] == 0
        assert body["readiness"] == "READY_TO_RUN"
        assert "completed" in body["hint"]
        assert {d["dataReadiness"] for d in stack.emulator.datasets(**args)} == {"READY"}


async def test_start_and_wait_does_not_mistake_the_previous_runs_completed_state_for_the_new_one(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, CUSTOMER_360, "CRM LANDING")
        assert stack.emulator.task_run_state(**args) == "COMPLETED", "the demo ran it an hour ago"
        before = stack.emulator.task_state(**args)["lastRun"]["startTime"]
        body = await call_ok(stack, "qdi_start_task_and_wait", args)
        assert runs_started(stack, args) == 2
        assert body["state"] == "COMPLETED"
        after = stack.emulator.task_state(**args)["lastRun"]
        assert after["startTime"] != before and after["state"] == "COMPLETED", "the answer is about the new run"


async def test_start_and_wait_returns_once_a_cdc_task_runs_steadily_with_its_full_load_done(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, CUSTOMER_360, "ERP LANDING")
        datasets = len(stack.emulator.datasets(**args))
        body = await call_ok(stack, "qdi_start_task_and_wait", args)
        assert body["state"] == "RUNNING" == stack.emulator.task_run_state(**args)
        assert body["timed_out"] is False
        assert body["full_load"]["completed_count"] == datasets
        assert body["full_load"]["queued_count"] == 0 and body["full_load"]["loading_count"] == 0
        assert "running steadily" in body["hint"]
        assert body["readiness"] == "ALREADY_RUNNING"


async def test_wait_until_finished_on_a_cdc_task_times_out_while_it_keeps_running(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, CUSTOMER_360, "ERP LANDING")
        body = await call_ok(stack, "qdi_start_task_and_wait", args | {"wait_until": "finished", "timeout_seconds": 60})
        assert body["timed_out"] is True
        assert body["state"] == "RUNNING" == stack.emulator.task_run_state(**args)
        assert body["elapsed_seconds"] >= 60
        assert "qdi_get_task_state" in body["hint"]


async def test_wait_until_running_on_a_full_load_task_waits_for_the_load_to_finish(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, CUSTOMER_360, "SALES MART")
        body = await call_ok(stack, "qdi_start_task_and_wait", args | {"wait_until": "running"})
        # A full-load task is never RUNNING with its load done: it completes when the load does.
        assert body["state"] == "COMPLETED" == stack.emulator.task_run_state(**args)
        assert body["full_load"]["queued_count"] == 0 and body["full_load"]["loading_count"] == 0


async def test_start_and_wait_of_a_task_that_is_not_prepared_is_an_error_with_a_hint(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, SALES_QVD, "SALES LANDING")
        result = await stack.mcp.call_tool("qdi_start_task_and_wait", args)
        assert result.is_error
        error = result.structured_content["error"]
        assert "cannot be started" in error["message"]
        assert error["hint"]
        assert runs_started(stack, args) == 0


async def test_stop_and_wait_stops_the_running_replication(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = task_args(stack, ORDERS, "ORDERS REPLICATION")
        assert stack.emulator.task_run_state(**args) == "RUNNING"
        body = await call_ok(stack, "qdi_stop_task_and_wait", args)
        assert body["state"] == "CANCELED" == stack.emulator.task_run_state(**args)
        assert body["timed_out"] is False
        assert body["readiness"] == "READY_TO_RUN"
        assert "qdi_start_task_and_wait" in body["hint"]


async def test_stop_and_wait_needs_the_token_and_then_a_restart_runs_steadily_again(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, ORDERS, "ORDERS REPLICATION")
        first = await stack.mcp.call_tool("qdi_stop_task_and_wait", args)
        assert first.structured_content["status"] == "confirmation_required"
        assert stack.emulator.task_run_state(**args) == "RUNNING"
        token = first.structured_content["confirmation_token"]
        stopped = await call_ok(stack, "qdi_stop_task_and_wait", args | {"confirmation_token": token})
        assert stopped["state"] == "CANCELED"

        restarted = await call_ok(stack, "qdi_start_task_and_wait", args)
        assert restarted["state"] == "RUNNING" == stack.emulator.task_run_state(**args)
        assert [r["outcome"] for r in stack.audit if r["tool"].endswith("_and_wait")] == [
            "confirmation_required",
            "started",
            "executed",
            "started",
            "executed",
        ]


# --- project status -------------------------------------------------------------------------------------


async def test_project_status_summarises_every_task_in_one_line(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        body = await call_ok(stack, "qdi_get_project_status", {"project_id": pid})
        assert body["project"]["id"] == pid and body["project"]["name"] == CUSTOMER_360
        assert body["summary"] == "6 tasks: 3 completed (CRM STORAGE: 1 dataset in error), 3 idle"
        assert body["counts"] == {"completed": 3, "idle": 3}
        rows = {row["name"]: row for row in body["tasks"]}
        assert set(rows) == {t["name"] for t in stack.emulator.tasks(pid)}
        for row in rows.values():
            assert row["state"] == stack.emulator.task_run_state(pid, row["task_id"])
            assert row["readiness"] == stack.emulator.task_readiness(pid, row["task_id"])
            assert "datasets" not in row
        assert rows["CRM STORAGE"]["datasets_in_error"] == 1
        assert sum(row["datasets_in_error"] for row in rows.values()) == 1
        text = (await stack.mcp.call_tool("qdi_get_project_status", {"project_id": pid})).content[0].text
        # Names are tenant text: fenced in the text, plain in the structured summary.
    fenced = "6 tasks: 3 completed (<qlik-data>CRM STORAGE</qlik-data>: 1 dataset in error), 3 idle"
    assert text.startswith(f"<qlik-data>{CUSTOMER_360}</qlik-data>: {fenced}")


async def test_project_status_with_detail_adds_each_tasks_datasets(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        body = await call_ok(stack, "qdi_get_project_status", {"project_id": pid, "detail": True})
        for row in body["tasks"]:
            expected = stack.emulator.datasets(pid, row["task_id"])
            assert [d["dataset_id"] for d in row["datasets"]] == [d["datasetId"] for d in expected]
        storage = next(row for row in body["tasks"] if row["name"] == "CRM STORAGE")
        assert [d["data_readiness"] for d in storage["datasets"]].count("ERROR") == 1


async def test_project_status_follows_what_the_waits_did(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        sales = stack.project_id(SALES_QVD)
        await call_ok(stack, "qdi_prepare_project_and_wait", {"project_id": sales})
        failed_prepare = await call_ok(stack, "qdi_get_project_status", {"project_id": sales})
        assert failed_prepare["summary"] == "2 tasks: 2 not prepared"

        orders = task_args(stack, ORDERS, "ORDERS REPLICATION")
        running = await call_ok(stack, "qdi_get_project_status", {"project_id": orders["project_id"]})
        assert running["summary"] == "1 task: 1 running"
        await call_ok(stack, "qdi_stop_task_and_wait", orders)
        stopped = await call_ok(stack, "qdi_get_project_status", {"project_id": orders["project_id"]})
        assert stopped["summary"] == "1 task: 1 stopped"
        assert stopped["counts"] == {"stopped": 1}
