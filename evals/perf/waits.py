"""Benchmark of the "…_and_wait" tools: polls per wait, and detection lag, on the virtual clock.

Detection lag is the time from the action's completion (the emulator's own record of when it ended) to the
tool's answer. Goals (issue 5): lag at most max(1 s, 10 % of the action's duration), and at most 25 polls
for the 300 s action.

The measured actions really take 2, 30 and 300 s of emulator time: a benchmark project holds one landing task
and 149 storage tasks, and validating the landing plus k storages takes 0.5 s queued + 1.5 s (landing) + 2 s per
storage (validation is half a prepare, timings.py). Each duration runs with several jitter seeds; the table
shows the worst and the mean.
"""

from __future__ import annotations

import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.lowlevel
from mcp import Client

from evals.perf.report import mark
from qdi_mcp.api import ApiKeyAuth, CreateProjectRequest, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.emulator.demo_bindings import DemoEnvironment, environment_bindings
from qdi_mcp.emulator.project_files import write_project_zip
from qdi_mcp.emulator.task_templates import new_project_definition, new_task_definition
from qdi_mcp.guard.audit import AuditLog
from qdi_mcp.guard.redact import Redactor
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.tools.polling import PollSchedule

DURATIONS = (2.0, 30.0, 300.0)
SEEDS = (1, 2, 3, 4, 5)
POLLS_GOAL = {300.0: 25}
TENANT_URL = "http://127.0.0.1:8765"  # only used to build request URLs: the transport answers in process
# Validation seconds (timings.py): queued 0.5 s, a landing 1.5 s, each storage 2 s.
BASE_SECONDS = 2.0
SECONDS_PER_STORAGE = 2.0
TABLES = ("orders", "customers")


@dataclass(frozen=True)
class BenchProject:
    project_id: str
    landing_id: str
    storage_ids: list[str]

    def tasks_for(self, seconds: float) -> list[str]:
        """Task ids whose validation takes exactly `seconds`."""
        storages = (seconds - BASE_SECONDS) / SECONDS_PER_STORAGE
        if storages < 0 or storages != int(storages) or storages > len(self.storage_ids):
            raise ValueError(
                f"no selection of this project validates in {seconds:g} s: use 2 s plus a multiple of 2 s "
                f"up to {BASE_SECONDS + SECONDS_PER_STORAGE * len(self.storage_ids):g} s"
            )
        return [self.landing_id, *self.storage_ids[: int(storages)]]


async def create_bench_project(client: QlikClient, emulator: Emulator, storages: int) -> BenchProject:
    """Create and import (through the API) a project of one landing task and `storages` storage tasks."""
    space_id = emulator.project(emulator.project_id("Customer 360"))["spaceId"]
    name = f"Wait benchmark ({storages} storages)"
    project = await client.create_project(
        CreateProjectRequest(
            name=name,
            type="DATA_PIPELINE",
            space=space_id,
            platform_type="SNOWFLAKE",
            platform_connection="DEV_SPACE.Snowflake_DEV",
        )
    )
    landing = new_task_definition(
        "BENCH LANDING", "LANDING", task_id="bench_landing-0000", datasets=[(t, []) for t in TABLES], schema="src"
    )
    upstream = {d.name: [(landing.id, d.id)] for d in landing.datasets()}
    storage_tasks = [
        new_task_definition(
            f"BENCH STORAGE {n:03d}",
            "STORAGE",
            task_id=f"bench_storage-{n:04d}",
            datasets=[(t, upstream[t]) for t in TABLES],
        )
        for n in range(storages)
    ]
    definition = new_project_definition(
        project_type="DATA_PIPELINE", platform_type="SNOWFLAKE", tasks=[landing, *storage_tasks]
    )
    env = DemoEnvironment(
        name,
        "DEV_SPACE",
        "Snowflake_DEV",
        database="BENCH",
        warehouse="COMPUTE_WH",
        sources={landing.id: "MySQL_DEV"},
        source_schemas={"src": "src"},
    )
    bindings = environment_bindings(definition, env)
    # Bindings go on the target before the import (qlik.dev deploy-di-project, Steps 5 and 6); a legacy JSON zip
    # imports synchronously, so the project is ready when the call returns.
    await client.update_bindings(project.id, bindings)
    await client.import_project(project.id, write_project_zip(definition, mode="LEGACY"))
    return BenchProject(project.id, landing.id, [task.id for task in storage_tasks])


@dataclass(frozen=True)
class Sample:
    action_seconds: float
    polls: int
    lag: float
    state: str


