"""The action waits (prepare, validate, recreate, wait_for_action) through a real MCP client against the emulator,
on the virtual clock: to COMPLETED, to FAILED (Sales QVD's landing has no source connection), timed out and
resumed, and the re-check at the deadline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from qdi_testkit import CUSTOMER_360, SALES_QVD, Stack, call_ok, open_stack

from qdi_mcp.specs import get_spec

pytestmark = pytest.mark.anyio

C360_TASKS = {"CRM LANDING", "ERP LANDING", "CRM STORAGE", "ERP STORAGE", "CUSTOMER TRANSFORM", "SALES MART"}


def target(stack: Stack, project: str, task: str | None) -> dict[str, str]:
    """The arguments of a project tool, or of a task tool when `task` is named."""
    args = {"project_id": stack.project_id(project)}
    if task is not None:
        args["task_id"] = stack.task_id(project, task)
    return args


def assert_matches_emulator(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """The wait's answer is what the emulator holds for the action, and the action really has ended."""
    action = stack.emulator.action(body["action_id"])
    assert body["state"] == action["state"]
    assert [(t["task_id"], t["state"]) for t in body["tasks"]] == [
        (d["taskId"], d["state"]) for d in action["taskDetails"]
    ]
    assert body["timed_out"] is False
    assert body["polls"] >= 1
    return action


