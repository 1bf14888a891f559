"""The fault matrix: every kind of tool (read, write, workflow) against every way a network or service fails,
injected through the emulator, before and (for changes) after the service executed the request.

What must hold in every cell:
- reads recover from a one-off fault, and otherwise fail with a clear, retryable error;
- a change is executed at most once (the emulator's counters prove it); when the answer was lost the error
  is `outcome_unknown` and names the tool that shows whether it happened;
- the server survives: the next call on the same MCP client works.

The API client runs on the kit's virtual clock, so retry back-off and Retry-After waits take no real time.
Two combinations are left out on purpose, because no real service produces them: a 429 or a refused
connection *after* executing (both mean "not done"), and a 200 with a broken body from a service that did
nothing (for changes, `invalid_json` is tested after execution only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp_types import CallToolResult
from qdi_testkit import CUSTOMER_360, Stack, open_stack

from qdi_mcp.api import RetryPolicy, Timeouts

pytestmark = pytest.mark.anyio

READ_TIMEOUT = Timeouts().read
MAX_ATTEMPTS = RetryPolicy().max_attempts
RETRYABLE_CODES = {"rate_limited", "server_error", "unreachable", "bad_response"}


@dataclass(frozen=True)
class FaultCase:
    name: str
    kind: str
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    after: bool = True  # can happen after the service executed the request (the answer is lost or spoiled)
    for_writes_before: bool = True  # makes sense for a change the service has not executed

    def inject(self, stack: Stack, operation: str, *, after_execution: bool = False, times: int = 1) -> None:
        stack.emulator.faults.inject(
            operation,
            self.kind,
            times=times,
            status=self.status,
            retry_after=self.retry_after,
            delay=self.delay,
            after_execution=after_execution,
        )


FAULTS = [
    FaultCase("429_retry_after", "status", status=429, retry_after=2, after=False),
    FaultCase("500", "status", status=500),
    FaultCase("502", "status", status=502),
    FaultCase("503", "status", status=503),
    FaultCase("504", "status", status=504),
    FaultCase("slower_than_read_timeout", "delay", delay=READ_TIMEOUT * 2),
    FaultCase("connection_refused", "refuse", after=False),
    FaultCase("reset_mid_body", "drop"),
    FaultCase("invalid_json", "invalid_json", for_writes_before=False),
    FaultCase("html_error_page", "html", status=502),
]
FAULT_IDS = [fault.name for fault in FAULTS]
BEFORE_WRITE = [f for f in FAULTS if f.for_writes_before]
AFTER_WRITE = [f for f in FAULTS if f.after]


def customer_360(stack: Stack) -> dict[str, Any]:
    return {"project_id": stack.project_id(CUSTOMER_360)}


def startable_task(stack: Stack) -> dict[str, Any]:
    return {"project_id": stack.project_id(CUSTOMER_360), "task_id": stack.task_id(CUSTOMER_360, "ERP LANDING")}


def same_bindings(stack: Stack) -> dict[str, Any]:
    project_id = stack.project_id(CUSTOMER_360)
    return {"project_id": project_id, "variables": stack.emulator.bindings(project_id)}


# tool -> (API operation it calls, its arguments, the tool whose name a lost-answer error must give)
READS = {"qdi_get_project": ("get_project", customer_360), "qdi_list_tasks": ("list_tasks", customer_360)}
WRITES = {
    "qdi_start_task": ("start_task", startable_task, "qdi_get_task_state"),
    "qdi_update_bindings": ("update_bindings", same_bindings, "qdi_get_bindings"),
}
WORKFLOW = "qdi_prepare_project_and_wait"


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result.structured_content
    error = result.structured_content["error"]
    assert error["message"] and error["hint"], error
    assert "Traceback" not in error["message"]
    return error


async def assert_next_call_works(stack: Stack) -> None:
    stack.emulator.faults.clear()
    result = await stack.mcp.call_tool("qdi_get_project", customer_360(stack))
    assert not result.is_error, result.structured_content
    assert result.structured_content["project"]["name"] == CUSTOMER_360


def assert_clear_retryable(error: dict[str, Any]) -> None:
    assert error["code"] in RETRYABLE_CODES, error
    assert error["retryable"] is True, error


def assert_lost_answer(error: dict[str, Any], check_tool: str) -> None:
    assert error["code"] == "outcome_unknown", error
    assert error["retryable"] is False, error
    assert check_tool in error["hint"], error


# --- reads -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("tool", sorted(READS))
async def test_read_recovers_from_a_one_off_fault_or_fails_retryably(
    tmp_path: Path, tool: str, fault: FaultCase
) -> None:
    operation, arguments = READS[tool]
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, operation)
        result = await stack.mcp.call_tool(tool, arguments(stack))
        assert len(stack.emulator.faults) == 0  # the fault did fire
        if result.is_error:
            assert_clear_retryable(error_of(result))
        else:
            assert result.structured_content[tool.removeprefix("qdi_get_").removeprefix("qdi_list_")]
        await assert_next_call_works(stack)


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("tool", sorted(READS))
async def test_read_under_a_lasting_fault_fails_with_a_clear_retryable_error(
    tmp_path: Path, tool: str, fault: FaultCase
) -> None:
    operation, arguments = READS[tool]
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, operation, times=50)
        result = await stack.mcp.call_tool(tool, arguments(stack))
        assert_clear_retryable(error_of(result))
        fired = 50 - sum(f.remaining for f in stack.emulator.faults.pending)
        assert 1 <= fired <= MAX_ATTEMPTS  # retries are bounded: no storm against a failing tenant
        await assert_next_call_works(stack)


# --- writes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", BEFORE_WRITE, ids=[f.name for f in BEFORE_WRITE])
@pytest.mark.parametrize("tool", sorted(WRITES))
async def test_write_fault_before_execution_runs_it_at_most_once(tmp_path: Path, tool: str, fault: FaultCase) -> None:
    operation, arguments, check_tool = WRITES[tool]
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, operation)
        result = await stack.mcp.call_tool(tool, arguments(stack))
        executed = stack.emulator.counters[operation]
        if result.is_error:
            error = error_of(result)
            assert executed == 0
            if error["code"] != "outcome_unknown":  # only a refusal the service certainly never acted on
                assert error["code"] in {"rate_limited", "unreachable"} and error["retryable"], error
            else:
                assert_lost_answer(error, check_tool)
                assert stack.audit[-1]["outcome"] == "outcome_unknown"
        else:
            assert executed == 1  # a success is never claimed for something that did not happen
        await assert_next_call_works(stack)


@pytest.mark.parametrize("fault", AFTER_WRITE, ids=[f.name for f in AFTER_WRITE])
@pytest.mark.parametrize("tool", sorted(WRITES))
async def test_write_fault_after_execution_is_never_repeated_and_says_how_to_check(
    tmp_path: Path, tool: str, fault: FaultCase
) -> None:
    operation, arguments, check_tool = WRITES[tool]
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, operation, after_execution=True)
        result = await stack.mcp.call_tool(tool, arguments(stack))
        assert stack.emulator.counters[operation] == 1
        assert stack.emulator.requests[operation] == 1
        if result.is_error:
            assert_lost_answer(error_of(result), check_tool)
        await assert_next_call_works(stack)


# --- workflow: prepare, then poll the action -------------------------------------------------------------


def assert_prepared(result: CallToolResult) -> None:
    assert not result.is_error, result.structured_content
    assert result.structured_content["state"] == "COMPLETED"


@pytest.mark.parametrize("fault", BEFORE_WRITE, ids=[f.name for f in BEFORE_WRITE])
async def test_workflow_fault_before_its_write_runs_it_at_most_once(tmp_path: Path, fault: FaultCase) -> None:
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, "prepare_project")
        result = await stack.mcp.call_tool(WORKFLOW, customer_360(stack))
        executed = stack.emulator.counters["prepare_project"]
        if result.is_error:
            error = error_of(result)
            assert executed == 0
            if error["code"] == "outcome_unknown":
                assert_lost_answer(error, "qdi_get_project_status")
            else:
                assert error["code"] in {"rate_limited", "unreachable"} and error["retryable"], error
        else:
            assert executed == 1
            assert_prepared(result)
        await assert_next_call_works(stack)


@pytest.mark.parametrize("fault", AFTER_WRITE, ids=[f.name for f in AFTER_WRITE])
async def test_workflow_fault_after_its_write_is_never_repeated(tmp_path: Path, fault: FaultCase) -> None:
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, "prepare_project", after_execution=True)
        result = await stack.mcp.call_tool(WORKFLOW, customer_360(stack))
        assert stack.emulator.counters["prepare_project"] == 1
        assert_lost_answer(error_of(result), "qdi_get_project_status")
        await assert_next_call_works(stack)


@pytest.mark.parametrize("times", [1, 50], ids=["one_off", "lasting"])
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_workflow_fault_while_polling_names_the_started_action_and_can_be_resumed(
    tmp_path: Path, fault: FaultCase, times: int
) -> None:
    async with open_stack(tmp_path) as stack:
        fault.inject(stack, "get_action", times=times)
        result = await stack.mcp.call_tool(WORKFLOW, customer_360(stack))
        assert stack.emulator.counters["prepare_project"] == 1
        [action_id] = stack.emulator.tenant.actions
        if not result.is_error:
            assert_prepared(result)
            await assert_next_call_works(stack)
            return
        error = error_of(result)
        assert_lost_answer(error, "qdi_wait_for_action")
        assert action_id in error["hint"] and WORKFLOW in error["hint"]  # "do not call it again"
        await assert_next_call_works(stack)
        resumed = await stack.mcp.call_tool("qdi_wait_for_action", {"action_id": action_id})
        assert_prepared(resumed)
        assert stack.emulator.counters["prepare_project"] == 1
