"""Previews name what a destructive call touches (issue 16, item 5), through a real MCP client against the
emulator: the datasets a recreate or a TRUNCATE reload empties, the tasks a prepare with allow_recreate recreates,
whether a stopped task runs, its CDC latency and the tasks downstream of it. Names reach the confirmation message
fenced as tenant text and the elicitation question a person reads; nothing is sent before a yes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, Stack, open_stack

from qdi_mcp.tenant_text import plain

pytestmark = pytest.mark.anyio


def fenced(name: str) -> str:
    return f"<qlik-data>{name}</qlik-data>"


async def confirmation(stack: Stack, tool: str, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The preview of a call that was not confirmed, and the text the agent reads."""
    result = await stack.mcp.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    assert result.structured_content["status"] == "confirmation_required"
    return result.structured_content["preview"], result.content[0].text


def task_args(stack: Stack, task: str, **more: Any) -> dict[str, Any]:
    return {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, task), **more}


async def started(stack: Stack, args: dict[str, Any]) -> dict[str, Any]:
    """`args` of a task started first: a stop of a task that is not running asks nobody (tools.preconditions)."""
    result = await stack.mcp.call_tool("qdi_start_task", {"project_id": args["project_id"], "task_id": args["task_id"]})
    assert not result.is_error, result.content[0].text
    return args


@pytest.mark.parametrize("tool", ["qdi_recreate_task_datasets", "qdi_recreate_task_datasets_and_wait"])
async def test_a_recreate_preview_names_the_datasets_with_their_health_and_a_source_data_failure(
    tmp_path: Path, tool: str
) -> None:
    async with open_stack(tmp_path) as stack:
        # The demo's CRM STORAGE has one dataset (User) in ERROR: a value of the source that does not convert.
        preview, text = await confirmation(stack, tool, task_args(stack, "CRM STORAGE"))
        assert stack.emulator.counters["recreate_task_datasets"] == 0
    assert preview["check"] == {"dataset_count": 4, "source_data_failures": ["user-wrz0"]}
    ready = ", ".join(fenced(name) for name in ("Account", "Contact", "Opportunity"))
    assert f"Recreated: 4 datasets, ERROR: {fenced('User')}; READY: {ready}." in text
    assert "qdi_request_task_reload with dataset_ids " + fenced('["user-wrz0"]') in text
    assert "does not fix" in plain(preview["consequence"])


