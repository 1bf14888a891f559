"""`qdi-mcp serve --demo` over stdio, as an MCP client starts it: a subprocess whose stdout is the protocol.

Every subprocess here is bounded: the SDK's stdio client stops its server on exit, the raw-pipe test has a
watchdog that kills the process, and start-up failures run under `subprocess.run(timeout=...)`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client
from qdi_processes import base_env, stdio_server_params

from qdi_mcp.specs import load_specs

CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"
DEMO_PROJECT_NAMES = {"Customer 360", "Customer 360 (prod)", "Orders replication", "Sales QVD"}
ALL_TOOLS = len(load_specs())
CALL_TIMEOUT_SECONDS = 30
STARTUP_TIMEOUT_SECONDS = 20


@pytest.mark.anyio
async def test_stdio_server_lists_all_tools_and_answers_a_read_call(tmp_path: Path) -> None:
    stream_errors: list[Exception] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            stream_errors.append(message)

    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        async with Client(stdio_server_params(tmp_path), message_handler=on_message) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("qdi_list_projects", {})

    assert len(tools) == ALL_TOOLS
    assert all(tool.name.startswith("qdi_") for tool in tools)
    assert not result.is_error
    assert result.structured_content is not None
    assert {p["name"] for p in result.structured_content["projects"]} == DEMO_PROJECT_NAMES
    # A line on stdout that is not a JSON-RPC message reaches the client as a stream error.
    assert stream_errors == []


@pytest.mark.anyio
async def test_stdio_workflow_reports_progress_and_logs_go_to_stderr(tmp_path: Path) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    stderr_path = tmp_path / "server-stderr.txt"
    with stderr_path.open("w", encoding="utf-8") as errlog, anyio.fail_after(CALL_TIMEOUT_SECONDS):
        async with Client(stdio_client(stdio_server_params(tmp_path), errlog=errlog)) as client:
            result = await client.call_tool(
                "qdi_prepare_project_and_wait", {"project_id": CUSTOMER_360_ID}, progress_callback=on_progress
            )

    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["state"] == "COMPLETED"
    assert result.structured_content["timed_out"] is False
    assert progress, "the workflow sent no notifications/progress"
    assert [done for done, _, _ in progress] == sorted(done for done, _, _ in progress)
    assert any(message and "CRM LANDING" in message for _, _, message in progress)

    stderr = stderr_path.read_text(encoding="utf-8")
    assert f"qdi-mcp serving {ALL_TOOLS} tools against the embedded demo emulator" in stderr
    # The audit log went where the environment said, not into the working directory.
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["tool"], r["outcome"]) for r in audit] == [
        ("qdi_prepare_project_and_wait", "started"),
        ("qdi_prepare_project_and_wait", "executed"),
    ]


def test_stdio_stdout_carries_only_json_rpc_messages(tmp_path: Path) -> None:
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "qdi_list_projects", "arguments": {}}},
    ]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "qdi_mcp", "serve", "--demo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=base_env(tmp_path),
        cwd=tmp_path,
        text=True,
    )
    # If the server hangs, killing it closes its stdout, so the blocking reads below end.
    watchdog = threading.Timer(STARTUP_TIMEOUT_SECONDS, process.kill)
    watchdog.start()
    try:
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        process.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
        process.stdin.flush()
        lines: list[str] = []
        answered: set[int] = set()
        while answered != {1, 2, 3}:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            message = json.loads(line)  # a log line or a print here would not parse
            if "id" in message:
                answered.add(message["id"])
        process.stdin.close()  # end of input: the server shuts down
        lines.extend(process.stdout.readlines())
        stderr = process.stderr.read()
        exit_code = process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()

    assert answered == {1, 2, 3}, stderr
    messages = [json.loads(line) for line in lines]
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages if "id" in m}
    assert len(by_id[2]["result"]["tools"]) == ALL_TOOLS
    assert {p["name"] for p in by_id[3]["result"]["structuredContent"]["projects"]} == DEMO_PROJECT_NAMES
    assert f"INFO qdi_mcp.serve: qdi-mcp serving {ALL_TOOLS} tools" in stderr
    assert exit_code == 0


def test_serve_without_demo_or_tenant_exits_2_at_once_with_one_line_naming_what_to_set(tmp_path: Path) -> None:
    # stdin stays open: a server that started serving would wait for input and run into the timeout.
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "qdi_mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=base_env(tmp_path),
        cwd=tmp_path,
        text=True,
    )
    try:
        exit_code = process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout.read(), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()

    assert exit_code == 2
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "QLIK_TENANT_URL" in lines[0]
    assert "--demo" in lines[0]
