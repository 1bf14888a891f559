"""Cold start: spawn a stdio MCP server and time it until the first `tools/list` answer.

`qdi-mcp serve --demo` (as `python -m qdi_mcp serve --demo`) against the reference, a minimal low-level `mcp`
server with one tool (`python -m evals.perf.minimal_server`): same interpreter, same `-m` form, same pipes.
The runs alternate (reference, qdi-mcp, reference, ...) so drift on a shared machine hits both alike; one
unmeasured warm-up of each fills the OS file cache and the spec cache, as any second start on a desktop would.

What is timed is what an MCP host waits for: from spawning the process to reading the `tools/list` result,
with `initialize`, `notifications/initialized` and `tools/list` written at once, as hosts do. Each process is
bounded by a deadline and killed afterwards, whatever happened.
"""

from __future__ import annotations

import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from mcp_types.version import LATEST_HANDSHAKE_VERSION

from evals.perf.report import goal, mark

RATIO_GOAL = 1.3
RUNS = 9
QUICK_RUNS = 1
START_TIMEOUT_SECONDS = 30.0
REPO_ROOT = Path(__file__).resolve().parents[2]

QDI_COMMAND = (sys.executable, "-m", "qdi_mcp", "serve", "--demo")
REFERENCE_COMMAND = (sys.executable, "-m", "evals.perf.minimal_server")

_HANDSHAKE = (
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "qdi-perf", "version": "0"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
)
_REQUEST_BYTES = b"".join(json.dumps(message).encode() + b"\n" for message in _HANDSHAKE)


def server_env(work: Path) -> dict[str, str]:
    """An explicit environment: nothing from the caller's shell (tenant, credentials) reaches the servers."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "PYTHONPATH": str(REPO_ROOT),
        "QDI_MCP_WORKDIR": str(work / "qdi-mcp-work"),
        "QDI_MCP_AUDIT_LOG": str(work / "audit.jsonl"),
        "QDI_MCP_CACHE_DIR": str(work / "cache"),
        "QDI_MCP_LOG_LEVEL": "WARNING",
    }


def time_to_tools_list(command: tuple[str, ...], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Seconds from spawn to the `tools/list` answer, and how many tools it listed."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and a module of this repo
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(_REQUEST_BYTES)
        process.stdin.flush()
        answer = _read_answer(process, request_id=2, deadline=started + START_TIMEOUT_SECONDS)
        elapsed = time.perf_counter() - started
    finally:
        process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
    return elapsed, len(answer["result"]["tools"])


def _read_answer(process: subprocess.Popen[bytes], *, request_id: int, deadline: float) -> dict[str, Any]:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{' '.join(process.args)} did not answer tools/list in {START_TIMEOUT_SECONDS:g} s")
            if not selector.select(timeout=left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"{' '.join(process.args)} exited before answering (code {process.poll()})")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("id") == request_id:
                    if "result" not in message:
                        raise RuntimeError(f"tools/list failed: {message.get('error')}")
                    return message


def run_coldstart(runs: int = RUNS) -> list[dict[str, Any]]:
    """Alternate `runs` starts of each server (after one warm-up each); one row with medians and the ratio."""
    samples: dict[str, list[float]] = {"reference": [], "qdi": []}
    tools: dict[str, int] = {}
    commands = {"reference": REFERENCE_COMMAND, "qdi": QDI_COMMAND}
    with tempfile.TemporaryDirectory(prefix="qdi-perf-coldstart-") as folder:
        work = Path(folder)
        env = server_env(work)
        for command in commands.values():
            time_to_tools_list(command, env, REPO_ROOT)  # warm-up, not counted
        for _ in range(runs):
            for name, command in commands.items():
                seconds, tools[name] = time_to_tools_list(command, env, REPO_ROOT)
                samples[name].append(seconds)
    reference = statistics.median(samples["reference"])
    qdi = statistics.median(samples["qdi"])
    ratio = qdi / reference
    return [
        {
            "benchmark": "coldstart",
            "runs": runs,
            "reference_command": "python -m evals.perf.minimal_server",
            "qdi_command": "python -m qdi_mcp serve --demo",
            "reference_median_ms": round(reference * 1000, 1),
            "qdi_median_ms": round(qdi * 1000, 1),
            "reference_min_ms": round(min(samples["reference"]) * 1000, 1),
            "qdi_min_ms": round(min(samples["qdi"]) * 1000, 1),
            "reference_tools": tools["reference"],
            "qdi_tools": tools["qdi"],
            "ratio": round(ratio, 3),
            "ratio_goal": RATIO_GOAL,
            "ok": ratio <= RATIO_GOAL,
        }
    ]


def print_table(rows: list[dict[str, Any]], file: TextIO | None = None) -> None:
    out = file or sys.stdout
    row = rows[0]
    print(f"Cold start over stdio: spawn -> first tools/list answer (median of {row['runs']} runs)", file=out)
    header = f"{'server':<40} {'tools':>5} {'median':>9} {'min':>9}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for key in ("reference", "qdi"):
        print(
            f"{row[f'{key}_command']:<40} {row[f'{key}_tools']:>5} {row[f'{key}_median_ms']:>7.1f}ms "
            f"{row[f'{key}_min_ms']:>7.1f}ms",
            file=out,
        )
    print(f"ratio qdi / reference: {row['ratio']:.2f} (goal <= {RATIO_GOAL}) {mark(row['ok'])}", file=out)


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    row = rows[0]
    return [goal("cold start: qdi-mcp / minimal server", f"{row['ratio']:.2f}", f"<= {RATIO_GOAL}", row["ok"])]
