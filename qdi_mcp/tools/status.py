"""`qdi_get_project_status`: a project, its tasks and each task's runtime state in one call.

The per-task reads are fanned out concurrently; the API client's runtime-state limiter (120/min, shared by the
whole process) paces them, and a small cap on concurrency keeps one big project from starving other callers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio

from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler

MAX_CONCURRENT_READS = 8
# Order in the one-line summary: what needs attention first.
STATUS_ORDER = ("failed", "running", "starting", "stopping", "completed", "stopped", "not prepared", "idle")


def classify(state: Any) -> str:
    readiness = state.run_readiness.state if state.run_readiness else None
    run = state.last_run.state if state.last_run else None
    if run == "FAILED":
        return "failed"
    if run in ("RUNNING", "STARTING", "STOPPING"):
        return run.lower()
    if readiness == "NOT_RUNNABLE":
        return "not prepared"
    return {"COMPLETED": "completed", "CANCELED": "stopped"}.get(run or "", "idle")


@handler("qdi_get_project_status")
async def get_project_status(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id = args["project_id"]
    detail = bool(args.get("detail", False))
    project = await ctx.client.get_project(project_id)
    tasks = await ctx.client.list_tasks(project_id)
    rows: list[dict[str, Any]] = [{} for _ in tasks]
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_READS)

    async def read(index: int, task: Any) -> None:
        async with limiter:
            state = await ctx.client.get_task_state(project_id, task.id)
            general = state.last_run.general if state.last_run and state.last_run.general else None
            row = {
                "task_id": task.id,
                "name": task.name,
                "type": task.type,
                "state": state.last_run.state if state.last_run else None,
                "status": classify(state),
                "readiness": state.run_readiness.state if state.run_readiness else None,
                "datasets_in_error": int(general.datasets_in_error_count or 0) if general else 0,
            }
            if detail:
                datasets = [dump(d) for d in await ctx.client.get_task_datasets_state(project_id, task.id)]
                row["datasets"] = datasets
            rows[index] = row

    try:
        async with anyio.create_task_group() as group:
            for index, task in enumerate(tasks):
                group.start_soon(read, index, task)
    except BaseExceptionGroup as group_error:
        # The first read that failed stands for the call (its code, status and traceId reach the agent); a
        # group would otherwise surface as an internal error.
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None

    counts = Counter(row["status"] for row in rows)
    result = {
        "project": dump(project),
        "summary": summary_line(rows, counts),
        "counts": dict(counts),
        "tasks": rows,
    }
    return ToolResult(result, f"{project.name}: {result['summary']}")


def summary_line(rows: list[dict[str, Any]], counts: Counter[str]) -> str:
    if not rows:
        return "no tasks"
    parts = []
    for status in STATUS_ORDER:
        if counts.get(status):
            text = f"{counts[status]} {status}"
            troubled = [r for r in rows if r["status"] == status and r["datasets_in_error"]]
            if troubled:
                text += " (" + ", ".join(f"{r['name']}: {_datasets_in_error(r)}" for r in troubled) + ")"
            parts.append(text)
    noun = "task" if len(rows) == 1 else "tasks"
    return f"{len(rows)} {noun}: " + ", ".join(parts)


def _datasets_in_error(row: dict[str, Any]) -> str:
    count = row["datasets_in_error"]
    return f"{count} dataset{'' if count == 1 else 's'} in error"