async def test_prepare_project_and_wait_takes_customer_360_to_completed(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        body = await call_ok(stack, "qdi_prepare_project_and_wait", {"project_id": stack.project_id(CUSTOMER_360)})
        assert body["state"] == "COMPLETED"
        assert {t["name"] for t in body["tasks"]} == C360_TASKS
        assert all(t["state"] == "COMPLETED" and t["error_code"] is None for t in body["tasks"])
        assert body["task_progress"]["completed"] == 6 and body["task_progress"]["pending"] == 0
        assert body["error"] is None
        assert "qdi_start_task_and_wait" in body["hint"]
        assert_matches_emulator(stack, body)


async def test_prepare_project_and_wait_reports_the_failing_task_with_its_error_and_a_diagnosis_hint(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool("qdi_prepare_project_and_wait", {"project_id": stack.project_id(SALES_QVD)})
        assert not result.is_error, "a FAILED action is a successful wait"
        body = result.structured_content
        jsonschema.validate(body, get_spec("qdi_prepare_project_and_wait").output_schema)
        assert body["state"] == "FAILED"
        by_name = {t["name"]: t for t in body["tasks"]}
        landing = by_name["SALES LANDING"]
        assert landing["state"] == "FAILED"
        assert landing["error_code"] == "MISSING_CONNECTION"
        assert "sourceConnection" in landing["error_message"]
        assert by_name["SALES QVD STORAGE"]["state"] == "CANCELED", "its upstream failed, so it was not attempted"
        assert body["error"]["code"] == "MISSING_CONNECTION"
        hint = body["hint"]
        assert "SALES LANDING" in hint and landing["task_id"] in hint
        assert "qdi_get_bindings" in hint and "qdi_update_bindings" in hint
        # Qlik's text is said once, in the task's error_message: neither the hint nor the action's error repeats it.
        assert landing["error_message"] not in hint
        assert landing["error_message"] not in body["error"].values()
        assert "FAILED" in result.content[0].text
        assert_matches_emulator(stack, body)


@pytest.mark.parametrize(
    ("tool", "project", "task", "state"),
    [
        ("qdi_validate_project_and_wait", CUSTOMER_360, None, "COMPLETED"),
        ("qdi_validate_project_and_wait", SALES_QVD, None, "FAILED"),
        ("qdi_prepare_task_and_wait", CUSTOMER_360, "CRM LANDING", "COMPLETED"),
        ("qdi_prepare_task_and_wait", SALES_QVD, "SALES LANDING", "FAILED"),
        ("qdi_validate_task_and_wait", CUSTOMER_360, "SALES MART", "COMPLETED"),
        ("qdi_validate_task_and_wait", SALES_QVD, "SALES LANDING", "FAILED"),
    ],
)
async def test_validate_and_prepare_waits_end_in_the_actions_terminal_state(
    tmp_path: Path, tool: str, project: str, task: str | None, state: str
) -> None:
    async with open_stack(tmp_path) as stack:
        body = await call_ok(stack, tool, target(stack, project, task))
        assert body["state"] == state
        assert_matches_emulator(stack, body)
        failed = [t for t in body["tasks"] if t["state"] == "FAILED"]
        if state == "FAILED":
            assert failed and failed[0]["error_message"]
            assert "qdi_get_bindings" in body["hint"]
        else:
            assert not failed and body["error"] is None
        if state == "COMPLETED" and tool.startswith("qdi_validate_"):  # passed: points to the prepare of its scope
            assert body["hint"].startswith("validation passed")
            assert tool.replace("validate", "prepare") in body["hint"]


async def test_prepare_task_and_wait_marks_the_task_prepared(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(SALES_QVD)
        tid = stack.task_id(SALES_QVD, "SALES LANDING")
        variables = stack.emulator.bindings(pid)
        variables[f"task.{tid}.sourceConnection"] = "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
        await call_ok(stack, "qdi_update_bindings", {"project_id": pid, "variables": variables})
        assert stack.emulator.task_readiness(pid, tid) == "NOT_RUNNABLE"
        body = await call_ok(stack, "qdi_prepare_task_and_wait", {"project_id": pid, "task_id": tid})
        assert body["state"] == "COMPLETED"
        assert stack.emulator.task_readiness(pid, tid) == "READY_TO_RUN"


async def test_recreate_datasets_and_wait_resets_the_tasks_datasets(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "CRM STORAGE")
        assert any(d["dataReadiness"] != "NOT_READY" for d in stack.emulator.datasets(pid, tid))
        body = await call_ok(stack, "qdi_recreate_task_datasets_and_wait", {"project_id": pid, "task_id": tid})
        assert body["state"] == "COMPLETED"
        assert "qdi_start_task_and_wait" in body["hint"]
        assert_matches_emulator(stack, body)
        assert {d["dataReadiness"] for d in stack.emulator.datasets(pid, tid)} == {"NOT_READY"}


async def test_recreate_datasets_and_wait_fails_for_a_task_without_a_source_connection(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(SALES_QVD)
        tid = stack.task_id(SALES_QVD, "SALES LANDING")
        body = await call_ok(stack, "qdi_recreate_task_datasets_and_wait", {"project_id": pid, "task_id": tid})
        assert body["state"] == "FAILED"
        assert body["tasks"][0]["error_code"] == "MISSING_CONNECTION"
        assert "qdi_get_bindings" in body["hint"]


async def test_recreate_datasets_and_wait_runs_only_with_the_confirmation_token(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, "CRM STORAGE")}
        first = await stack.mcp.call_tool("qdi_recreate_task_datasets_and_wait", args)
        assert first.structured_content["status"] == "confirmation_required"
        assert stack.emulator.counters["recreate_task_datasets"] == 0
        token = first.structured_content["confirmation_token"]
        body = await call_ok(stack, "qdi_recreate_task_datasets_and_wait", args | {"confirmation_token": token})
        assert body["state"] == "COMPLETED"
        assert stack.emulator.counters["recreate_task_datasets"] == 1


async def test_a_prepare_that_times_out_names_the_action_and_wait_for_action_finishes_it(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        result = await stack.mcp.call_tool("qdi_prepare_project_and_wait", {"project_id": pid, "timeout_seconds": 5})
        assert not result.is_error
        body = result.structured_content
        jsonschema.validate(body, get_spec("qdi_prepare_project_and_wait").output_schema)
        action_id = body["action_id"]
        assert body["timed_out"] is True
        assert body["state"] == "EXECUTING" == stack.emulator.action(action_id)["state"]
        assert body["elapsed_seconds"] >= 5
        assert "qdi_wait_for_action" in body["hint"] and action_id in body["hint"]
        assert "timed out" in result.content[0].text

        resumed = await call_ok(stack, "qdi_wait_for_action", {"action_id": action_id})
        assert resumed["action_id"] == action_id
        assert resumed["state"] == "COMPLETED"
        assert_matches_emulator(stack, resumed)
        assert stack.emulator.counters["prepare_project"] == 1, "resuming waits; it does not prepare again"


async def test_an_action_that_completes_exactly_at_the_deadline_is_reported_completed(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, "CRM LANDING")}
        # Validating a landing takes 0.5 s queued + 1.5 s: it ends exactly at a 2 s deadline.
        body = await call_ok(stack, "qdi_validate_task_and_wait", args | {"timeout_seconds": 2})
        action = stack.emulator.tenant.actions[body["action_id"]]
        assert action.end is not None and action.end - action.created == 2.0
        assert stack.emulator.clock.now() == action.end, "the last look happened at the deadline itself"
        assert body["state"] == "COMPLETED"
        assert body["timed_out"] is False


async def test_an_action_still_running_at_the_deadline_is_reported_timed_out(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, "CRM LANDING")}
        body = await call_ok(stack, "qdi_validate_task_and_wait", args | {"timeout_seconds": 1})
        assert body["timed_out"] is True
        assert body["state"] == stack.emulator.action(body["action_id"])["state"] == "EXECUTING"


async def test_wait_for_an_unknown_action_is_an_error_naming_the_next_step(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool("qdi_wait_for_action", {"action_id": "6650f0c1a2b3c4d5e6f7ffff"})
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "not_found"
        assert error["hint"]


async def test_a_prepare_refused_for_recreation_names_our_tools_and_arguments_not_qliks(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        erp_storage = stack.task_id(CUSTOMER_360, "ERP STORAGE")
        # What an import of changed datasets leaves behind (emulator projects.py): the tables must be recreated.
        stack.emulator.tenant.projects[pid].tasks[erp_storage].recreate_required = True
        body = await call_ok(stack, "qdi_prepare_project_and_wait", {"project_id": pid})
    failed = next(t for t in body["tasks"] if t["state"] == "FAILED")
    assert failed["error_code"] == "RECREATE_REQUIRED" and "allowRecreate" in failed["error_message"]
    hint = body["hint"]
    assert "qdi_prepare_project_and_wait again with allow_recreate: true" in hint
    assert f"qdi_recreate_task_datasets_and_wait with task_id {erp_storage!r}" in hint
    assert "allowRecreate" not in hint and "recreate-datasets" not in hint
    assert "connection" not in hint, "the advice about bindings is for binding errors only"
