"""Handlers of the `tasks` toolset: a project's data tasks."""

from __future__ import annotations

from typing import Any

from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler, listed


@handler("qdi_list_tasks")
async def list_tasks(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    # A task's space is its project's: the id would repeat on every row.
    tasks = [listed(dump(t), also=("space_id",)) for t in await ctx.client.list_tasks(args["project_id"])]
    # The names, types and ids are in the data right below the summary: listing them here too would say them twice.
    return ToolResult({"project_id": args["project_id"], "tasks": tasks, "count": len(tasks)}, f"{len(tasks)} tasks.")


@handler("qdi_get_task")
async def get_task(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    task = dump(await ctx.client.get_task(args["project_id"], args["task_id"]))
    return ToolResult({"task": task}, f"Task {tenant(task.get('name'))} [{task.get('type')}] ({task.get('id')}).")
