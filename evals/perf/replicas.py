"""Two replicas of `qdi-mcp serve --transport http` sharing one Redis, in front of one emulated tenant with Qlik's
rate limits on: the deployment of issue 18, on loopback, as real processes.

Used by the two-replica test (tests/shared_state/test_two_replicas.py) and by `python -m evals.perf --only
replicas`, which prints:
  - single use: one token, the confirmed call sent 10 times at once to each replica -> executions at the tenant
    (goal 1) and refusals (goal 19);
  - shared limits: 100 concurrent tool calls split across the replicas -> 429 answers from the tenant (goal 0)
    and the busiest 60 s per tier against Qlik's budget.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from evals.perf.processes import Process

SECRET = "replica-shared-signing-secret-0123456789abcdef"  # noqa: S105 - a throwaway deployment's key
API_KEY = "qdi-demo-key"
ORDERS_ID = "6650f0c1a2b3c4d5e6f70003"  # one task: a status reads one task state
CUSTOMER_360_PROD_ID = "6650f0c1a2b3c4d5e6f70002"  # two tasks: two task states
STOP_REPLICATION = {"project_id": ORDERS_ID, "task_id": "orders_replication-jeqy"}
EMULATOR_READY = re.compile(r"tenant URL (http://\S+)")
HTTP_READY = re.compile(r"serving MCP over streamable HTTP at (http://\S+/mcp)")
# Qlik's runtime-state budget is 120 a minute. 100 status calls, half on a one-task and half on a two-task project,
# read 150 task states: more than one minute's budget, so the replicas must hold 30 back together (each alone
# sends 75, under the budget, and the tenant would answer 429 to 30), and the run lasts a little over a minute.
LOAD_CALLS = 100


@dataclass
class Deployment:
    tenant_url: str
    replicas: list[str]  # MCP URLs of replica A and B
    audit_logs: list[Path]
    state_url: str
    processes: list[Process]

    def tenant_counters(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.tenant_url}/_emulator/counters", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
        )
        response.raise_for_status()
        counters: dict[str, Any] = response.json()
        return counters

    def audit_lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for path in self.audit_logs:
            if path.exists():
                lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return lines


@contextmanager
def deployment(folder: Path, state_url: str, *, cache_dir: str | None = None) -> Iterator[Deployment]:
    """The emulator (Qlik's rate limits on, real time) and two replicas sharing `state_url`."""
    base = {"PATH": os.environ.get("PATH", "")}
    if cache_dir:
        base["QDI_MCP_CACHE_DIR"] = cache_dir
    processes: list[Process] = []
    try:
        emulator = Process(
            [sys.executable, "-m", "qdi_mcp", "emulator", "--port", "0", "--rate-limits"],
            # Real time: the tenant's rate windows must be the minutes the replicas count.
            base | {"QDI_EMULATOR_SPEED": "1"},
            folder,
        )
        processes.append(emulator)
        tenant_url = emulator.wait_for(EMULATOR_READY).group(1)
        replicas: list[str] = []
        audit_logs: list[Path] = []
        for name in ("a", "b"):
            work = folder / f"replica-{name}"
            work.mkdir(parents=True, exist_ok=True)
            env = base | {
                "QLIK_TENANT_URL": tenant_url,
                "QLIK_API_KEY": API_KEY,
                "QDI_MCP_SECRET": SECRET,
                "QDI_MCP_STATE_URL": state_url,
                "QDI_MCP_WORKDIR": str(work),
                "QDI_MCP_AUDIT_LOG": str(work / "audit.jsonl"),
            }
            replica = Process(
                [sys.executable, "-m", "qdi_mcp", "serve", "--transport", "http", "--port", "0"], env, folder
            )
            processes.append(replica)
            replicas.append(replica.wait_for(HTTP_READY).group(1))
            audit_logs.append(work / "audit.jsonl")
        yield Deployment(tenant_url, replicas, audit_logs, state_url, processes)
    finally:
        for process in reversed(processes):
            process.stop()


async def confirmed_call_raced(deployment: Deployment, per_replica: int = 10) -> dict[str, int]:
    """A token issued by replica A; the confirmed stop sent `per_replica` times at once to each replica."""
    from mcp import Client

    async with Client(deployment.replicas[0]) as first:
        preview = await first.call_tool("qdi_stop_task", STOP_REPLICATION)
    body = preview.structured_content or {}
    if body.get("status") != "confirmation_required":
        raise RuntimeError(f"expected a confirmation to be required, got {body}")
    token = body["confirmation_token"]
    outcomes: list[str] = []

    async def send(url: str) -> None:
        async with Client(url) as client:
            result = await client.call_tool("qdi_stop_task", STOP_REPLICATION | {"confirmation_token": token})
        structured = result.structured_content or {}
        if result.is_error:
            outcomes.append(str((structured.get("error") or {}).get("code") or "error"))
        else:
            outcomes.append("executed")

    async with anyio.create_task_group() as group:
        for url in deployment.replicas:
            for _ in range(per_replica):
                group.start_soon(send, url)
    stops = int(deployment.tenant_counters()["counters"].get("stop_task", 0))
    return {
        "sent": len(outcomes),
        "executed": outcomes.count("executed"),
        "refused": len(outcomes) - outcomes.count("executed"),
        "tenant_stops": stops,
        "refusal_codes": len(set(outcomes) - {"executed"}),
    }


async def load_split(deployment: Deployment, calls: int = LOAD_CALLS) -> dict[str, Any]:
    """`calls` concurrent tool calls, half to each replica, each reading task states (runtime-state tier)."""
    from mcp import Client

    errors: list[str] = []

    async def one(index: int) -> None:
        url = deployment.replicas[index % 2]
        project = (ORDERS_ID, CUSTOMER_360_PROD_ID)[(index // 2) % 2]
        async with Client(url) as client:
            result = await client.call_tool("qdi_get_project_status", {"project_id": project})
        if result.is_error:
            errors.append(result.content[0].text[:200] if result.content else "error")

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for index in range(calls):
            group.start_soon(one, index)
    seconds = time.monotonic() - started
    counters = deployment.tenant_counters()
    rate = counters["rate"]
    too_many = sum(count for key, count in counters["responses"].items() if key.endswith(" 429"))
    return {
        "calls": calls,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "tenant_429": too_many,
        "seconds": round(seconds, 1),
        "rate": rate,
    }


def redis_binary() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_for_benchmark() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port; yields its URL."""
    import socket

    binary = redis_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="qdi-redis-")
    process = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def run_replicas(quick: bool) -> list[dict[str, Any]]:
    """The two figures of issue 18 on a fresh deployment (a race for one token; with `quick` nothing more, else
    also 100 concurrent calls split across the replicas)."""
    if redis_binary() is None:
        return [{"skipped": "redis-server is not installed (Debian: apt-get install redis-server)"}]
    with tempfile.TemporaryDirectory(prefix="qdi-replicas-") as folder, redis_for_benchmark() as state_url:
        with deployment(Path(folder), state_url, cache_dir=os.environ.get("QDI_MCP_CACHE_DIR")) as deployed:
            raced = anyio.run(confirmed_call_raced, deployed)
            load = None if quick else anyio.run(load_split, deployed)
    return [{"race": raced, "load": load}]


def print_table(rows: list[dict[str, Any]]) -> None:
    row = rows[0]
    print(
        "Two replicas (qdi-mcp serve --transport http) sharing one Redis, emulator with Qlik's rate limits, real time"
    )
    if "skipped" in row:
        print(f"  skipped: {row['skipped']}")
        return
    race = row["race"]
    print(
        f"  one token sent {race['sent']} times at once (half to each replica): {race['executed']} executed, "
        f"{race['refused']} refused; the tenant saw {race['tenant_stops']} stop"
    )
    load = row["load"]
    if load:
        runtime = load["rate"]["runtime_state"]
        print(
            f"  {load['calls']} concurrent status calls split across the replicas in {load['seconds']:.1f} s: "
            f"{load['tenant_429']} answered 429, {load['errors']} errors; runtime-state requests "
            f"{runtime['admitted']}, busiest 60 s {runtime['busiest_60s']} (Qlik: 120), tier 1 busiest 5 min "
            f"{load['rate']['tier1']['busiest_300s']} (Qlik: 5000)"
        )


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from evals.perf.report import goal

    row = rows[0]
    if "skipped" in row:
        return [goal("replicas: shared state", "skipped", "redis-server", False)]
    race = row["race"]
    found = [
        goal("replicas: executions of one token", str(race["tenant_stops"]), "1", race["tenant_stops"] == 1),
        goal("replicas: refusals of its 19 replays", str(race["refused"]), "19", race["refused"] == race["sent"] - 1),
    ]
    load = row["load"]
    if load:
        runtime = load["rate"]["runtime_state"]
        found += [
            goal("replicas: 429 answers", str(load["tenant_429"]), "0", load["tenant_429"] == 0),
            goal(
                "replicas: busiest 60 s of task-state reads",
                str(runtime["busiest_60s"]),
                "<= 120",
                runtime["busiest_60s"] <= 120,
            ),
        ]
    return found