async def test_a_recreate_of_healthy_datasets_carries_no_source_data_note(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        preview, text = await confirmation(stack, "qdi_recreate_task_datasets", task_args(stack, "ERP STORAGE"))
    assert "source_data_failures" not in preview["check"]
    names = ("customers", "invoices", "order_lines", "orders", "products")
    assert "Recreated: 5 datasets, READY: " + ", ".join(fenced(name) for name in names) in text
    assert "source data" not in text


@pytest.mark.parametrize("tool", ["qdi_prepare_project", "qdi_prepare_project_and_wait"])
async def test_a_prepare_with_allow_recreate_names_the_tasks_the_tenant_says_need_recreation(
    tmp_path: Path, tool: str
) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        erp_storage = stack.task_id(CUSTOMER_360, "ERP STORAGE")
        # What an import of changed datasets leaves behind (emulator projects.py): the tables must be recreated.
        stack.emulator.tenant.projects[pid].tasks[erp_storage].recreate_required = True
        preview, text = await confirmation(stack, tool, {"project_id": pid, "allow_recreate": True})
        crm_landing = stack.task_id(CUSTOMER_360, "CRM LANDING")
        narrowed_args = {"project_id": pid, "allow_recreate": True, "selected_task_ids": [crm_landing]}
        narrowed, _ = await confirmation(stack, tool, narrowed_args)
        assert stack.emulator.counters["prepare_project"] == 0
    assert preview["check"] == {
        "checked_tasks": 6,
        "recreate_needed": [erp_storage],
    }
    assert f"need recreation: {fenced('ERP STORAGE')}." in text
    assert narrowed["check"] == {"checked_tasks": 1, "recreate_needed": []}
    assert "qdi_validate_project_and_wait tells for sure" in narrowed["consequence"]


async def test_a_task_prepare_with_allow_recreate_says_whether_that_task_needs_recreation(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, "ERP STORAGE", allow_recreate=True)
        before, _ = await confirmation(stack, "qdi_prepare_task_and_wait", args)
        # A prepare without allow_recreate is refused with RECREATE_REQUIRED once the datasets changed; the
        # task's run readiness then says why, and the next preview names the task.
        stack.emulator.tenant.projects[args["project_id"]].tasks[args["task_id"]].recreate_required = True
        after, text = await confirmation(stack, "qdi_prepare_task_and_wait", args)
    assert before["check"]["recreate_needed"] == []
    assert after["check"]["recreate_needed"] == [args["task_id"]]
    assert fenced("ERP STORAGE") in text


async def test_a_stop_preview_says_the_task_runs_its_cdc_latency_and_that_nothing_reads_it(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(ORDERS)
        args = {"project_id": pid, "task_id": stack.emulator.tasks(pid)[0]["id"]}
        preview, text = await confirmation(stack, "qdi_stop_task", args)
        assert stack.emulator.counters["stop_task"] == 0
    check = preview["check"]
    assert check["running"] is True and check["downstream"] == []
    assert check["cdc_latency"] and f"CDC latency {check['cdc_latency']}" in preview["current_state"]
    assert "No task of the project reads from it." in text


@pytest.mark.parametrize("tool", ["qdi_stop_task", "qdi_stop_task_and_wait"])
async def test_a_stop_preview_names_the_tasks_downstream_in_stage_order(tmp_path: Path, tool: str) -> None:
    async with open_stack(tmp_path) as stack:
        args = await started(stack, task_args(stack, "CRM LANDING"))
        preview, text = await confirmation(stack, tool, args)
    downstream = ["CRM STORAGE", "CUSTOMER TRANSFORM", "SALES MART"]
    assert preview["check"]["downstream"] == [stack.task_id(CUSTOMER_360, name) for name in downstream]
    assert "stop receiving new data: " + ", ".join(fenced(name) for name in downstream) in text


async def test_the_elicitation_question_names_the_downstream_tasks(tmp_path: Path) -> None:
    asked: list[str] = []

    async def decline(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="decline")

    async with open_stack(tmp_path, elicitation_callback=decline, mode="legacy") as stack:
        args = await started(stack, task_args(stack, "ERP LANDING"))
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert result.structured_content["status"] == "declined"
        assert stack.emulator.counters["stop_task"] == 0
    assert len(asked) == 1
    question = plain(asked[0])
    assert "ERP STORAGE" in question and "CUSTOMER TRANSFORM" in question and "SALES MART" in question


async def test_a_truncate_preview_names_the_emptied_datasets_and_the_tasks_that_read_them(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, "CRM STORAGE", reload_strategy="TRUNCATE")
        everything, text = await confirmation(stack, "qdi_request_task_reload", args)
        one, one_text = await confirmation(stack, "qdi_request_task_reload", args | {"dataset_ids": ["user-wrz0"]})
        assert stack.emulator.counters["request_task_reload"] == 0
    assert everything["check"]["dataset_count"] == 4 and one["check"]["dataset_count"] == 1
    assert f"Emptied: 4 datasets ({fenced('Account')}, " in text
    assert f"Emptied: 1 dataset ({fenced('User')})" in one_text
    for preview in (everything, one):
        assert preview["check"]["readers"] == [stack.task_id(CUSTOMER_360, "CUSTOMER TRANSFORM")]
    assert f"Tasks that read them: {fenced('CUSTOMER TRANSFORM')}." in one_text


async def test_a_truncate_of_datasets_the_task_does_not_have_is_refused_before_anyone_is_asked(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = task_args(stack, "CRM STORAGE", reload_strategy="TRUNCATE", dataset_ids=["user-wrz0", "d-7"])
        result = await stack.mcp.call_tool("qdi_request_task_reload", args)
        assert stack.emulator.counters["request_task_reload"] == 0
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "invalid_arguments" and "['d-7']" in error["message"]
    assert "qdi_get_task_datasets_state" in error["hint"]


async def test_a_preview_whose_project_design_cannot_be_read_says_so_and_still_asks(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        stack.emulator.faults.inject("export_project", "status", status=403)
        args = await started(stack, task_args(stack, "CRM LANDING"))
        preview, text = await confirmation(stack, "qdi_stop_task", args)
    assert preview["check"]["downstream"] is None
    assert "downstream of it are not known" in text
