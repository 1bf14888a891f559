"""Load: concurrent MCP clients over streamable HTTP on 127.0.0.1, against the emulator with rate limits ON.

The server is `evals/perf/load_server.py` in a subprocess (its RSS is the server's alone), on a free port,
the emulator 50 times faster than real time. Three phases, each bounded in count and in time:

1. 100 concurrent workflow calls, one MCP session each: `qdi_validate_project_and_wait` and
   `qdi_get_project_status` alternately over the four demo projects. Goals: all complete (no error result,
   no wait timed out), zero 429s in the emulator's books, and in any one window of a tier (5 minutes for Tier 1
   and 2, one for runtime state) no more requests than it allows (the busiest window, counted where requests
   arrive).
2. The reference: one client calling the read tool `qdi_get_project` sequentially (median latency), on the
   SDK's default protocol (2026-07-28) and, for comparison, on the 2025 handshake era.
3. 50 concurrent clients calling `qdi_get_project` sequentially: p50 and p99 latency, and p50 over the
   single-client median (what concurrency costs; both measured in this run).
Resident memory (VmRSS) of the server: after start, after the workflows, after the latency phase.
The subprocess is killed at the end, whatever happened. Every client but the handshake-era reference uses
the SDK's default protocol, as a host would.
"""

from __future__ import annotations

import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import anyio
import httpx
from mcp import Client
from mcp.client.client import ConnectMode

from evals.perf.report import goal, mark

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEED = 50.0
WORKFLOW_CALLS = 100
LATENCY_CLIENTS = 50
CALLS_PER_CLIENT = 20
REFERENCE_CALLS = 50
QUICK = {"workflows": 8, "clients": 4, "calls_per_client": 3, "reference_calls": 5}
PHASE_LIMIT_SECONDS = 240.0
START_LIMIT_SECONDS = 30.0
DEMO_PROJECT_IDS = (
    "6650f0c1a2b3c4d5e6f70001",  # Customer 360
    "6650f0c1a2b3c4d5e6f70002",  # Customer 360 (prod)
    "6650f0c1a2b3c4d5e6f70003",  # Orders replication
    "6650f0c1a2b3c4d5e6f70004",  # Sales QVD
)
READ_TOOL = "qdi_get_project"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def start_server(stderr: BinaryIO) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - a fallback home for the child's caches
        "PYTHONPATH": str(REPO_ROOT),
        "QDI_MCP_CACHE_DIR": os.environ.get("QDI_MCP_CACHE_DIR", "off"),
    }
    process = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and a module of this repo
        [sys.executable, "-m", "evals.perf.load_server", "--speed", str(SPEED)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + START_LIMIT_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                line = process.stdout.readline().decode().strip()
                if line.startswith("port "):
                    return process, int(line.split()[1])
                if not line and process.poll() is not None:
                    break
    process.kill()
    process.wait(timeout=10)
    stderr.seek(0)
    said = stderr.read()[-2000:]
    raise RuntimeError(
        f"the load server did not start within {START_LIMIT_SECONDS:g} s (exit code {process.poll()}): {said!r}"
    )


def _workflow(index: int) -> tuple[str, dict[str, Any]]:
    project_id = DEMO_PROJECT_IDS[index % len(DEMO_PROJECT_IDS)]
    if index % 2:
        return "qdi_get_project_status", {"project_id": project_id}
    return "qdi_validate_project_and_wait", {"project_id": project_id, "timeout_seconds": 600}


async def _one_workflow(url: str, index: int, outcomes: list[dict[str, Any]]) -> None:
    tool, arguments = _workflow(index)
    started = time.perf_counter()
    try:
        async with Client(url) as client:
            result = await client.call_tool(tool, arguments)
        structured = result.structured_content or {}
        ok = not result.is_error and not structured.get("timed_out", False)
        detail = structured.get("state") or ("error" if result.is_error else "ok")
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none may pass silently
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:200]
    outcomes.append({"tool": tool, "ok": ok, "detail": detail, "seconds": time.perf_counter() - started})


async def run_workflows(url: str, count: int) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any]] = []
    with anyio.fail_after(PHASE_LIMIT_SECONDS):
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(_one_workflow, url, index, outcomes)
    return outcomes


async def _sequential_reads(client: Client, calls: int, latencies: list[float], errors: list[str]) -> None:
    for _ in range(calls):
        started = time.perf_counter()
        result = await client.call_tool(READ_TOOL, {"project_id": DEMO_PROJECT_IDS[0]})
        latencies.append(time.perf_counter() - started)
        if result.is_error:
            errors.append(str(result.structured_content)[:200])


async def run_reads(url: str, clients: int, calls: int, mode: ConnectMode = "auto") -> tuple[list[float], list[str]]:
    """`clients` sessions, all connected before the clock starts, each making `calls` sequential calls."""
    latencies: list[float] = []
    errors: list[str] = []
    ready = anyio.Event()
    connected = 0

    async def one_client() -> None:
        nonlocal connected
        try:
            async with Client(url, mode=mode) as client:
                connected += 1
                if connected == clients:
                    ready.set()
                await ready.wait()
                await _sequential_reads(client, calls, latencies, errors)
        except Exception as exc:  # noqa: BLE001 - counted, never silent
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            ready.set()

    with anyio.fail_after(PHASE_LIMIT_SECONDS):
        async with anyio.create_task_group() as group:
            for _ in range(clients):
                group.start_soon(one_client)
    return latencies, errors


