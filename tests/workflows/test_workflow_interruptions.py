"""A wait that breaks after its change was made must not invite the change again, and a resumed wait must
describe the action it resumed, not a generic one."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from mcp import Client
from qdi_testkit import CUSTOMER_360, TENANT_URL, make_settings, open_stack

from qdi_mcp.api import OAuthClientCredentials, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, Emulator
from qdi_mcp.server import build_server
from qdi_mcp.tools.polling import PollSchedule, WaitOutcome
from qdi_mcp.tools.waits import run_result

pytestmark = pytest.mark.anyio


async def test_a_failed_token_refresh_mid_wait_names_the_started_action_instead_of_inviting_a_retry(
    tmp_path: Path,
) -> None:
    # Tokens live 20 s on the emulator clock: the prepare (about 25 s) outlives the first one.
    emulator = Emulator(clock=ManualClock(), token_lifetime=20)
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    auth = OAuthClientCredentials(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)
    client = QlikClient(TENANT_URL, auth=auth, transport=emulator.transport(), clock=clock)
    options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(3)}
    async with client:
        server = build_server(make_settings(tmp_path), client, context_options=options)
        async with Client(server) as mcp:
            pid = emulator.project_id(CUSTOMER_360)
            await mcp.call_tool("qdi_list_projects", {})  # first token fetched
            emulator.faults.inject("POST /oauth/token", "refuse", times=10)
            result = await mcp.call_tool("qdi_prepare_project_and_wait", {"project_id": pid})
    assert emulator.counters["prepare_project"] == 1
    assert result.is_error
    error = result.structured_content["error"]
    [action_id] = emulator.tenant.actions
    assert error["code"] == "outcome_unknown" and error["retryable"] is False
    assert action_id in error["hint"] and "qdi_wait_for_action" in error["hint"]


async def test_resuming_a_prepare_says_prepared_not_validation_passed(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        started = await stack.mcp.call_tool("qdi_prepare_project", {"project_id": pid})
        resumed = await stack.mcp.call_tool(
            "qdi_wait_for_action", {"action_id": started.structured_content["action_id"]}
        )
    assert resumed.structured_content["state"] == "COMPLETED"
    assert "prepared" in resumed.structured_content["hint"]
    assert "validation" not in resumed.structured_content["hint"]


def test_a_start_whose_run_never_appeared_does_not_report_the_previous_run() -> None:
    yesterday = SimpleNamespace(
        state="FAILED", start_time="2026-11-27T10:00:00Z", errors=[], full_load=None, cdc_status=None
    )
    last_read = SimpleNamespace(name="Orders", last_run=yesterday, run_readiness=SimpleNamespace(state="READY_TO_RUN"))
    outcome = WaitOutcome(last_read, done=False, timed_out=True, elapsed=30.0, polls=6)
    result = run_result(
        {"project_id": "p", "task_id": "t"},
        outcome,
        "start",
        follow_with="qdi_get_task_state",
        previous_start="2026-11-27T10:00:00Z",
    ).structured
    assert result["state"] is None and result["errors"] == [] and result["full_load"] is None
    assert "no new run" in result["hint"]


async def test_project_status_reports_a_failed_task_read_with_its_own_error(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        stack.emulator.faults.inject("get_task_state", "status", status=404, times=100)
        result = await stack.mcp.call_tool("qdi_get_project_status", {"project_id": stack.project_id(CUSTOMER_360)})
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "not_found" and error["http_status"] == 404 and error["trace_id"]
