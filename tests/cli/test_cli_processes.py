"""The installed console script as a shell or a desktop host runs it: piped into a reader that has gone, and started
in `/` with nothing but a home folder, as Claude Desktop on macOS starts its servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"
TIMEOUT_SECONDS = 30
SCRIPT = Path(sys.executable).with_name("qdi-mcp")


def bare_env(home: Path) -> dict[str, str]:
    """What a desktop host passes: a PATH and a HOME, no QDI_MCP_WORKDIR, no QDI_MCP_AUDIT_LOG."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "QDI_EMULATOR_SPEED": "50"}
    if os.environ.get("QDI_MCP_CACHE_DIR"):  # conftest's private spec cache
        env["QDI_MCP_CACHE_DIR"] = os.environ["QDI_MCP_CACHE_DIR"]
    return env


HEALTH_CHECK = str(Path(__file__).resolve().parents[2] / "examples" / "runbooks" / "health-check.yaml")


@pytest.mark.parametrize(
    "argv",
    [
        ["tools", "--json"],
        ["tools"],
        ["call", "qdi_list_projects", "--demo"],
        ["runbook", HEALTH_CHECK, "--demo"],  # written from inside a task group: the error arrives wrapped
    ],
)
def test_output_into_a_closed_pipe_exits_1_without_a_traceback(tmp_path: Path, argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write fails with EPIPE
    try:
        completed = subprocess.run(
            [str(SCRIPT), *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=bare_env(tmp_path / "home"),
            cwd=tmp_path,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        os.close(write_end)

    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "BrokenPipeError" not in completed.stderr


@pytest.mark.anyio
async def test_a_server_started_in_the_root_folder_records_writes_in_the_home_work_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qdi_mcp", "serve", "--demo"], env=bare_env(home), cwd="/"
    )

    with anyio.fail_after(TIMEOUT_SECONDS):
        async with Client(params) as client:
            result = await client.call_tool("qdi_prepare_project_and_wait", {"project_id": CUSTOMER_360_ID})

    assert not result.is_error, result.content
    audit_path = home / "qdi-mcp-work" / "audit.jsonl"
    audit = [json.loads(line) for line in audit_path.read_text(encoding="utf-8").splitlines()]
    assert [(r["tool"], r["outcome"]) for r in audit] == [
        ("qdi_prepare_project_and_wait", "started"),
        ("qdi_prepare_project_and_wait", "executed"),
    ]
