"""Stop and start preconditions and CDC figures (issue 17, item 3), through a real MCP client against the emulator.

A stop of a task that is not running is answered `not_running` at once: nobody is asked (no elicitation, no
token), no stop reaches Qlik, and the audit says `not_needed`, never `executed`. A token the call carries is still
verified first. Start and stop results of a CDC task carry its latency, the changes applied and, after a stop of a
replication task, the start arguments that resume from where its data stands.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import mcp_types as types
import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, Stack, call_ok, open_stack

from qdi_mcp.specs import get_spec

pytestmark = pytest.mark.anyio

STOP_TOOLS = ["qdi_stop_task", "qdi_stop_task_and_wait"]


def finished_task(stack: Stack) -> dict[str, str]:
    """CRM LANDING of the demo: its last run completed, so it is not running."""
    args = {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, "CRM LANDING")}
    assert stack.emulator.task_run_state(args["project_id"], args["task_id"]) == "COMPLETED"
    return args


def running_replication(stack: Stack) -> dict[str, str]:
    """The demo's ORDERS REPLICATION: a REPLICATION task running CDC."""
    pid = stack.project_id(ORDERS)
    args = {"project_id": pid, "task_id": stack.emulator.tasks(pid)[0]["id"]}
    assert stack.emulator.task_run_state(pid, args["task_id"]) == "RUNNING"
    return args


def outcomes(stack: Stack, tool: str) -> list[str]:
    return [line["outcome"] for line in stack.audit if line["tool"] == tool]


