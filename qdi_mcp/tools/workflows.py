"""Handlers of the `workflows` toolset: the "…_and_wait" tools, which start an asynchronous action (or a task
run) and poll it for the agent, and `qdi_get_project_status`, a project's state in one call.

An action that ends FAILED is a successful wait: the result says FAILED, which task failed and why, and how to
diagnose it. A wait that runs out of time is also a result (`timed_out: true`) naming the action id, so
`qdi_wait_for_action` resumes where it left off. Only a wait that could not be done at all is an error.

The project status fans the per-task reads out concurrently; the API client's runtime-state limiter (120/min,
shared by the whole process) paces them, and a small cap on concurrency keeps one big project from starving
other callers. It also places each task in the pipeline (its stage and upstream tasks, from `tools.lineage`) and,
for a task whose last run failed or left datasets in error, looks up that run's id in run history, so triage goes
straight to `qdi_get_task_run_datasets`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio

from qdi_mcp.api import DataTask, QdiApiError, TaskRuntimeState
from qdi_mcp.tenant_text import plain, tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler
from qdi_mcp.tools.lineage import Lineage, project_lineage
from qdi_mcp.tools.polling import poll_until
from qdi_mcp.tools.project_design import ProjectFileError
from qdi_mcp.tools.projects import start_import
from qdi_mcp.tools.spaces import SpaceNames, with_space_name
from qdi_mcp.tools.waits import (
    ACTIVE_RUN_STATES,
    ProgressReporter,
    following_after_change,
    poll_options,
    run_progress,
    run_result,
    run_state,
    start_time,
    started_run_settled,
    timeout_of,
    wait_for_action,
)


@handler("qdi_wait_for_action")
async def wait_for_action_tool(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await wait_for_action(ctx, args["action_id"], timeout_of(args), kind="action", started=False)


@handler("qdi_prepare_project_and_wait")
async def prepare_project_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.prepare_project(
        args["project_id"],
        allow_recreate=bool(args.get("allow_recreate", False)),
        selected_task_ids=args.get("selected_task_ids") or None,
    )
    return await wait_for_action(ctx, ref.action_id, timeout_of(args), kind="prepare", started=True)


@handler("qdi_validate_project_and_wait")
async def validate_project_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.validate_project(args["project_id"], selected_task_ids=args.get("selected_task_ids") or None)
    return await wait_for_action(ctx, ref.action_id, timeout_of(args), kind="validation", started=True)


@handler("qdi_prepare_task_and_wait")
async def prepare_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.prepare_task(
        args["project_id"], args["task_id"], allow_recreate=bool(args.get("allow_recreate", False))
    )
    return await wait_for_action(ctx, ref.action_id, timeout_of(args), kind="prepare", started=True)


@handler("qdi_validate_task_and_wait")
async def validate_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.validate_task(args["project_id"], args["task_id"])
    return await wait_for_action(ctx, ref.action_id, timeout_of(args), kind="validation", started=True)


@handler("qdi_recreate_task_datasets_and_wait")
async def recreate_task_datasets_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.recreate_task_datasets(args["project_id"], args["task_id"])
    return await wait_for_action(ctx, ref.action_id, timeout_of(args), kind="recreate", started=True)


@handler("qdi_start_task_and_wait")
async def start_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id = args["project_id"], args["task_id"]
    before = await ctx.client.get_task_state(project_id, task_id)
    await ctx.client.start_task(
        project_id, task_id, option=args.get("option"), process_changes_from=args.get("process_changes_from")
    )
    ctx.started = f"a run of task {task_id} was started; follow it with {ctx.tool.resume_with}, do not start it again"
    timeout = timeout_of(args)
    reporter = ProgressReporter(ctx.progress, timeout)
    async with following_after_change(ctx, args, "start"):
        outcome = await poll_until(
            lambda: ctx.client.get_task_state(project_id, task_id),
            started_run_settled(start_time(before), args.get("wait_until", "auto")),
            timeout=timeout,
            on_poll=reporter.on_task_run,
            on_heartbeat=reporter.heartbeat,
            progress_of=run_progress,
            **poll_options(ctx),
        )
    return run_result(args, outcome, "start", follow_with=ctx.tool.resume_with, previous_start=start_time(before))


@handler("qdi_stop_task_and_wait")
async def stop_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id = args["project_id"], args["task_id"]
    await ctx.client.stop_task(project_id, task_id)
    ctx.started = f"task {task_id} was asked to stop; follow it with {ctx.tool.resume_with}"
    timeout = timeout_of(args)
    # A stop has no count of things done: the run's full-load counters describe the run being stopped.
    reporter = ProgressReporter(ctx.progress, timeout, count_datasets=False)
    async with following_after_change(ctx, args, "stop"):
        outcome = await poll_until(
            lambda: ctx.client.get_task_state(project_id, task_id),
            lambda state: run_state(state) not in ACTIVE_RUN_STATES,
            timeout=timeout,
            on_poll=reporter.on_task_run,
            on_heartbeat=reporter.heartbeat,
            **poll_options(ctx),
        )
    return run_result(args, outcome, "stop", follow_with=ctx.tool.resume_with)


@handler("qdi_import_project_and_wait")
async def import_project_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """A YAML zip: wait for its import action. A legacy JSON zip: the sync import has finished when it answers."""
    started = await start_import(ctx, args)
    head = {key: started.structured[key] for key in ("project_id", "path", "endpoint", "format", "changes")}
    action_id = started.structured["action_id"]
    if action_id is None:
        tasks = [
            {"task_id": t["id"], "name": t.get("name"), "state": "COMPLETED", "error_code": None, "error_message": None}
            for t in started.structured["tasks"]
        ]
        return ToolResult({**head, "action_id": None, "state": "COMPLETED", "tasks": tasks}, started.summary)
    waited = await wait_for_action(ctx, action_id, timeout_of(args), kind="import", started=True)
    return ToolResult(
        {**head, **waited.structured}, f"{waited.summary} The file's changes: {head['changes']['summary']}."
    )


MAX_CONCURRENT_READS = 8
# Order in the one-line summary: what needs attention first.
STATUS_ORDER = ("failed", "running", "starting", "stopping", "completed", "stopped", "not prepared", "idle")


def classify(state: TaskRuntimeState) -> str:
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
    # A task is read by its id; Qlik lists every task with one, and one without could not be read anyway.
    tasks = [(task.id, task) for task in await ctx.client.list_tasks(project_id) if task.id]
    lineage = await _lineage_or_none(ctx, project_id)
    rows: list[dict[str, Any]] = [{} for _ in tasks]
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_READS)

    async def read(index: int, task_id: str, task: DataTask) -> None:
        async with limiter:
            state = await ctx.client.get_task_state(project_id, task_id)
            general = state.last_run.general if state.last_run and state.last_run.general else None
            row: dict[str, Any] = {
                "task_id": task_id,
                "name": task.name,
                "type": task.type,
                "state": state.last_run.state if state.last_run else None,
                "status": classify(state),
                "readiness": state.run_readiness.state if state.run_readiness else None,
                "datasets_in_error": int(general.datasets_in_error_count or 0) if general else 0,
                **_place_in_pipeline(lineage, task_id),
            }
            if row["status"] == "failed" or row["datasets_in_error"]:
                run_id = await _last_run_id(ctx, project_id, task_id)
                if run_id is not None:
                    row["failed_run_id"] = run_id
            if detail:
                datasets = [dump(d) for d in await ctx.client.get_task_datasets_state(project_id, task_id)]
                row["datasets"] = datasets
            rows[index] = row

    try:
        async with anyio.create_task_group() as group:
            for index, (task_id, task) in enumerate(tasks):
                group.start_soon(read, index, task_id, task)
    except BaseExceptionGroup as group_error:
        # The first read that failed stands for the call (its code, status and traceId reach the agent); a
        # group would otherwise surface as an internal error.
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None

    counts = Counter(row["status"] for row in rows)
    line = summary_line(rows, counts)  # names marked: fenced in the text, plain in the structured result
    cycle = [lineage.name(task_id) for task_id in lineage.cycle] if lineage else []
    if cycle:
        line += "; lineage cycle: " + ", ".join(tenant(name) for name in cycle)
    result: dict[str, Any] = {
        # The project's overview: what it is for (its description) and where, without its owner (qdi_get_project).
        "project": {
            k: v for k, v in (await with_space_name(dump(project), SpaceNames(ctx.client))).items() if k != "owner_id"
        },
        "summary": plain(line),
        "counts": dict(counts),
        "tasks": rows,
    }
    if cycle:
        result["cycle"] = cycle
    return ToolResult(result, f"{tenant(project.name)}: {line}")


async def _lineage_or_none(ctx: ToolContext, project_id: str) -> Lineage | None:
    """The lineage, or None when the design cannot be exported (the status is still worth having without it)."""
    try:
        return await project_lineage(ctx.client, project_id)
    except (QdiApiError, ProjectFileError):  # not exported, or not readable as a design
        return None


def _place_in_pipeline(lineage: Lineage | None, task_id: str) -> dict[str, Any]:
    task = lineage.tasks.get(task_id) if lineage else None
    if task is None or lineage is None:
        return {"stage": None, "upstream": []}
    return {"stage": task.stage, "upstream": [lineage.name(upstream) for upstream in task.upstream]}


async def _last_run_id(ctx: ToolContext, project_id: str, task_id: str) -> str | None:
    """The newest run in the task's history: the last run, whose failure the row reports."""
    try:
        page = await ctx.client.list_task_runs(project_id, task_id, limit=1)
    except QdiApiError:
        return None  # the row still says the task failed; only the shortcut to its run is missing
    return page.runs[0].run_id if page.runs else None


def summary_line(rows: list[dict[str, Any]], counts: Counter[str]) -> str:
    if not rows:
        return "no tasks"
    parts = []
    for status in STATUS_ORDER:
        if counts.get(status):
            text = f"{counts[status]} {status}"
            troubled = [r for r in rows if r["status"] == status and r["datasets_in_error"]]
            if troubled:
                text += " (" + ", ".join(f"{tenant(r['name'])}: {_datasets_in_error(r)}" for r in troubled) + ")"
            parts.append(text)
    noun = "task" if len(rows) == 1 else "tasks"
    return f"{len(rows)} {noun}: " + ", ".join(parts)


def _datasets_in_error(row: dict[str, Any]) -> str:
    count = row["datasets_in_error"]
    return f"{count} dataset{'' if count == 1 else 's'} in error"
