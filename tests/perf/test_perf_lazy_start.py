"""What keeps a cold start short: listing tools loads neither the API client, its models, the handlers nor the
emulator, and the client opens (once) at the first tool call. Checked by which modules a fresh interpreter has
loaded and by counting opens, never by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.cli.backend import DEMO_API_KEY, client_on_demand
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.specs import load_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANT_URL = "http://127.0.0.1:8765"
# Loaded by the first tool call, never by a start that only lists tools.
CALL_TIME_MODULES = (
    "qdi_mcp.api",
    "qdi_mcp.api.client",
    "qdi_mcp.api.models",
    "qdi_mcp.api.session",
    "qdi_mcp.emulator",
    "qdi_mcp.tools.projects",
    "qdi_mcp.tools.workflows",
    "yaml",
)
HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]
SERVE_AND_REPORT = f"""
import json, sys
from qdi_mcp.cli import main
code = main(["serve", "--demo"])
loaded = sorted(name for name in {CALL_TIME_MODULES!r} if name in sys.modules)
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


def fresh_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO_ROOT),
        "QDI_MCP_CACHE_DIR": str(tmp_path / "spec-cache"),
        "QDI_MCP_WORKDIR": str(tmp_path / "work"),
        "QDI_MCP_LOG_LEVEL": "WARNING",
    }


def fresh_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=fresh_env(tmp_path), cwd=tmp_path, timeout=60
    )


def serve_and_list(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a fresh `serve --demo`, list its tools over stdio, then close stdin; the tools/list answer and the
    server's report of what it loaded. Stdin stays open until the answer is read: closing it first would race
    the server's answer against its shutdown on end of input."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_AND_REPORT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=fresh_env(tmp_path),
        cwd=tmp_path,
    )
    # A server that never answers must fail the test, not hang it.
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("".join(json.dumps(message) + "\n" for message in HANDSHAKE))
        process.stdin.flush()
        listing: dict[str, Any] = {}
        for line in process.stdout:
            answer = json.loads(line)
            if answer.get("id") == 2:
                listing = answer
                break
        process.stdin.close()
        assert process.stderr is not None
        stderr = process.stderr.read()
        process.wait(timeout=60)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    return listing, json.loads(stderr.strip().splitlines()[-1])


def test_a_stdio_start_lists_every_tool_without_loading_what_calls_need(tmp_path: Path) -> None:
    serve_and_list(tmp_path)  # fills the spec cache, as any earlier start would

    listing, report = serve_and_list(tmp_path)

    assert len(listing["result"]["tools"]) == len(load_specs())
    assert report == {"code": 0, "loaded": []}


def test_guardrail_modules_load_without_the_handlers_and_reading_handlers_registers_all(tmp_path: Path) -> None:
    code = """
import json, sys
import qdi_mcp.cli.logs, qdi_mcp.guard.audit, qdi_mcp.guard.redact, qdi_mcp.server
before = "qdi_mcp.tools.projects" in sys.modules or "qdi_mcp.api.client" in sys.modules
from qdi_mcp.tools import HANDLERS
print(json.dumps({"before": before, "handlers": sorted(HANDLERS)}))
"""
    report = json.loads(fresh_python(code, tmp_path).stdout)

    assert report["before"] is False
    assert report["handlers"] == sorted(spec.name for spec in load_specs())


def test_checking_the_tenant_url_loads_neither_the_api_package_nor_httpx(tmp_path: Path) -> None:
    # The one API fact a start needs (is QLIK_TENANT_URL acceptable) is configuration, in settings: the API
    # package itself loads eagerly, so nothing on the start path may import it.
    code = """
import json, sys
from qdi_mcp.settings.tenant_url import validate_tenant_url
validate_tenant_url("https://acme.eu.qlikcloud.com")
print(json.dumps(sorted(name for name in ("qdi_mcp.api", "httpx", "pydantic") if name in sys.modules)))
"""
    assert json.loads(fresh_python(code, tmp_path).stdout) == []


@pytest.mark.anyio
async def test_listing_tools_never_opens_the_client_and_the_first_call_opens_it_once(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport())
    opens: list[QlikClient] = []

    async def connect() -> QlikClient:
        opens.append(client)
        return client

    settings = Settings.from_env({}, demo=True, workdir=tmp_path / "work", audit_log=tmp_path / "audit.jsonl")
    server = build_server(settings, None, connect=connect)
    project_id = emulator.project_id("Customer 360")
    async with client, Client(server) as mcp_client:
        listed = await mcp_client.list_tools()
        assert len(listed.tools) == len(load_specs())
        assert opens == []

        first = await mcp_client.call_tool("qdi_get_project", {"project_id": project_id})
        second = await mcp_client.call_tool("qdi_list_tasks", {"project_id": project_id})

    assert not first.is_error and not second.is_error
    assert first.structured_content is not None and first.structured_content["project"]["id"] == project_id
    assert opens == [client]


def test_a_server_needs_a_client_or_a_way_to_open_one(tmp_path: Path) -> None:
    settings = Settings.from_env({}, demo=True, workdir=tmp_path / "work")

    with pytest.raises(ValueError, match="connect"):
        build_server(settings, None)


@pytest.mark.anyio
async def test_client_on_demand_opens_one_client_for_concurrent_first_calls_and_closes_it(tmp_path: Path) -> None:
    settings = Settings.from_env({}, demo=True, workdir=tmp_path / "work")
    emulator = Emulator(clock=ManualClock(), api_key=DEMO_API_KEY)
    got: list[QlikClient] = []

    async def get(clients: Any) -> None:
        got.append(await clients.get())

    async with client_on_demand(settings, emulator=emulator) as clients:
        assert not clients.opened
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(get, clients)
        projects = await got[0].list_projects()

    assert len({id(client) for client in got}) == 1
    assert {p.name for p in projects} >= {"Customer 360"}
    with pytest.raises(Exception, match="closed"):
        await got[0].list_projects()


@pytest.mark.anyio
async def test_client_on_demand_that_was_never_used_opens_nothing(tmp_path: Path) -> None:
    settings = Settings.from_env({}, demo=True, workdir=tmp_path / "work")

    async with client_on_demand(settings) as clients:
        pass

    assert not clients.opened