@pytest.mark.parametrize("tool", STOP_TOOLS)
async def test_a_stop_of_a_task_not_running_asks_nobody_sends_nothing_and_is_not_audited_as_executed(
    tmp_path: Path, tool: str
) -> None:
    asked: list[str] = []

    async def person(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with open_stack(tmp_path, elicitation_callback=person, mode="legacy") as stack:
        args = finished_task(stack)
        result = await call_ok(stack, tool, args)
        assert stack.emulator.requests["stop_task"] == 0
    assert asked == []
    assert result == {
        "status": "not_running",
        "project_id": args["project_id"],
        "task_id": args["task_id"],
        "state": "COMPLETED",
        "message": "Task CRM LANDING is not running (last run COMPLETED): there is nothing to stop, and nothing was "
        "sent.",
    }
    assert outcomes(stack, tool) == ["not_needed"]
    assert stack.audit[-1]["detail"] == result["message"] and stack.audit[-1]["confirmed_by"] is None


async def test_a_stop_of_a_task_not_running_issues_no_token_to_a_client_that_cannot_ask(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await call_ok(stack, "qdi_stop_task", finished_task(stack))
        assert stack.emulator.requests["stop_task"] == 0
    assert result["status"] == "not_running" and "confirmation_token" not in result
    assert outcomes(stack, "qdi_stop_task") == ["not_needed"]


async def test_a_stop_already_under_way_is_not_sent_again(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = running_replication(stack)
        await call_ok(stack, "qdi_stop_task", args)
        again = await call_ok(stack, "qdi_stop_task_and_wait", args)
        assert stack.emulator.requests["stop_task"] == 1
    assert again["status"] == "not_running" and again["state"] == "STOPPING"
    assert "already stopping" in again["message"] and "qdi_get_task_state" in again["message"]


async def test_a_forged_token_is_refused_even_when_there_is_nothing_to_stop(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool("qdi_stop_task", finished_task(stack) | {"confirmation_token": "forged"})
    assert result.is_error and result.structured_content["error"]["code"] == "confirmation_invalid"
    assert outcomes(stack, "qdi_stop_task") == ["refused"]


async def test_a_token_for_a_task_that_stopped_meanwhile_answers_not_running(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack)
        asked = await call_ok(stack, "qdi_stop_task", args)
        assert asked["status"] == "confirmation_required"
        run = stack.emulator.tenant.projects[args["project_id"]].tasks[args["task_id"]].run
        assert run is not None
        run.state = "CANCELED"  # stopped from Qlik's own console between the preview and the confirmed call
        result = await call_ok(stack, "qdi_stop_task", args | {"confirmation_token": asked["confirmation_token"]})
        assert stack.emulator.requests["stop_task"] == 0
    assert result["status"] == "not_running" and result["state"] == "CANCELED"
    assert outcomes(stack, "qdi_stop_task") == ["confirmation_required", "not_needed"]


async def test_a_stop_of_a_running_replication_reports_its_cdc_figures_and_where_to_resume(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = running_replication(stack)
        stopped = await call_ok(stack, "qdi_stop_task_and_wait", args)
        state = (await call_ok(stack, "qdi_get_task_state", args))["last_run"]
    assert stopped["state"] == "CANCELED"
    cdc = stopped["cdc"]
    # The figures are Qlik's own, as the runtime state reports them once the run has stopped.
    assert cdc["latency"] == state["cdc_status"]["latency"] != "00:00:00"
    assert cdc["changes_applied"] == state["cdc_status"]["total_processed_count"] > 0
    assert cdc["updated_to"] == state["general"]["data_task_updated_to"]
    # Changes are applied up to the stop minus the latency it had then: that is where processing resumes.
    hours, minutes, seconds = (int(part) for part in cdc["latency"].split(":"))
    behind = datetime.fromisoformat(state["end_time"]) - datetime.fromisoformat(cdc["updated_to"])
    assert behind.total_seconds() == pytest.approx(hours * 3600 + minutes * 60 + seconds, abs=1)
    assert cdc["resume_from"] == {"option": "PROCESS_CHANGES_FROM_TIMESTAMP", "process_changes_from": cdc["updated_to"]}


async def test_the_stop_summary_names_the_cdc_figures(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        result = await stack.mcp.call_tool("qdi_stop_task_and_wait", running_replication(stack))
    cdc = result.structured_content["cdc"]
    summary = result.content[0].text.partition("\n")[0]
    assert f"CDC: latency {cdc['latency']}, {cdc['changes_applied']:,} changes applied" in summary


async def test_a_stop_request_reports_the_figures_as_the_stop_went_out(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        result = await call_ok(stack, "qdi_stop_task", running_replication(stack))
    assert result["status"] == "stop_requested"
    # Still stopping: its latency and changes so far, and no resume point until the run has ended.
    assert result["cdc"]["latency"] and result["cdc"]["changes_applied"] > 0 and "resume_from" not in result["cdc"]


async def test_a_stop_whose_precondition_cannot_read_the_task_sends_nothing(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = running_replication(stack)
        stack.emulator.faults.inject("get_task_state", "status", status=404)
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert stack.emulator.requests["stop_task"] == 0
    assert result.is_error and result.structured_content["error"]["http_status"] == 404
    [line] = [line for line in stack.audit if line["tool"] == "qdi_stop_task"]
    assert line["outcome"] == "failed" and line["detail"].startswith("before anything was changed")


async def test_a_restart_from_the_resume_point_reports_latency_and_changes(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = running_replication(stack)
        stopped = await call_ok(stack, "qdi_stop_task_and_wait", args)
        started = await call_ok(stack, "qdi_start_task_and_wait", args | stopped["cdc"]["resume_from"])
        run = stack.emulator.tenant.projects[args["project_id"]].tasks[args["task_id"]].run
    assert run is not None and run.option == "PROCESS_CHANGES_FROM_TIMESTAMP"
    assert run.process_changes_from == stopped["cdc"]["updated_to"]
    assert started["state"] == "RUNNING"
    assert started["cdc"]["latency"].count(":") == 2 and started["cdc"]["changes_applied"] >= 0
    assert "resume_from" not in started["cdc"]  # only a run that has ended says where to resume


async def test_a_full_load_task_carries_no_cdc_figures(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = finished_task(stack)
        started = await call_ok(stack, "qdi_start_task_and_wait", args | {"wait_until": "finished"})
    assert started["state"] == "COMPLETED" and "cdc" not in started


def test_the_stop_tools_declare_the_precondition_and_its_answer() -> None:
    for tool in STOP_TOOLS:
        spec = get_spec(tool)
        assert spec.precondition == "task_running"  # qdi_stop_task_and_wait inherits it from qdi_stop_task
        answer = {"status": "not_running", "message": "nothing to stop", "state": None}
        jsonschema.validate(answer, spec.output_schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"status": "not_running"}, spec.output_schema)  # a message is required
