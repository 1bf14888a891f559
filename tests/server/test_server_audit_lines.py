"""What a write's audit lines say about what happened at Qlik (issue 19, defect 3): the trace id of the request
that changed something, the state a wait ended in, and the tenant the line is about."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from qdi_testkit import ORDERS, SALES_QVD, make_settings, open_stack

from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import Emulator
from qdi_mcp.guard.audit import audit_tenant, wait_outcome

pytestmark = pytest.mark.anyio


class TraceRecordingTransport(httpx.AsyncBaseTransport):
    """The emulator's transport, remembering the trace id each answer carried: (method, path, trace id)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.headers.get("x-trace-id")))
        return response

    def trace_of(self, method: str, path_end: str) -> str | None:
        (trace,) = [t for m, p, t in self.seen if m == method and p.endswith(path_end)]
        return trace


class RecordingEmulator(Emulator):
    def transport(self) -> httpx.AsyncBaseTransport:
        self.recorder = TraceRecordingTransport(super().transport())
        return self.recorder


async def test_an_executed_write_records_the_trace_id_of_the_request_that_changed_something(tmp_path: Path) -> None:
    emulator = RecordingEmulator(clock=ManualClock())
    async with open_stack(tmp_path, emulator=emulator, confirm="never") as stack:
        pid = stack.project_id(ORDERS)
        tid = stack.emulator.tasks(pid)[0]["id"]
        result = await stack.mcp.call_tool("qdi_stop_task", {"project_id": pid, "task_id": tid})
    assert not result.is_error
    started, executed = stack.audit[-2:]
    assert (started["outcome"], executed["outcome"]) == ("started", "executed")
    stop_trace = emulator.recorder.trace_of("POST", "/runtime/actions/stop")
    assert stop_trace and executed["trace_id"] == stop_trace
    assert started["trace_id"] is None  # written before the request was sent
    assert executed["final_state"] is None  # no wait, no final state


async def test_a_prepare_whose_action_failed_records_the_final_state_and_why(tmp_path: Path) -> None:
    emulator = RecordingEmulator(clock=ManualClock())
    async with open_stack(tmp_path, emulator=emulator) as stack:
        pid = stack.project_id(SALES_QVD)
        result = await stack.mcp.call_tool("qdi_prepare_project_and_wait", {"project_id": pid})
    assert result.structured_content["state"] == "FAILED"
    line = stack.audit[-1]
    assert line["outcome"] == "executed" and line["final_state"] == "FAILED"
    action_id = result.structured_content["action_id"]
    assert line["detail"].startswith(f"wait ended: action {action_id} FAILED: task ")
    assert "SALES LANDING" in line["detail"]  # the failed task, unmarked: an audit line is read by people
    assert line["trace_id"] == emulator.recorder.trace_of("POST", "/actions/prepare")


async def test_every_line_names_the_tenant_and_the_demo_is_named_demo(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(ORDERS)
        args = {"project_id": pid, "task_id": stack.emulator.tasks(pid)[0]["id"]}
        asked = await stack.mcp.call_tool("qdi_stop_task", args)
        token = asked.structured_content["confirmation_token"]
        await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": token})
    # the gate's line (confirmation_required) and the server's (started, executed) alike
    assert [line["outcome"] for line in stack.audit] == ["confirmation_required", "started", "executed"]
    assert {line["tenant"] for line in stack.audit} == {"demo"}


def test_a_real_tenant_is_named_by_its_host(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo=False, tenant_url="https://acme.eu.qlikcloud.com", api_key="k" * 40)
    assert audit_tenant(settings, None) == "acme.eu.qlikcloud.com"


def test_a_timed_out_wait_says_what_it_left_running_and_a_call_without_a_wait_says_nothing() -> None:
    timed_out = {"action_id": "a1", "state": "RUNNING", "timed_out": True, "hint": "call qdi_wait_for_action"}
    assert wait_outcome(timed_out) == ("RUNNING", "wait timed out: action a1 still RUNNING: call qdi_wait_for_action")
    run = {"task_id": "t", "state": "RUNNING", "timed_out": False, "hint": "it runs"}
    assert wait_outcome(run) == ("RUNNING", "wait ended: task run RUNNING")
    assert wait_outcome({"status": "stop_requested"}) == (None, None)
    # qdi_run_project_and_wait: its own states, in lower case
    failed = {"project_id": "p", "state": "failed", "timed_out": False, "hint": "read the run's datasets"}
    assert wait_outcome(failed) == ("failed", "wait ended: project run failed: read the run's datasets")
