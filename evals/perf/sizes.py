"""What agents read: the model-visible size of every tool definition, and the size of a typical result.

Definitions: `qdi_mcp.specs.model_visible_size` (name + description + input schema), per tool and in total;
every host puts all of them in the model's context on every turn. Goal: the design budget,
`qdi_mcp.specs.MODEL_VISIBLE_BUDGET` bytes in total.

Results: every read tool called once through an in-memory MCP client on the demo tenant, with its default
arguments (the summary form), on the Customer 360 project and its CRM STORAGE task (a task with a completed
run, so state and datasets are filled in). A result costs its text content plus its structuredContent (as
compact JSON): hosts may show the model either or both.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client

from evals.perf.report import goal, mark
from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.specs import MODEL_VISIBLE_BUDGET, load_specs, model_visible_size
from qdi_mcp.tools.polling import PollSchedule

TOTAL_GOAL = MODEL_VISIBLE_BUDGET
TENANT_URL = "http://127.0.0.1:8765"
PROJECT = "Customer 360"
TASK = "CRM STORAGE"


def definition_rows() -> list[dict[str, Any]]:
    return [
        {"tool": spec.name, "safety": spec.safety, "model_visible_bytes": model_visible_size(spec)}
        for spec in load_specs()
    ]


def _arguments(
    tool: str, project_id: str, task_id: str, action_id: str, path: str = "", run_id: str = ""
) -> dict[str, Any]:
    """Required arguments only: every optional one keeps its default (the summary form)."""
    by_name: dict[str, dict[str, Any]] = {
        "qdi_get_action": {"action_id": action_id},
        "qdi_wait_for_action": {"action_id": action_id},
        "qdi_list_projects": {},
        # one of path / source_project_id is needed: the project against its fresh export
        "qdi_diff_project": {"project_id": project_id, "path": path},
    }
    if tool in by_name:
        return by_name[tool]
    spec_required = next(spec for spec in load_specs() if spec.name == tool).input_schema.get("required", [])
    values = {"project_id": project_id, "task_id": task_id, "path": path, "run_id": run_id}
    return {name: values[name] for name in spec_required}


def _result_size(result: Any) -> tuple[int, int]:
    text = sum(len(block.text.encode()) for block in result.content if getattr(block, "text", None) is not None)
    structured = len(json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False).encode())
    return text, structured


async def measure_results() -> list[dict[str, Any]]:
    clock = ManualClock()  # shared: the client's waits move the emulator's state machines
    emulator = Emulator(clock=clock)
    project_id = emulator.project_id(PROJECT)
    task_id = emulator.task_id(project_id, TASK)
    run_id = emulator.tenant.projects[project_id].tasks[task_id].history[-1].run_id  # the demo's latest run
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qdi-perf-sizes-") as folder:
        settings = Settings.from_env({}, demo=True, workdir=Path(folder) / "work", audit_log=Path(folder) / "audit")
        client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock)
        options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(7)}  # noqa: S311 - jitter
        async with client:
            server = build_server(settings, client, context_options=options)
            async with Client(server) as mcp_client:
                started = await mcp_client.call_tool("qdi_validate_project", {"project_id": project_id})
                action_id = (started.structured_content or {}).get("action_id", "")
                # the tools that read a zip of the work folder (qdi_validate_project_files) get a fresh export
                exported = await mcp_client.call_tool("qdi_export_project", {"project_id": project_id})
                path = (exported.structured_content or {}).get("path", "")
                for spec in load_specs():
                    if spec.safety != "read":
                        continue
                    arguments = _arguments(spec.name, project_id, task_id, action_id, path, run_id)
                    result = await mcp_client.call_tool(spec.name, arguments)
                    text, structured = _result_size(result)
                    rows.append(
                        {
                            "tool": spec.name,
                            "arguments": sorted(arguments),
                            "is_error": bool(result.is_error),
                            "text_bytes": text,
                            "structured_bytes": structured,
                            "total_bytes": text + structured,
                        }
                    )
    return rows


def run_sizes() -> list[dict[str, Any]]:
    definitions = definition_rows()
    total = sum(row["model_visible_bytes"] for row in definitions)
    return [
        {
            "benchmark": "sizes",
            "tools": len(definitions),
            "total_model_visible_bytes": total,
            "total_goal": TOTAL_GOAL,
            "ok": total <= TOTAL_GOAL,
            "definitions": definitions,
            "results": anyio.run(measure_results),
        }
    ]


def print_table(rows: list[dict[str, Any]], file: TextIO | None = None) -> None:
    out = file or sys.stdout
    row = rows[0]
    print("What agents read: tool definitions (model-visible bytes: name + description + input schema)", file=out)
    header = f"{'tool':<38} {'safety':<12} {'bytes':>6}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for item in row["definitions"]:
        print(f"{item['tool']:<38} {item['safety']:<12} {item['model_visible_bytes']:>6}", file=out)
    print(
        f"{row['tools']} tools, {row['total_model_visible_bytes']} bytes in total "
        f"(goal <= {row['total_goal']:,}) {mark(row['ok'])}",
        file=out,
    )
    print(file=out)
    print(f"Typical results of the read tools, default (summary) form, on {PROJECT} / {TASK}", file=out)
    header = f"{'tool':<38} {'text':>6} {'structured':>10} {'total':>6}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for item in row["results"]:
        error = "  (error result)" if item["is_error"] else ""
        sizes = f"{item['text_bytes']:>6} {item['structured_bytes']:>10} {item['total_bytes']:>6}"
        print(f"{item['tool']:<38} {sizes}{error}", file=out)


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    row = rows[0]
    return [
        goal("model-visible bytes, all tools", f"{row['total_model_visible_bytes']:,}", f"<= {TOTAL_GOAL:,}", row["ok"])
    ]
