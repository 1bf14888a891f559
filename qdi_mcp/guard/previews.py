"""What a person is shown before a destructive call: the action, its target, the target's current state, what will
happen and, for a call that can be narrowed, its scope. Built from live reads so the person confirms against the
state as it is now.

The texts and what the preview reads (the project or the task) are the tool spec's `preview:`; this module only
fills them in, so a new destructive tool needs no code here.
"""

from __future__ import annotations

import json
from typing import Any

from qdi_mcp.specs import PreviewScope, ToolSpec
from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import PREVIEW_CHECKS, ToolContext


async def build_preview(spec: ToolSpec, args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    template = spec.preview
    if template is None:
        raise ValueError(f"{spec.name} has no preview in its spec")  # the loader requires one: a bug if reached
    if spec.binds_file is not None:
        # Refuse a path outside the work folder before asking anyone to confirm a call that cannot happen.
        ctx.workdir.import_path(args[spec.binds_file], argument=spec.binds_file)
    # The spec's check runs before the live reads: a call it refuses asks nobody and reads nothing more.
    checked = await PREVIEW_CHECKS[template.check](ctx, args) if template.check is not None else None
    if template.target == "task":
        target, current_state = await _task(ctx, args["project_id"], args["task_id"])
    else:  # "project", or "target_project" for a tool that reads one project and changes another
        target, current_state = await _project(ctx, args[f"{template.target}_id"])
    preview: dict[str, Any] = {
        "action": template.action.format_map(args),
        "target": target,
        "current_state": current_state,
        "consequence": template.consequence.format_map(args),
    }
    if template.scope is not None:
        preview["scope"] = scope_text(template.scope, args)
    if checked is not None:
        checked = _add_texts(preview, checked)
        if checked:
            preview["check"] = checked
    if spec.backup is not None:
        preview["backup"] = backup_text(ctx)
    return preview


# A check may add sentences to these texts (what the call touches, named): the question a person reads is made of
# the preview's texts, and a finding left only under `check` would not reach them.
CHECK_TEXTS = ("current_state", "consequence")


def _add_texts(preview: dict[str, Any], checked: dict[str, Any]) -> dict[str, Any]:
    """`preview` with the check's sentences appended to its texts; the rest of the check's findings returned."""
    findings = dict(checked)
    for key in CHECK_TEXTS:
        sentence = findings.pop(key, None)
        if sentence:
            joint = "; " if key == "current_state" else " "
            preview[key] = f"{preview[key]}{joint}{sentence}" if preview.get(key) else sentence
    return findings


def backup_text(ctx: ToolContext) -> str:
    """What the preview says of the backup the server takes before the change (tools.backups)."""
    if ctx.backups_kept is None:
        return "none: backups are off (QDI_MCP_BACKUP=off); the current design is not saved first"
    return (
        f"exported to {ctx.workdir.display_path(ctx.workdir.backups_root)}/ first (mode ALL, with bindings; "
        f"the last {ctx.backups_kept} kept)"
    )


def scope_text(scope: PreviewScope, args: dict[str, Any]) -> str:
    """What the token is bound to: the values of the narrowing argument, or what omitting it means."""
    values = args.get(scope.argument)
    if not values:
        return scope.all
    return f"only {scope.argument} " + ", ".join(str(value) for value in values)


async def _project(ctx: ToolContext, project_id: str) -> tuple[str, str]:
    project = await ctx.client.get_project(project_id)
    tasks = await ctx.client.list_tasks(project_id)
    return f"project named {_name(project.name)} ({project_id})", f"{len(tasks)} tasks"


async def _task(ctx: ToolContext, project_id: str, task_id: str) -> tuple[str, str]:
    state = await ctx.client.get_task_state(project_id, task_id)
    run = state.last_run.state if state.last_run and state.last_run.state else "never run"
    readiness = state.run_readiness.state if state.run_readiness else "unknown"
    return f"task named {_name(state.name)} ({task_id}) in project {project_id}", f"{run}, readiness {readiness}"


def _name(name: str | None) -> str:
    """A tenant's name in double quotes (a quote or line break inside it escaped), marked as tenant text: fenced
    for a model, a visibly quoted name for the person the gate asks."""
    return tenant(json.dumps(name, ensure_ascii=False))
