"""The run-history tools through a real MCP client against the emulator: qdi_list_task_runs (agent-shaped filters
mapped to Qlik's, cursor paging), qdi_get_task_run and qdi_get_task_run_datasets (404 and 410 as next steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, Stack, call_ok, open_stack

from qdi_mcp.emulator import run_history

pytestmark = pytest.mark.anyio


def crm_storage(stack: Stack) -> dict[str, str]:
    return {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, "CRM STORAGE")}


async def call_error(stack: Stack, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await stack.mcp.call_tool(tool, args)
    assert result.is_error
    error: dict[str, Any] = result.structured_content["error"]
    return error


async def test_the_latest_run_and_its_dataset_error_answer_why_it_failed(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        task = crm_storage(stack)
        listed = await call_ok(stack, "qdi_list_task_runs", task)
        latest = listed["runs"][0]
        assert latest["status"] == "COMPLETED" and latest["datasets_error_count"] == 1
        assert listed["next_cursor"] is None  # four runs fit the default page

        run = await call_ok(stack, "qdi_get_task_run", {**task, "run_id": latest["run_id"]})
        assert run["state"] == "COMPLETED" and run["run"]["errors"][0]["code"] == "DATASET_ERROR"

        datasets = await call_ok(stack, "qdi_get_task_run_datasets", {**task, "run_id": latest["run_id"]})
        assert datasets["by_readiness"] == {"READY": 3, "NOT_READY": 0, "ERROR": 1}
        (error,) = datasets["in_error"]
        assert error["name"] == "User" and "TIMESTAMP_NTZ" in error["message"]
        assert "datasets" not in datasets
        detailed = await call_ok(
            stack, "qdi_get_task_run_datasets", {**task, "run_id": latest["run_id"], "detail": True}
        )
        assert len(detailed["datasets"]) == 4


async def test_status_since_until_and_limit_become_qliks_filters_and_the_cursor_pages(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        task = crm_storage(stack)
        everything = [r["run_id"] for r in (await call_ok(stack, "qdi_list_task_runs", task))["runs"]]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await call_ok(
                stack, "qdi_list_task_runs", {**task, "limit": 3, **({"cursor": cursor} if cursor else {})}
            )
            seen += [r["run_id"] for r in page["runs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything

        runs = (await call_ok(stack, "qdi_list_task_runs", task))["runs"]
        newest, second = runs[0], runs[1]
        only_newest = await call_ok(stack, "qdi_list_task_runs", {**task, "since": newest["start_time"]})
        assert [r["run_id"] for r in only_newest["runs"]] == [newest["run_id"]]
        before_newest = await call_ok(stack, "qdi_list_task_runs", {**task, "until": second["start_time"]})
        assert [r["run_id"] for r in before_newest["runs"]] == everything[1:]
        window = {"since": second["start_time"], "until": newest["start_time"]}
        assert len((await call_ok(stack, "qdi_list_task_runs", {**task, **window}))["runs"]) == 2
        failed = await call_ok(stack, "qdi_list_task_runs", {**task, "status": ["FAILED", "MISFIRED"]})
        assert failed["runs"] == []

        orders = {"project_id": stack.project_id(ORDERS), "task_id": stack.task_id(ORDERS, "ORDERS REPLICATION")}
        canceled = await call_ok(stack, "qdi_list_task_runs", {**orders, "status": ["CANCELED"]})
        assert canceled["runs"] and {r["status"] for r in canceled["runs"]} == {"CANCELED"}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01T00:00:00Z"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": ["DONE"]}, "status/0"),
    ],
)
async def test_bad_input_is_an_argument_error_before_any_request(
    tmp_path: Path, arguments: dict[str, Any], field: str
) -> None:
    async with open_stack(tmp_path) as stack:
        task = crm_storage(stack)
        before = stack.reads_and_writes()
        error = await call_error(stack, "qdi_list_task_runs", {**task, **arguments})
        assert error["code"] == "invalid_arguments" and error["field"] == field
        assert stack.reads_and_writes() == before


async def test_an_unknown_run_id_points_at_qdi_list_task_runs(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        task = crm_storage(stack)
        for tool in ("qdi_get_task_run", "qdi_get_task_run_datasets"):
            error = await call_error(stack, tool, {**task, "run_id": "no-such-run"})
            assert error["code"] == "not_found" and error["http_status"] == 404
            assert "qdi_list_task_runs" in error["hint"] and repr(task["task_id"]) in error["hint"]


async def test_a_purged_run_says_its_dataset_state_is_gone(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        task = crm_storage(stack)
        oldest = (await call_ok(stack, "qdi_list_task_runs", task))["runs"][-1]["run_id"]
        stack.emulator.clock.advance(run_history.DATASET_STATE_RETENTION_SECONDS)  # type: ignore[attr-defined]
        error = await call_error(stack, "qdi_get_task_run_datasets", {**task, "run_id": oldest})
        assert error["code"] == "gone" and error["http_status"] == 410
        assert "purged" in error["message"] and "qdi_get_task_run" in error["hint"]
        # the run's own record is still there
        assert (await call_ok(stack, "qdi_get_task_run", {**task, "run_id": oldest}))["state"] == "COMPLETED"
