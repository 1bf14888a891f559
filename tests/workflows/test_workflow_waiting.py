"""How waits behave while they wait, through real MCP clients on the virtual clock: progress notifications and
heartbeats, cancellation by the client mid-wait, and many concurrent waits under Qlik's rate limits."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from mcp import Client
from qdi_testkit import CUSTOMER_360, ORDERS, TENANT_URL, Stack, make_settings, open_stack

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.api.ratelimit import RateTier, TierLimiter
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.server import build_server
from qdi_mcp.tools.polling import PollSchedule

pytestmark = pytest.mark.anyio

C360_TASKS = ("CRM LANDING", "ERP LANDING", "CRM STORAGE", "ERP STORAGE", "CUSTOMER TRANSFORM", "SALES MART")
# Polls as often as the engine allows, so 50 waits ask for far more than a minute's budget of requests.
EAGER = PollSchedule(first=0.05, growth=1.0, min_lag=0.05, predict=False)
# A safety net only: every wait below is driven by events, this bounds a hang if the code under test breaks.
HANG_GUARD_SECONDS = 10


class Notifications:
    """A client progress_callback that records each notification with the emulator time it arrived at."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.seen: list[tuple[float, float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((self.stack.emulator.clock.now(), progress, total, message))

    @property
    def values(self) -> list[float]:
        return [value for _, value, _, _ in self.seen]

    @property
    def messages(self) -> list[str]:
        return [message or "" for _, _, _, message in self.seen]

    def gaps(self, started: float, ended: float) -> list[float]:
        times = [started, *(at for at, _, _, _ in self.seen), ended]
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


# --- progress -------------------------------------------------------------------------------------------