async def fetch_counters(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{base}/perf/counters")
        response.raise_for_status()
        return response.json()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def drive(port: int, pid: int, sizes: dict[str, int]) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/mcp"
    rss = {"start": rss_mib(pid)}
    started = time.perf_counter()
    outcomes = await run_workflows(url, sizes["workflows"])
    workflow_seconds = time.perf_counter() - started
    counters = await fetch_counters(base)
    rss["after_workflows"] = rss_mib(pid)
    reference, reference_errors = await run_reads(url, 1, sizes["reference_calls"])
    handshake, handshake_errors = await run_reads(url, 1, sizes["reference_calls"], mode="legacy")
    latencies, errors = await run_reads(url, sizes["clients"], sizes["calls_per_client"])
    rss["after_reads"] = rss_mib(pid)
    return {
        "outcomes": outcomes,
        "workflow_seconds": workflow_seconds,
        "counters": counters,
        "reference": reference,
        "handshake_reference": handshake,
        "latencies": latencies,
        "errors": reference_errors + handshake_errors + errors,
        "rss": rss,
    }


def run_load(quick: bool = False) -> list[dict[str, Any]]:
    sizes = (
        QUICK
        if quick
        else {
            "workflows": WORKFLOW_CALLS,
            "clients": LATENCY_CLIENTS,
            "calls_per_client": CALLS_PER_CLIENT,
            "reference_calls": REFERENCE_CALLS,
        }
    )
    with tempfile.TemporaryFile() as stderr:
        process, port = start_server(stderr)
        try:
            measured = anyio.run(drive, port, process.pid, sizes)
        finally:
            process.kill()
            process.wait(timeout=10)
    return [_row(measured, sizes)]


def _row(measured: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any]:
    outcomes = measured["outcomes"]
    counters = measured["counters"]
    throttled = sum(n for key, n in counters["responses"].items() if key.endswith(" 429"))
    limits = counters["tier_limits"]
    busiest = counters["busiest_window"]
    within = all(busiest.get(tier, 0) <= limit for tier, limit in limits.items())
    completed = sum(1 for o in outcomes if o["ok"])
    failures = Counter(o["detail"] for o in outcomes if not o["ok"])
    reference_p50 = statistics.median(measured["reference"])
    p50 = statistics.median(measured["latencies"])
    p99 = _percentile(measured["latencies"], 0.99)
    return {
        "benchmark": "load",
        "speed": SPEED,
        "workflow_calls": sizes["workflows"],
        "workflows_completed": completed,
        "workflow_states": dict(Counter(o["detail"] for o in outcomes if o["ok"])),
        "workflow_failures": dict(failures),
        "workflow_seconds": round(measured["workflow_seconds"], 2),
        "workflow_p50_seconds": round(statistics.median(o["seconds"] for o in outcomes), 3),
        "api_requests": sum(counters["requests"].values()),
        "responses_429": throttled,
        "busiest_window": busiest,
        "tier_limits": limits,
        "within_tiers": within,
        "read_tool": READ_TOOL,
        "read_clients": sizes["clients"],
        "read_calls": len(measured["latencies"]),
        "read_errors": measured["errors"][:5],
        "reference_p50_ms": round(reference_p50 * 1000, 2),
        "handshake_reference_p50_ms": round(statistics.median(measured["handshake_reference"]) * 1000, 2),
        "p50_ms": round(p50 * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "p50_over_reference": round(p50 / reference_p50, 2),
        "rss_mib": measured["rss"],
        "ok": completed == len(outcomes) and throttled == 0 and within and not measured["errors"],
    }


def print_table(rows: list[dict[str, Any]], file: TextIO | None = None) -> None:
    out = file or sys.stdout
    row = rows[0]
    print(
        f"Load over streamable HTTP on 127.0.0.1, emulator rate limits ON, emulator time x{row['speed']:g}",
        file=out,
    )
    states = ", ".join(f"{state} {n}" for state, n in sorted(row["workflow_states"].items()))
    print(
        f"{row['workflow_calls']} concurrent workflow calls: {row['workflows_completed']} completed ({states}) "
        f"in {row['workflow_seconds']:.1f} s (p50 {row['workflow_p50_seconds']:.2f} s); "
        f"{row['api_requests']} API requests, {row['responses_429']} answered 429",
        file=out,
    )
    for failure, count in row["workflow_failures"].items():
        print(f"  failed x{count}: {failure}", file=out)
    header = f"{'rate tier':<16} {'busiest window':>14} {'limit':>6}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for tier, limit in row["tier_limits"].items():
        busiest = row["busiest_window"].get(tier, 0)
        print(f"{tier:<16} {busiest:>14} {limit:>6} {mark(busiest <= limit)}", file=out)
    print(
        f"{row['read_tool']}: 1 client p50 {row['reference_p50_ms']:.1f} ms; {row['read_clients']} concurrent clients "
        f"({row['read_calls']} calls) p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms "
        f"(p50 x{row['p50_over_reference']:.1f} the single client's); "
        f"1 client on the 2025 handshake protocol p50 {row['handshake_reference_p50_ms']:.1f} ms",
        file=out,
    )
    for error in row["read_errors"]:
        print(f"  read error: {error}", file=out)
    rss = row["rss_mib"]
    print(
        f"server RSS: {rss['start']:.1f} MiB at start, {rss['after_workflows']:.1f} after the workflows, "
        f"{rss['after_reads']:.1f} after the reads",
        file=out,
    )


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    row = rows[0]
    completed = row["workflows_completed"] == row["workflow_calls"]
    return [
        goal(
            "load: workflow calls completed", f"{row['workflows_completed']}/{row['workflow_calls']}", "all", completed
        ),
        goal("load: 429 responses", str(row["responses_429"]), "0", row["responses_429"] == 0),
        goal("load: requests per window within each tier", _yes(row["within_tiers"]), "yes", row["within_tiers"]),
        goal("load: read calls without error", _yes(not row["read_errors"]), "yes", not row["read_errors"]),
    ]


def _yes(value: bool) -> str:
    return "yes" if value else "no"
