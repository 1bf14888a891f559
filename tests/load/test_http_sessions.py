"""A bounded load test of the streamable HTTP transport on 127.0.0.1: 200 concurrent MCP sessions against
`qdi-mcp serve --demo --transport http`, no errors, and no memory growth from one round to the next.

Bounded: fixed session count, a hard time limit, loopback only, and the server process is always killed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from qdi_mcp.specs import load_specs

SESSIONS = 200
ROUND_LIMIT_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "QDI_MCP_WORKDIR": str(tmp_path / "work"),
        "QDI_EMULATOR_SPEED": "50",
        "QDI_MCP_LOG_LEVEL": "WARNING",
        # this test opens SESSIONS at once on purpose; the default cap (100) is tested in test_http_serve.py
        "QDI_MCP_HTTP_MAX_SESSIONS": str(SESSIONS),
        "QDI_MCP_CACHE_DIR": os.environ.get("QDI_MCP_CACHE_DIR", "off"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "qdi_mcp", "serve", "--demo", "--transport", "http", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {process.stderr.read().decode()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("server did not start listening within 30 s")
        yield f"http://127.0.0.1:{port}/mcp", process.pid
    finally:
        process.kill()
        process.wait(timeout=10)


async def one_session(url: str, errors: list[str]) -> None:
    try:
        async with Client(url) as client:  # the SDK default protocol (2026-07-28), as a host would use
            tools = await client.list_tools()
            result = await client.call_tool("qdi_list_projects", {})
            if len(tools.tools) != len(load_specs()) or result.is_error or result.structured_content["count"] < 4:
                errors.append("unexpected answer")
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none may pass silently
        leaf = _leaf(exc)  # the SDK wraps failures in task-group exception groups: name the cause
        errors.append(f"{type(leaf).__name__}: {leaf}"[:200])


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def load_round(url: str, sessions: int) -> list[str]:
    errors: list[str] = []
    with anyio.fail_after(ROUND_LIMIT_SECONDS):
        async with anyio.create_task_group() as group:
            for _ in range(sessions):
                group.start_soon(one_session, url, errors)
    return errors


@pytest.mark.anyio
async def test_200_concurrent_http_sessions_succeed_without_memory_growth(http_server: tuple[str, int]) -> None:
    url, pid = http_server
    # The first rounds grow the heap to its working size (imports, caches, allocator arenas, the peak of 200
    # sessions at once); a leak shows as growth that goes on round after round once that size is reached.
    errors = await load_round(url, SESSIONS)
    errors += await load_round(url, SESSIONS)
    settled = rss_kib(pid)
    errors += await load_round(url, SESSIONS)
    errors += await load_round(url, SESSIONS)
    after = rss_kib(pid)
    assert errors == []
    growth_mib = (after - settled) / 1024
    # A leak of 60 kB per session would add ~24 MiB over the last two rounds; allocator noise on a busy
    # machine stays well under that.
    assert growth_mib < 24, f"server RSS grew {growth_mib:.1f} MiB over two more rounds of {SESSIONS} sessions"
