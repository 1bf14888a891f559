"""Handlers of the `actions` toolset: start an asynchronous action (prepare, validate, recreate) and return its
id, or read an action once. The "…_and_wait" forms are in `workflows`."""

from __future__ import annotations

from typing import Any

from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler

# Every field the seed documents for an action, present even when Qlik leaves it out (null).
ACTION_FIELDS = ("name", "type", "state", "start_time", "end_time", "error", "task_progress")


def _started(ctx: ToolContext, action_id: str, what: str) -> ToolResult:
    next_step = f"call {ctx.tool.resume_with} with action_id {action_id!r} (or qdi_get_action to check once)"
    tip = f" Tip: {ctx.tool.wrapped_by} does start and wait in one call." if ctx.tool.wrapped_by else ""
    return ToolResult(
        {"action_id": action_id, "status": "started", "next_step": next_step},
        f"{what} started (action {action_id}). Next: {next_step}.{tip}",
    )


@handler("qdi_prepare_project")
async def prepare_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.prepare_project(
        args["project_id"],
        allow_recreate=bool(args.get("allow_recreate", False)),
        selected_task_ids=args.get("selected_task_ids") or None,
    )
    return _started(ctx, ref.action_id, f"Prepare of project {args['project_id']}")


@handler("qdi_validate_project")
async def validate_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.validate_project(args["project_id"], selected_task_ids=args.get("selected_task_ids") or None)
    return _started(ctx, ref.action_id, f"Validation of project {args['project_id']}")


@handler("qdi_prepare_task")
async def prepare_task(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.prepare_task(
        args["project_id"], args["task_id"], allow_recreate=bool(args.get("allow_recreate", False))
    )
    return _started(ctx, ref.action_id, f"Prepare of task {args['task_id']}")


@handler("qdi_validate_task")
async def validate_task(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.validate_task(args["project_id"], args["task_id"])
    return _started(ctx, ref.action_id, f"Validation of task {args['task_id']}")


@handler("qdi_recreate_task_datasets")
async def recreate_task_datasets(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.recreate_task_datasets(args["project_id"], args["task_id"])
    return _started(ctx, ref.action_id, f"Recreating the datasets of task {args['task_id']}")


@handler("qdi_get_action")
async def get_action(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    detailed = bool(args.get("detailed", False))
    action = dump(await ctx.client.get_action(args["action_id"], detailed=detailed))
    result = {"action_id": args["action_id"]} | {key: action.get(key) for key in ACTION_FIELDS}
    if detailed:
        result["task_details"] = action.get("task_details") or []
    progress = action.get("task_progress") or {}
    done = sum(progress.get(k, 0) for k in ("completed", "failed", "skipped", "canceled"))
    total = done + progress.get("pending", 0) + progress.get("executing", 0)
    error = action.get("error") or {}
    tail = f" Error: {tenant(error['message'])}" if error.get("message") else ""
    return ToolResult(
        result,
        f"Action {args['action_id']} ({tenant(action.get('name'))}): {action.get('state')}, {done}/{total} tasks "
        f"done.{tail}",
    )
