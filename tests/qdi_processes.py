"""A `qdi-mcp` subprocess for tests that need the process boundary (HTTP serving, the emulator's banner)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from evals.perf.processes import Process


class QdiProcess(Process):
    """A `qdi-mcp` subprocess (this interpreter, the package's module) whose stderr is kept for asserts."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        super().__init__([sys.executable, "-m", "qdi_mcp", *args], env, cwd)


HTTP_READY = re.compile(r"serving MCP over streamable HTTP at (http://\S+/mcp)")
HTTP_START_TIMEOUT_SECONDS = 20


def base_env(workdir: Path, **extra: str) -> dict[str, str]:
    """What a served subprocess gets: an explicit environment, its files under `workdir`, the emulator fast."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "QDI_MCP_WORKDIR": str(workdir / "work"),
        "QDI_MCP_AUDIT_LOG": str(workdir / "audit.jsonl"),
        "QDI_EMULATOR_SPEED": "50",
    }
    # conftest points the spec cache at a temporary folder; the child gets an explicit env, so pass it on.
    if os.environ.get("QDI_MCP_CACHE_DIR"):
        env["QDI_MCP_CACHE_DIR"] = os.environ["QDI_MCP_CACHE_DIR"]
    env.update(extra)
    return env


def start_http_server(workdir: Path, *extra_args: str, **env: str) -> tuple[QdiProcess, str]:
    """`qdi-mcp serve --demo --transport http --port 0`, and the URL it announces once its port is bound."""
    server = QdiProcess(
        ["serve", "--demo", "--transport", "http", "--port", "0", *extra_args], base_env(workdir, **env), workdir
    )
    try:
        url = server.wait_for(HTTP_READY, HTTP_START_TIMEOUT_SECONDS).group(1)
    except BaseException:
        server.stop()
        raise
    return server, url


def stdio_server_params(workdir: Path, *extra_args: str) -> Any:
    """How an MCP host starts `qdi-mcp serve --demo` over stdio: this interpreter, an explicit environment."""
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "qdi_mcp", "serve", "--demo", *extra_args],
        env=base_env(workdir),
        cwd=str(workdir),
    )