async def _measure_one(
    mcp_client: Client, emulator: Emulator, clock: ManualClock, project: BenchProject, seconds: float
) -> Sample:
    arguments = {
        "project_id": project.project_id,
        "selected_task_ids": project.tasks_for(seconds),
        "timeout_seconds": int(seconds * 2 + 60),
    }
    result = await mcp_client.call_tool("qdi_validate_project_and_wait", arguments)
    answered_at = clock.monotonic()
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"the wait failed: {result.content[0].text if result.content else result}")
    structured = result.structured_content
    action = emulator.tenant.actions[structured["action_id"]]
    if action.end is None:
        raise RuntimeError(f"the action {structured['action_id']} had not ended when the wait answered")
    return Sample(
        action_seconds=action.end - action.created,
        polls=structured["polls"],
        lag=answered_at - action.end,
        state=structured["state"],
    )


async def measure(
    durations: tuple[float, ...] = DURATIONS, seeds: tuple[int, ...] = SEEDS, schedule: PollSchedule | None = None
) -> list[dict[str, Any]]:
    clock = ManualClock()  # shared: the client's waits move the emulator's state machines
    emulator = Emulator(clock=clock)
    settings = Settings.from_env({}, demo=True, workdir=Path("qdi-mcp-work"), audit_log=None)
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock)
    storages = int((max(durations) - BASE_SECONDS) / SECONDS_PER_STORAGE)
    samples: dict[float, list[Sample]] = {seconds: [] for seconds in durations}
    async with client:
        project = await create_bench_project(client, emulator, storages)
        options: dict[str, Any] = {"clock": clock, "schedule": schedule or PollSchedule()}
        # The benchmark only validates (reads): nothing to audit, and nothing written to disk.
        server = build_server(settings, client, context_options=options, audit=AuditLog(None, redactor=Redactor()))
        async with Client(server) as mcp_client:
            for seed in seeds:
                options["rng"] = random.Random(seed)
                for seconds in durations:
                    samples[seconds].append(await _measure_one(mcp_client, emulator, clock, project, seconds))
    return [_row(seconds, found) for seconds, found in samples.items()]


def _row(seconds: float, samples: list[Sample]) -> dict[str, Any]:
    lag_goal = max(1.0, 0.1 * seconds)
    polls_goal = POLLS_GOAL.get(seconds)
    lags = [s.lag for s in samples]
    polls = [s.polls for s in samples]
    return {
        "benchmark": "wait",
        "action_seconds": seconds,
        "measured_action_seconds": round(max(s.action_seconds for s in samples), 3),
        "runs": len(samples),
        "states": sorted({s.state for s in samples}),
        "polls_mean": round(statistics.fmean(polls), 2),
        "polls_max": max(polls),
        "polls_goal": polls_goal,
        "polls_ok": None if polls_goal is None else max(polls) <= polls_goal,
        "lag_mean_seconds": round(statistics.fmean(lags), 3),
        "lag_max_seconds": round(max(lags), 3),
        "lag_goal_seconds": lag_goal,
        "lag_ok": max(lags) <= lag_goal,
    }


def run_waits(durations: tuple[float, ...] = DURATIONS, seeds: tuple[int, ...] = SEEDS) -> list[dict[str, Any]]:
    """Measure every duration with every seed; one row per duration."""
    return anyio.run(measure, durations, seeds)


def print_table(rows: list[dict[str, Any]], file: TextIO | None = None) -> None:
    out = file or sys.stdout
    print("Waits on the virtual clock: polls per wait and detection lag (action end -> tool answer)", file=out)
    header = (
        f"{'action':>8} {'measured':>9} {'runs':>4} {'polls mean':>10} {'polls max':>9} {'goal':>6} "
        f"{'lag mean':>9} {'lag max':>8} {'goal':>7}"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for row in rows:
        polls_goal = "-" if row["polls_goal"] is None else f"<={row['polls_goal']} " + mark(row["polls_ok"])
        lag_goal = f"<={row['lag_goal_seconds']:g}s " + mark(row["lag_ok"])
        print(
            f"{row['action_seconds']:>7g}s {row['measured_action_seconds']:>8g}s {row['runs']:>4} "
            f"{row['polls_mean']:>10g} {row['polls_max']:>9} {polls_goal:>6} "
            f"{row['lag_mean_seconds']:>8.3f}s {row['lag_max_seconds']:>7.3f}s {lag_goal:>7}",
            file=out,
        )
    held = all(row["lag_ok"] and row["polls_ok"] is not False for row in rows)
    print(f"goals: {'all met' if held else 'NOT all met'}", file=out)