async def test_progress_counts_finished_tasks_of_the_total_and_names_the_tasks_that_moved(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        notes = Notifications(stack)
        result = await stack.mcp.call_tool(
            "qdi_prepare_project_and_wait", {"project_id": stack.project_id(CUSTOMER_360)}, progress_callback=notes
        )
        assert result.structured_content["state"] == "COMPLETED"
        assert len(notes.seen) >= 3
        assert all(later > earlier for earlier, later in zip(notes.values, notes.values[1:], strict=False))
        assert {total for _, _, total, _ in notes.seen} == {6}
        assert notes.values[-1] == 6
        for name in C360_TASKS:
            assert any(f"{name}: COMPLETED" in message for message in notes.messages), name
        assert "(6/6 tasks done)" in notes.messages[-1]


async def test_a_heartbeat_comes_at_least_every_ten_seconds_even_when_polls_are_rare(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        stack.qdi.context_options["schedule"] = PollSchedule(first=45, min_lag=45, max_interval=45, predict=False)
        notes = Notifications(stack)
        started = stack.emulator.clock.now()
        result = await stack.mcp.call_tool(
            "qdi_prepare_project_and_wait", {"project_id": stack.project_id(CUSTOMER_360)}, progress_callback=notes
        )
        ended = stack.emulator.clock.now()
        assert result.structured_content["state"] == "COMPLETED"
        assert result.structured_content["polls"] == 2, "one look at the start, the next 45 s later"
        assert len(notes.seen) > result.structured_content["polls"], "heartbeats come between polls"
        assert max(notes.gaps(started, ended)) <= 10
        assert any("s so far" in message for message in notes.messages)
        assert all(later > earlier for earlier, later in zip(notes.values, notes.values[1:], strict=False))


async def test_a_start_reports_datasets_loaded_of_the_datasets_to_load(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "ERP LANDING")
        datasets = len(stack.emulator.datasets(pid, tid))
        notes = Notifications(stack)
        result = await stack.mcp.call_tool(
            "qdi_start_task_and_wait", {"project_id": pid, "task_id": tid}, progress_callback=notes
        )
        assert result.structured_content["state"] == "RUNNING"
        assert {total for _, _, total, _ in notes.seen if total is not None} == {datasets}
        assert notes.values[-1] == datasets
        assert all("ERP LANDING" in message for message in notes.messages)
        assert f"({datasets}/{datasets} datasets loaded)" in notes.messages[-1]


async def test_a_stop_reports_its_state_without_counting_the_stopped_runs_datasets(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(ORDERS)
        tid = stack.task_id(ORDERS, "ORDERS REPLICATION")
        notes = Notifications(stack)
        result = await stack.mcp.call_tool(
            "qdi_stop_task_and_wait", {"project_id": pid, "task_id": tid}, progress_callback=notes
        )
        assert result.structured_content["state"] == "CANCELED"
        assert notes.seen and {total for _, _, total, _ in notes.seen} == {None}
        assert all(later > earlier for earlier, later in zip(notes.values, notes.values[1:], strict=False))
        assert "ORDERS REPLICATION: STOPPING" in notes.messages[0]
        assert "ORDERS REPLICATION: CANCELED" in notes.messages[-1]


# --- cancellation ---------------------------------------------------------------------------------------


class GatedClock:
    """The stack's clock, except that it lets the first `free_sleeps` sleeps through, then holds every sleep
    until `release()`.

    The wait is thereby parked mid-sleep, in real time, exactly when the test cancels it; `cancelled` is set
    when the parked sleep is cancelled.
    """

    def __init__(self, stack: Stack, free_sleeps: int = 2) -> None:
        self.inner = stack.emulator.clock
        self.free_sleeps = free_sleeps
        self.parked = anyio.Event()
        self.released = anyio.Event()
        self.cancelled = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        if self.free_sleeps > 0:
            self.free_sleeps -= 1
        elif not self.released.is_set():
            self.parked.set()
            try:
                await self.released.wait()
            except anyio.get_cancelled_exc_class():
                self.cancelled.set()
                raise
        await self.inner.sleep(seconds)

    def now(self) -> float:
        return self.inner.now()

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def release(self) -> None:
        self.released.set()


async def saw_the_wait_cancelled(clock: GatedClock) -> bool:
    with anyio.move_on_after(HANG_GUARD_SECONDS):
        await clock.cancelled.wait()
    if not clock.cancelled.is_set():
        clock.release()  # a wait that ignored the cancel goes on, so the test fails instead of hanging
    return clock.cancelled.is_set()


async def assert_no_poll_after_the_cancel_and_the_server_still_serves(stack: Stack, clock: GatedClock) -> None:
    polls = stack.emulator.requests["get_action"]
    clock.release()
    for _ in range(20):
        await anyio.lowlevel.checkpoint()
    stack.emulator.clock.advance(600)  # the prepare ends meanwhile: a poll still running would now see it
    for _ in range(20):
        await anyio.lowlevel.checkpoint()
    assert stack.emulator.requests["get_action"] == polls

    (action_id,) = stack.emulator.tenant.actions
    # The agent got no result, so the audit line is where the running prepare and how to resume it are named.
    cancelled = [r for r in stack.audit if r["tool"] == "qdi_prepare_project_and_wait"]
    assert [r["outcome"] for r in cancelled] == ["started", "cancelled"]
    assert f"action {action_id}" in cancelled[1]["detail"]
    assert "qdi_wait_for_action" in cancelled[1]["detail"]
    result = await stack.mcp.call_tool("qdi_wait_for_action", {"action_id": action_id})
    assert not result.is_error
    assert result.structured_content["state"] == "COMPLETED"
    assert stack.emulator.requests["get_action"] == polls + 1


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancelling_the_call_mid_wait_stops_polling_at_once(tmp_path: Path, mode: str) -> None:
    async with open_stack(tmp_path, mode=mode) as stack:
        clock = GatedClock(stack)
        stack.qdi.context_options["clock"] = clock
        outcome: list[Any] = []
        async with anyio.create_task_group() as group:
            call_scope = anyio.CancelScope()

            async def call() -> None:
                with call_scope:
                    args = {"project_id": stack.project_id(CUSTOMER_360)}
                    outcome.append(await stack.mcp.call_tool("qdi_prepare_project_and_wait", args))

            group.start_soon(call)
            with anyio.fail_after(HANG_GUARD_SECONDS):
                await clock.parked.wait()
            assert stack.emulator.requests["get_action"] >= 2, "the wait was polling when it was cancelled"
            call_scope.cancel()
            cancelled = await saw_the_wait_cancelled(clock)
        assert cancelled, "the server's wait was cancelled in its sleep"
        assert outcome == [], "the client gave up: no result"
        await assert_no_poll_after_the_cancel_and_the_server_still_serves(stack, clock)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_client_read_timeout_cancels_the_wait(tmp_path: Path, mode: str) -> None:
    async with open_stack(tmp_path, mode=mode) as stack:
        clock = GatedClock(stack)
        stack.qdi.context_options["clock"] = clock
        with pytest.raises(Exception, match="[Tt]imed out"):
            await stack.mcp.call_tool(
                "qdi_prepare_project_and_wait",
                {"project_id": stack.project_id(CUSTOMER_360)},
                read_timeout_seconds=0.05,
            )
        assert clock.parked.is_set()
        assert await saw_the_wait_cancelled(clock), "the server's wait was cancelled in its sleep"
        await assert_no_poll_after_the_cancel_and_the_server_still_serves(stack, clock)


class ParkingTransport(httpx.AsyncBaseTransport):
    """The emulator's transport, but a request whose method and path end match is held until cancelled: the
    call is then cancelled while Qlik has not answered (in process, the emulator itself never makes anyone wait)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str, path_end: str) -> None:
        self.inner, self.method, self.path_end = inner, method, path_end
        self.parked = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and request.url.path.endswith(self.path_end):
            self.parked.set()
            await anyio.sleep_forever()
        return await self.inner.handle_async_request(request)


async def cancel_a_parked_call(tmp_path: Path, method: str, path_end: str, tool: str) -> list[dict[str, Any]]:
    """Call `tool` on Customer 360 with its request parked, cancel the call, and return the audit records."""
    emulator = Emulator(clock=ManualClock())
    transport = ParkingTransport(emulator.transport(), method, path_end)
    async with QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=transport) as client:
        server = build_server(make_settings(tmp_path), client)
        async with Client(server) as mcp_client, anyio.create_task_group() as group:
            call_scope = anyio.CancelScope()

            async def call() -> None:
                with call_scope:
                    await mcp_client.call_tool(tool, {"project_id": emulator.project_id(CUSTOMER_360)})

            group.start_soon(call)
            with anyio.fail_after(HANG_GUARD_SECONDS):
                await transport.parked.wait()
            call_scope.cancel()
        return server.qdi.audit.records


async def test_a_write_cancelled_before_qlik_answered_is_audited_as_of_unknown_effect(tmp_path: Path) -> None:
    records = await cancel_a_parked_call(tmp_path, "POST", "/actions/prepare", "qdi_prepare_project_and_wait")
    intent, line = records
    assert intent["outcome"] == "started" and intent["call_id"] == line["call_id"]
    assert line["tool"] == "qdi_prepare_project_and_wait"
    assert line["outcome"] == "cancelled"
    assert "before Qlik confirmed" in line["detail"] and "unknown" in line["detail"]


async def test_a_cancelled_read_leaves_no_audit_line(tmp_path: Path) -> None:
    records = await cancel_a_parked_call(tmp_path, "GET", "", "qdi_get_project")
    assert records == []


# --- concurrency under rate limits ----------------------------------------------------------------------


async def start_validations(stack_client: QlikClient, project_id: str, count: int) -> list[str]:
    return [(await stack_client.validate_project(project_id)).action_id for _ in range(count)]


async def wait_for_all(mcp_client: Client, action_ids: list[str]) -> list[Any]:
    results: list[Any] = []

    async def wait(action_id: str) -> None:
        results.append(await mcp_client.call_tool("qdi_wait_for_action", {"action_id": action_id}))

    async with anyio.create_task_group() as group:
        for action_id in action_ids:
            group.start_soon(wait, action_id)
    return results


def refusals(emulator: Emulator) -> int:
    return sum(count for key, count in emulator.responses.items() if key.endswith(" 429"))


async def test_fifty_concurrent_waits_share_the_tier_budget_and_never_earn_a_429(tmp_path: Path) -> None:
    async with open_stack(tmp_path, rate_limits=True) as stack:
        stack.qdi.context_options["schedule"] = EAGER
        action_ids = await start_validations(stack.client, stack.project_id(CUSTOMER_360), 50)
        results = await wait_for_all(stack.mcp, action_ids)
        assert len(results) == 50
        assert all(not r.is_error and r.structured_content["state"] == "COMPLETED" for r in results)
        assert refusals(stack.emulator) == 0
        tier1_budget = RateTier.TIER1.requests_per_minute
        assert stack.emulator.requests["get_action"] > tier1_budget, "the waits asked for more than a minute's budget"


async def test_without_the_clients_limiter_the_same_waits_earn_429s(tmp_path: Path) -> None:
    # The control for the test above: it shows that load really exceeds what the tenant accepts.
    emulator = Emulator(clock=ManualClock(), rate_limits=True)
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    unlimited = TierLimiter(clock=clock, limits={tier: 10**6 for tier in RateTier})
    client = QlikClient(
        TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock, limiter=unlimited
    )
    options = {"clock": clock, "schedule": EAGER, "rng": random.Random(7)}
    async with client:
        server = build_server(make_settings(tmp_path), client, context_options=options)
        async with Client(server) as mcp_client:
            action_ids = await start_validations(client, emulator.project_id(CUSTOMER_360), 50)
            await wait_for_all(mcp_client, action_ids)
    assert refusals(emulator) > 0


async def test_concurrent_project_status_calls_stay_within_the_runtime_state_tier(tmp_path: Path) -> None:
    async with open_stack(tmp_path, rate_limits=True) as stack:
        pid = stack.project_id(CUSTOMER_360)
        results: list[Any] = []

        async def status() -> None:
            results.append(await stack.mcp.call_tool("qdi_get_project_status", {"project_id": pid}))

        async with anyio.create_task_group() as group:
            for _ in range(30):
                group.start_soon(status)
        assert all(not r.is_error and r.structured_content["summary"].startswith("6 tasks") for r in results)
        assert stack.emulator.requests["get_task_state"] > RateTier.RUNTIME_STATE.requests_per_minute
        assert refusals(stack.emulator) == 0
