"""Per-call overhead: one `get_project`, three ways, on the same in-process emulator.

- raw: `httpx.AsyncClient.get` on the emulator's transport (the floor: the emulator's own work);
- direct: `QlikClient.get_project` (adds auth, rate limiting, retries, parsing into a model);
- bare SDK tool: a low-level `mcp` Server whose one tool only awaits `QlikClient.get_project` and answers one
  line of text, no schemas, through the same in-memory client (same OpenTelemetry configuration as ours);
- SDK floor: the same bare server, but its tool declared like ours (the same input and output schemas) and
  answering the same structured content: what the SDK's round trip costs for this tool, including the client's
  check of structured content against the output schema (a profile showed that check is most of what the
  bare tool lacks);
- mcp: `qdi_get_project` through an in-memory `mcp.Client(server)` (adds argument validation, the handler,
  redaction, text rendering, structured content, and the client's check of it against the output schema).

The four run interleaved in small batches, so drift on a shared machine hits them alike; each figure is the
median per-call time of its batches. Time is this process's CPU time: everything runs in this one thread,
so CPU time is the cost of a call, and another process taking the CPU (a shared machine) does not count.
The goal compares mcp to the SDK floor: what qdi-mcp's own code adds (argument check, guard, redaction, fence,
audit hook, dispatch); raw, direct and the bare tool are shown to say where the rest goes. The client's
rate limits are raised for the benchmark: thousands of calls in seconds would otherwise wait on Tier 1's
1000 a minute, which measures the limiter's patience, not its cost.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
import mcp_types as types
from mcp import Client
from mcp.server import Server

from evals.perf.report import goal, mark
from qdi_mcp.api import ApiKeyAuth, QlikClient, RateTier, TierLimiter
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.guard.audit import AuditLog
from qdi_mcp.guard.redact import Redactor
from qdi_mcp.server import build_server, tracing_can_record
from qdi_mcp.settings import Settings
from qdi_mcp.specs import get_spec
from qdi_mcp.tools.projects import project_dict
from qdi_mcp.tools.spaces import SpaceNames, with_space_name

# The goal of issue 13: one tool call costs at most 1.15x the SDK floor measured in the same run.
RATIO_GOAL = 1.15
TENANT_URL = "http://127.0.0.1:8765"  # only builds request URLs: the transport answers in process
PROJECT = "Customer 360"
TOOL = "qdi_get_project"
BATCH = 20
BATCHES = 60
QUICK_BATCHES = 3
WARMUP_CALLS = 50

Call = Callable[[], Awaitable[Any]]


async def _time_batch(call: Call, size: int) -> float:
    started = time.process_time()
    for _ in range(size):
        await call()
    return (time.process_time() - started) / size


def sdk_floor_server(client: QlikClient, project_id: str, *, declared_like_ours: bool) -> Server[Any]:
    """The SDK's own cost: one tool that only makes the same API call, with no argument check, guard, redaction
    or fence. `declared_like_ours` gives it our tool's name, input and output schemas and the same structured
    content; otherwise it is bare (no schemas, a line of text)."""
    spec = get_spec(TOOL)
    if declared_like_ours:
        tool = types.Tool(name=TOOL, input_schema=spec.input_schema, output_schema=spec.output_schema)
    else:
        tool = types.Tool(name=TOOL, input_schema={"type": "object"})

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        # the tool's own work (the project and its space's name, from the same cache), not the server's
        project = await with_space_name(project_dict(await client.get_project(project_id)), SpaceNames(client))
        text = [types.TextContent(text=f"Project {project.get('name')}")]
        if not declared_like_ours:
            return types.CallToolResult(content=text)
        return types.CallToolResult(content=text, structured_content={"project": project})

    server: Server[Any] = Server("sdk-floor", on_list_tools=list_tools, on_call_tool=call_tool)
    # Configured like qdi-mcp's own server, so the floor differs from it only in what the tool does.
    if not tracing_can_record():
        server.middleware = [m for m in server.middleware if type(m).__name__ != "OpenTelemetryMiddleware"]
    return server


async def measure(batches: int = BATCHES, batch: int = BATCH) -> dict[str, list[float]]:
    emulator = Emulator(clock=ManualClock())
    project_id = emulator.project_id(PROJECT)
    path = f"/api/v1/di-projects/{project_id}"
    unlimited = TierLimiter(limits={tier: 10**9 for tier in RateTier})
    settings = Settings.from_env({}, demo=True, workdir=Path("qdi-mcp-work"), audit_log=None)
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), limiter=unlimited)
    raw = httpx.AsyncClient(
        transport=emulator.transport(),
        base_url=TENANT_URL,
        headers={"Authorization": f"Bearer {DEFAULT_API_KEY}", "Accept": "application/json"},
    )
    # A read tool writes no audit line; nothing of this benchmark touches the disk.
    server = build_server(settings, client, audit=AuditLog(None, redactor=Redactor()))
    floor = sdk_floor_server(client, project_id, declared_like_ours=True)
    bare = sdk_floor_server(client, project_id, declared_like_ours=False)
    async with raw, client, Client(server) as mcp_client, Client(floor) as floor_client, Client(bare) as bare_client:

        async def raw_get() -> None:
            response = await raw.get(path)
            response.raise_for_status()
            response.json()

        async def direct_get() -> None:
            await client.get_project(project_id)

        async def mcp_get() -> None:
            result = await mcp_client.call_tool(TOOL, {"project_id": project_id})
            if result.is_error:
                raise RuntimeError(f"qdi_get_project failed: {result.content}")

        async def floor_get() -> None:
            await floor_client.call_tool(TOOL, {"project_id": project_id})

        async def bare_get() -> None:
            await bare_client.call_tool(TOOL, {"project_id": project_id})

        calls: dict[str, Call] = {
            "raw": raw_get,
            "direct": direct_get,
            "bare": bare_get,
            "floor": floor_get,
            "mcp": mcp_get,
        }
        for call in calls.values():
            await _time_batch(call, WARMUP_CALLS)
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(batches):
            for name, call in calls.items():
                samples[name].append(await _time_batch(call, batch))
    return samples


def run_overhead(batches: int = BATCHES) -> list[dict[str, Any]]:
    samples = anyio.run(measure, batches)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["mcp"] / medians["floor"]
    return [
        {
            "benchmark": "overhead",
            "calls_each": batches * BATCH,
            "raw_median_us": round(medians["raw"] * 1e6, 1),
            "direct_median_us": round(medians["direct"] * 1e6, 1),
            "bare_sdk_tool_median_us": round(medians["bare"] * 1e6, 1),
            "sdk_floor_median_us": round(medians["floor"] * 1e6, 1),
            "mcp_median_us": round(medians["mcp"] * 1e6, 1),
            "direct_over_raw": round(medians["direct"] / medians["raw"], 3),
            "sdk_floor_over_direct": round(medians["floor"] / medians["direct"], 3),
            "mcp_over_direct": round(medians["mcp"] / medians["direct"], 3),
            "mcp_over_bare_sdk_tool": round(medians["mcp"] / medians["bare"], 3),
            "ratio": round(ratio, 3),
            "ratio_goal": RATIO_GOAL,
            "ok": ratio <= RATIO_GOAL,
        }
    ]


def print_table(rows: list[dict[str, Any]], file: TextIO | None = None) -> None:
    out = file or sys.stdout
    row = rows[0]
    print(f"Per-call overhead: {TOOL} on the in-process emulator ({row['calls_each']} calls each)", file=out)
    header = f"{'path (CPU time per call)':<56} {'median':>10} {'x floor':>8}"
    print(header, file=out)
    print("-" * len(header), file=out)
    floor = row["sdk_floor_median_us"]
    for label, key in (
        ("raw httpx.AsyncClient.get", "raw_median_us"),
        ("direct QlikClient.get_project", "direct_median_us"),
        ("bare SDK tool awaiting get_project (no schemas)", "bare_sdk_tool_median_us"),
        ("SDK floor: the same, declared with our schemas", "sdk_floor_median_us"),
        (f"MCP tool {TOOL} (in-memory Client)", "mcp_median_us"),
    ):
        print(f"{label:<56} {row[key]:>8.0f}us {row[key] / floor:>8.2f}", file=out)
    print(
        f"ratio MCP tool / SDK floor: {row['ratio']:.2f} (goal <= {RATIO_GOAL}) {mark(row['ok'])}; "
        f"against the direct client call {row['mcp_over_direct']:.2f}, of which the SDK floor alone is "
        f"{row['sdk_floor_over_direct']:.2f}",
        file=out,
    )


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    row = rows[0]
    return [goal("per call: MCP tool / SDK floor", f"{row['ratio']:.2f}", f"<= {RATIO_GOAL}", row["ok"])]
