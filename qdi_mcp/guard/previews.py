"""What a person is shown before a destructive call: the action, its target, the target's current state, and
what will happen. Built from live reads so the person confirms against the state as it is now."""

from __future__ import annotations

from typing import Any

from qdi_mcp.tools.base import ToolContext


async def build_preview(tool: str, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    base = tool.removesuffix("_and_wait")
    if base == "qdi_import_project":
        # Refuse a path outside the work folder before asking anyone to confirm an import that cannot happen.
        ctx.workdir.import_path(args["path"])
        return await _project_preview(
            ctx,
            args["project_id"],
            action="import project",
            consequence=f"All tasks of the project are replaced by the contents of {args['path']!r}; "
            "tasks not in the file are removed and the project must be prepared again.",
        )
    if base == "qdi_prepare_project":
        return await _project_preview(
            ctx,
            args["project_id"],
            action="prepare project with allow_recreate",
            consequence="Tables whose structure changed may be dropped and recreated; their data is lost and "
            "must be reloaded.",
        )
    consequences = {
        "qdi_stop_task": ("stop task", "The task stops; a CDC task stops capturing changes until it is started again."),
        "qdi_recreate_task_datasets": (
            "recreate task datasets",
            "The task's datasets are dropped and recreated empty; data must be loaded again by the next run.",
        ),
        "qdi_prepare_task": (
            "prepare task with allow_recreate",
            "Tables whose structure changed may be dropped and recreated; their data is lost.",
        ),
        "qdi_request_task_reload": (
            "reload with TRUNCATE",
            "On the next run the selected datasets are truncated and fully reloaded.",
        ),
    }
    action, consequence = consequences[base]
    return await _task_preview(ctx, args["project_id"], args["task_id"], action=action, consequence=consequence)


async def _project_preview(ctx: ToolContext, project_id: str, *, action: str, consequence: str) -> dict[str, Any]:
    project = await ctx.client.get_project(project_id)
    tasks = await ctx.client.list_tasks(project_id)
    return {
        "action": action,
        "target": f"project {project.name!r} ({project_id})",
        "current_state": f"{len(tasks)} tasks",
        "consequence": consequence,
    }


async def _task_preview(
    ctx: ToolContext, project_id: str, task_id: str, *, action: str, consequence: str
) -> dict[str, Any]:
    state = await ctx.client.get_task_state(project_id, task_id)
    run = state.last_run.state if state.last_run and state.last_run.state else "never run"
    readiness = state.run_readiness.state if state.run_readiness else "unknown"
    return {
        "action": action,
        "target": f"task {state.name!r} ({task_id}) in project {project_id}",
        "current_state": f"{run}, readiness {readiness}",
        "consequence": consequence,
    }
