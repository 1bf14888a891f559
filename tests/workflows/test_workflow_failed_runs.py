"""A run that fails, end to end through a real MCP client: the emulator breaks a dataset's source
(`Emulator.set_dataset_broken`), and the tools report the FAILED run, point at the datasets, and show the
dataset in error and the task failed."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from qdi_testkit import CUSTOMER_360, Stack, call_ok, open_stack

from qdi_mcp.specs import get_spec

pytestmark = pytest.mark.anyio

BROKEN = "ORDERS_ENRICHED"
MESSAGE = "Table 'ORDERS_ENRICHED' does not exist in the source database."


def broken_task(stack: Stack, task: str = "CUSTOMER TRANSFORM", dataset: str = BROKEN) -> dict[str, str]:
    args = {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, task)}
    stack.emulator.set_dataset_broken(args["project_id"], args["task_id"], dataset)
    return args


async def test_start_and_wait_reports_the_failed_run_with_its_errors_and_points_at_the_datasets(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        args = broken_task(stack)
        result = await stack.mcp.call_tool("qdi_start_task_and_wait", args)
        body = result.structured_content
        assert not result.is_error, result.content[0].text
        jsonschema.validate(body, get_spec("qdi_start_task_and_wait").output_schema)
        assert body["state"] == "FAILED" == stack.emulator.task_run_state(**args)
        assert body["timed_out"] is False and body["readiness"] == "READY_TO_RUN"
        error = {"code": "DATASET_ERROR", "title": f"Dataset {BROKEN} is in error", "detail": MESSAGE}
        assert body["errors"] == [error]
        assert body["message"].startswith("The task failed") and BROKEN in body["message"]
        assert body["full_load"]["error_count"] == 1 and body["full_load"]["completed_count"] == 2
        assert "qdi_get_task_datasets_state" in body["hint"] and "failed" in body["hint"]
        assert "FAILED" in result.content[0].text


async def test_datasets_state_shows_the_dataset_in_error_with_its_message(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = broken_task(stack)
        await call_ok(stack, "qdi_start_task_and_wait", args)
        body = await call_ok(stack, "qdi_get_task_datasets_state", {**args, "detail": True})
    assert body["by_readiness"]["ERROR"] == 1 and body["by_readiness"]["READY"] == 2
    assert body["in_error"] == [{"dataset_id": "orders_enriched-tzh9", "name": BROKEN, "message": MESSAGE}]
    detailed = next(d for d in body["datasets"] if d["name"] == BROKEN)
    assert detailed["data_readiness"] == "ERROR" and detailed["full_load"]["state"] == "ERROR"


async def test_project_status_shows_the_task_failed_with_its_dataset_in_error(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = broken_task(stack)
        await call_ok(stack, "qdi_start_task_and_wait", args)
        body = await call_ok(stack, "qdi_get_project_status", {"project_id": args["project_id"]})
    row = next(t for t in body["tasks"] if t["task_id"] == args["task_id"])
    assert row["state"] == "FAILED" and row["status"] == "failed" and row["datasets_in_error"] == 1
    assert body["counts"]["failed"] == 1
    assert "1 failed (CUSTOMER TRANSFORM: 1 dataset in error)" in body["summary"]


async def test_cdc_task_with_a_failed_full_load_is_reported_failed_not_running(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = broken_task(stack, "ERP LANDING", "orders")
        body = await call_ok(stack, "qdi_start_task_and_wait", args)
    assert body["state"] == "FAILED" and body["timed_out"] is False
    assert [e["title"] for e in body["errors"]] == ["Dataset orders is in error"]
    assert "qdi_get_task_datasets_state" in body["hint"]


async def test_after_repair_a_new_run_completes_and_the_dataset_is_ready(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = broken_task(stack)
        failed = await call_ok(stack, "qdi_start_task_and_wait", args)
        stack.emulator.set_dataset_broken(args["project_id"], args["task_id"], BROKEN, broken=False)
        repaired = await call_ok(stack, "qdi_start_task_and_wait", args)
        datasets = await call_ok(stack, "qdi_get_task_datasets_state", args)
    assert failed["state"] == "FAILED"
    assert repaired["state"] == "COMPLETED" and repaired["errors"] == [] and "completed" in repaired["hint"]
    assert datasets["in_error"] == [] and datasets["by_readiness"]["READY"] == 3
