"""Guardrails and long waits as real MCP hosts meet them: `qdi-mcp serve --demo` as a subprocess, reached by
`mcp.Client(url)` over streamable HTTP (2026-07-28 by default, the 2025 handshake with `mode="legacy"`) and by
`mcp.Client(StdioServerParameters(...))` over stdio.

Each test that changes the demo tenant (stopping the running CDC task, starting a prepare) gets its own server,
so its assertions (task RUNNING, exact audit lines) hold whatever ran before; read-only checks share one.
Nothing sleeps: the only real waits are the emulator's own durations, made short by QDI_EMULATOR_SPEED.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from qdi_processes import QdiProcess, start_http_server, stdio_server_params

from qdi_mcp.specs import load_specs

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
ORDERS_ID = "6650f0c1a2b3c4d5e6f70003"
REPLICATION_TASK_ID = "orders_replication-jeqy"
STOP_REPLICATION = {"project_id": ORDERS_ID, "task_id": REPLICATION_TASK_ID}
CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"  # six tasks prepared one after another: about 25 emulated seconds
CUSTOMER_360_PROD_ID = "6650f0c1a2b3c4d5e6f70002"  # two tasks: about 7.5 emulated seconds
# At 5x a Customer 360 prepare lasts about 5 real seconds, far longer than the 1 s client timeout that cancels it,
# and a Customer 360 (prod) prepare about 1.5 s: several polls, so several progress notifications.
SLOW_SPEED = "5"
CLIENT_TIMEOUT_SECONDS = 1.0
TEST_TIMEOUT_SECONDS = 45
ACTION_POLL = re.compile(r"GET /api/v1/di-projects/actions/([0-9a-f]+) -> ")


# --- servers and helpers ---------------------------------------------------------------------------------------


@dataclass
class Served:
    process: QdiProcess
    url: str
    audit_path: Path

    def audit(self) -> list[dict[str, Any]]:
        return read_audit(self.audit_path)


def read_audit(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def serve_http(workdir: Path, *args: str, **env: str) -> Iterator[Served]:
    process, url = start_http_server(workdir, *args, **env)
    try:
        yield Served(process, url, workdir / "audit.jsonl")
    finally:
        process.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Served]:
    """A demo server of its own: the replication task is RUNNING and the audit log is empty."""
    yield from serve_http(tmp_path)


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[Served]:
    """Emulated work takes long enough to watch and to cancel; DEBUG logs show every request to the tenant."""
    yield from serve_http(tmp_path, QDI_EMULATOR_SPEED=SLOW_SPEED, QDI_MCP_LOG_LEVEL="DEBUG")


@pytest.fixture(scope="module")
def read_only_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_http(tmp_path_factory.mktemp("read-only"), "--read-only")


@dataclass
class Person:
    """An elicitation callback playing the user: answers every question the same way and remembers it."""

    action: str
    questions: list[types.ElicitRequestParams] = field(default_factory=list)

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.questions.append(params)
        if self.action != "accept":
            return types.ElicitResult(action=self.action)
        # Tick whatever the server's form requires, as a person ticking every box would.
        schema = getattr(params, "requested_schema", None) or {}
        return types.ElicitResult(action="accept", content={name: True for name in schema.get("required", [])})


async def replication_state(client: Client) -> str | None:
    result = await client.call_tool("qdi_get_task_state", STOP_REPLICATION)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content["state"]


def assert_asked_about_the_running_replication(person: Person) -> None:
    assert len(person.questions) == 1
    question = person.questions[0]
    assert REPLICATION_TASK_ID in question.message and "RUNNING" in question.message
    schema = getattr(question, "requested_schema", None) or {}
    required = schema.get("required", [])
    assert required, f"the form asks for nothing to confirm: {schema}"
    assert all(schema["properties"][name]["type"] == "boolean" for name in required)


async def stop_with_a_token(url: str, *, mode: str) -> tuple[str, types.CallToolResult, types.CallToolResult]:
    """The token round trip of a client that cannot elicit: preview, confirmed call, and a replay in a new
    connection (a token is single-use for the server, not per connection)."""
    async with Client(url, mode=mode) as client:
        assert (client.protocol_version == MODERN) == (mode == "auto")
        first = await client.call_tool("qdi_stop_task", STOP_REPLICATION)
        assert not first.is_error, first.content
        body = first.structured_content
        assert body is not None and body["status"] == "confirmation_required", body
        assert REPLICATION_TASK_ID in body["preview"]["target"]
        assert "RUNNING" in body["preview"]["current_state"]
        assert await replication_state(client) == "RUNNING"
        token = body["confirmation_token"]
        confirmed = await client.call_tool("qdi_stop_task", STOP_REPLICATION | {"confirmation_token": token})
        assert await replication_state(client) in ("STOPPING", "CANCELED")
    async with Client(url, mode=mode) as client:
        replayed = await client.call_tool("qdi_stop_task", STOP_REPLICATION | {"confirmation_token": token})
    return token, confirmed, replayed


def assert_token_round_trip(
    token: str, confirmed: types.CallToolResult, replayed: types.CallToolResult, audit: list[dict[str, Any]]
) -> None:
    assert not confirmed.is_error, confirmed.content
    assert confirmed.structured_content is not None
    assert confirmed.structured_content["status"] == "stop_requested"
    assert replayed.is_error
    assert replayed.structured_content is not None
    assert replayed.structured_content["error"]["code"] == "confirmation_invalid"
    assert "qdi_stop_task again" in replayed.structured_content["error"]["hint"]
    assert [(r["tool"], r["outcome"], r["confirmed_by"]) for r in audit] == [
        ("qdi_stop_task", "confirmation_required", None),
        ("qdi_stop_task", "started", "token"),  # the intent line, written before the request is sent
        ("qdi_stop_task", "executed", "token"),
        ("qdi_stop_task", "refused", None),
    ]
    assert all(r["arguments"] == STOP_REPLICATION for r in audit)
    assert token not in json.dumps(audit)


# --- 1. destructive calls over streamable HTTP -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"], ids=["2026-07-28", "2025-handshake"])
async def test_http_elicitation_accept_stops_the_task_and_the_audit_says_a_person_confirmed(
    fresh_server: Served, mode: str
) -> None:
    person = Person("accept")
    host = types.Implementation(name="ide-agent", version="4.2")
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(fresh_server.url, mode=mode, elicitation_callback=person, client_info=host) as client:
            assert (client.protocol_version == MODERN) == (mode == "auto")
            result = await client.call_tool("qdi_stop_task", STOP_REPLICATION)
            state_after = await replication_state(client)

    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["status"] == "stop_requested"
    assert state_after in ("STOPPING", "CANCELED")
    assert_asked_about_the_running_replication(person)
    audit = fresh_server.audit()
    assert audit[-1]["tool"] == "qdi_stop_task" and audit[-1]["arguments"] == STOP_REPLICATION
    assert audit[-1]["outcome"] == "executed"
    assert audit[-1]["confirmed_by"] == "elicitation"
    assert [r["outcome"] for r in audit if r["outcome"] == "executed"] == ["executed"]
    # Over HTTP too (per request on 2026-07-28, from the handshake before), each line names the client.
    assert {r["client"] for r in audit if r["tool"] == "qdi_stop_task"} == {"ide-agent 4.2"}


@pytest.mark.parametrize("answer", ["decline", "cancel"])
async def test_http_2026_elicitation_decline_leaves_the_task_running(fresh_server: Served, answer: str) -> None:
    person = Person(answer)
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(fresh_server.url, elicitation_callback=person) as client:
            assert client.protocol_version == MODERN
            result = await client.call_tool("qdi_stop_task", STOP_REPLICATION)
            state_after = await replication_state(client)

    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["status"] == "declined"
    assert "nothing was done" in result.structured_content["message"]
    assert state_after == "RUNNING"
    assert_asked_about_the_running_replication(person)
    outcomes = [r["outcome"] for r in fresh_server.audit()]
    assert outcomes[-1] == "declined"
    assert "executed" not in outcomes


@pytest.mark.parametrize("mode", ["auto", "legacy"], ids=["2026-07-28", "2025-handshake"])
async def test_http_client_without_elicitation_gets_a_single_use_token_that_runs_the_stop(
    fresh_server: Served, mode: str
) -> None:
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        token, confirmed, replayed = await stop_with_a_token(fresh_server.url, mode=mode)

    assert_token_round_trip(token, confirmed, replayed, fresh_server.audit())


# --- 2. the same over stdio ------------------------------------------------------------------------------------


async def test_stdio_client_without_elicitation_gets_a_single_use_token_that_runs_the_stop(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(stdio_server_params(tmp_path)) as client:
            assert client.protocol_version == MODERN
            first = await client.call_tool("qdi_stop_task", STOP_REPLICATION)
            assert first.structured_content is not None
            assert first.structured_content["status"] == "confirmation_required", first.content
            assert await replication_state(client) == "RUNNING"
            token = first.structured_content["confirmation_token"]
            confirmed = await client.call_tool("qdi_stop_task", STOP_REPLICATION | {"confirmation_token": token})
            state_after = await replication_state(client)
            replayed = await client.call_tool("qdi_stop_task", STOP_REPLICATION | {"confirmation_token": token})

    assert state_after in ("STOPPING", "CANCELED")
    assert_token_round_trip(token, confirmed, replayed, read_audit(tmp_path / "audit.jsonl"))


async def test_stdio_elicitation_accept_stops_the_task_and_the_audit_says_a_person_confirmed(tmp_path: Path) -> None:
    person = Person("accept")
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(stdio_server_params(tmp_path), elicitation_callback=person) as client:
            assert client.protocol_version == MODERN
            result = await client.call_tool("qdi_stop_task", STOP_REPLICATION)
            state_after = await replication_state(client)

    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["status"] == "stop_requested"
    assert state_after in ("STOPPING", "CANCELED")
    assert_asked_about_the_running_replication(person)
    audit = read_audit(tmp_path / "audit.jsonl")
    assert (audit[-1]["tool"], audit[-1]["outcome"], audit[-1]["confirmed_by"]) == (
        "qdi_stop_task",
        "executed",
        "elicitation",
    )


# --- 3. long waits over streamable HTTP (2026) -----------------------------------------------------------------


async def test_http_2026_wait_streams_increasing_progress_up_to_the_task_count(slow_server: Served) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(slow_server.url) as client:
            assert client.protocol_version == MODERN
            result = await client.call_tool(
                "qdi_prepare_project_and_wait", {"project_id": CUSTOMER_360_PROD_ID}, progress_callback=on_progress
            )

    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["state"] == "COMPLETED"
    assert len(progress) >= 2, progress
    values = [done for done, _, _ in progress]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert {total for _, total, _ in progress} == {2.0}
    assert values[-1] == 2.0
    assert any(message and "ERP LANDING" in message for _, _, message in progress)


async def cancel_a_customer_360_prepare(served: Served) -> str:
    """Start a ~5 s prepare and give up after 1 s as a host's request timeout does; return the action id the
    server was polling (from its DEBUG log: the agent never sees it)."""
    async with Client(served.url) as client:
        with pytest.raises(MCPError, match="timed out"):
            await client.call_tool(
                "qdi_prepare_project_and_wait",
                {"project_id": CUSTOMER_360_ID},
                read_timeout_seconds=CLIENT_TIMEOUT_SECONDS,
            )
    return served.process.wait_for(ACTION_POLL, timeout=10).group(1)


def polls_of(served: Served, action_id: str) -> int:
    return sum(1 for line in list(served.process.stderr) if f"/actions/{action_id} -> " in line)


async def test_http_2026_client_timeout_cancels_the_wait_and_the_server_keeps_serving(slow_server: Served) -> None:
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        action_id = await cancel_a_customer_360_prepare(slow_server)
        async with Client(slow_server.url) as client:
            read = await client.call_tool("qdi_get_project", {"project_id": CUSTOMER_360_ID})
            polls_after_cancel = polls_of(slow_server, action_id)
            # A real wait of its own (about 1.5 s, longer than any poll interval this early): had the cancelled
            # wait kept polling, its action would show up in the log meanwhile.
            other = await client.call_tool("qdi_prepare_project_and_wait", {"project_id": CUSTOMER_360_PROD_ID})
            polls_later = polls_of(slow_server, action_id)
            # The prepare itself ran on in the tenant: an agent that knows the action id can resume the wait.
            resumed = await client.call_tool("qdi_wait_for_action", {"action_id": action_id})

    assert not read.is_error, read.content
    assert polls_after_cancel >= 1, "the log shows no poll of the cancelled action: is QDI_MCP_LOG_LEVEL=DEBUG on?"
    assert not other.is_error and other.structured_content is not None
    assert other.structured_content["state"] == "COMPLETED"
    assert polls_later == polls_after_cancel, "the cancelled wait kept polling the tenant"
    assert not resumed.is_error and resumed.structured_content is not None
    assert resumed.structured_content["state"] == "COMPLETED"


async def test_http_2026_cancelled_wait_is_audited_with_the_action_id_to_resume(slow_server: Served) -> None:
    # README: every write call, "executed, refused, declined or failed", is an audit line. A cancelled wait did
    # start a prepare on the tenant, and the audit log (or the log) is then the only place its action id can be
    # found: the agent got no result.
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        action_id = await cancel_a_customer_360_prepare(slow_server)
        async with Client(slow_server.url) as client:
            # A short real wait on the same action, as an agent resuming would: the cancellation has long been
            # handled by the server when it returns.
            resumed = await client.call_tool("qdi_wait_for_action", {"action_id": action_id, "timeout_seconds": 1})

    assert not resumed.is_error, resumed.content
    lines = [r for r in slow_server.audit() if r["tool"] == "qdi_prepare_project_and_wait"]
    assert lines, "the cancelled prepare, which ran on the tenant, left no audit line"
    assert lines[-1]["arguments"] == {"project_id": CUSTOMER_360_ID}
    assert action_id in json.dumps(lines[-1]), "the audit line does not say which action to resume"


# --- 4. read-only mode over streamable HTTP (2026) -------------------------------------------------------------


async def test_http_read_only_lists_only_read_tools(read_only_server: Served) -> None:
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(read_only_server.url) as client:
            assert client.protocol_version == MODERN
            tools = (await client.list_tools()).tools

    read_tools = {spec.name for spec in load_specs() if spec.safety == "read"}
    assert {tool.name for tool in tools} == read_tools
    assert "qdi_stop_task" not in read_tools
    for tool in tools:
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("qdi_stop_task", STOP_REPLICATION),
        ("qdi_stop_task_and_wait", STOP_REPLICATION),
        ("qdi_recreate_task_datasets_and_wait", {"project_id": CUSTOMER_360_ID, "task_id": "crm_storage-q_y1"}),
    ],
)
async def test_http_read_only_refuses_a_destructive_tool_called_by_name_and_audits_the_refusal(
    read_only_server: Served, tool: str, arguments: dict[str, str]
) -> None:
    with anyio.fail_after(TEST_TIMEOUT_SECONDS):
        async with Client(read_only_server.url) as client:
            result = await client.call_tool(tool, arguments)
            state_after = await replication_state(client)

    assert result.is_error
    assert result.structured_content is not None
    error = result.structured_content["error"]
    assert error["code"] == "read_only"
    assert tool in error["message"] and "read-only" in error["message"]
    assert state_after == "RUNNING"
    refusals = [r for r in read_only_server.audit() if r["tool"] == tool]
    assert [r["outcome"] for r in refusals] == ["refused"]
    assert refusals[0]["arguments"] == arguments
