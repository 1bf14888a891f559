"""A `qdi-mcp` subprocess for tests that need the process boundary (HTTP serving, the emulator's banner)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any


class QdiProcess:
    """A `qdi-mcp` subprocess whose stderr is read on a thread (so its pipe never fills) and kept for asserts."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "qdi_mcp", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)  # end of stream: the process exited

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Block until a stderr line matches; fail with everything the server said if it exits or stalls."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern.pattern!r}; stderr: {''.join(self.stderr)}") from None
            if line is None:
                raise AssertionError(f"server exited ({self.process.poll()}); stderr: {''.join(self.stderr)}")
            match = pattern.search(line)
            if match:
                return match

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)


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
