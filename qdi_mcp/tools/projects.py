"""Handlers of the `projects` toolset: projects, export/import, bindings."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

from qdi_mcp.api import CreateProjectRequest, Project
from qdi_mcp.failures import ToolFailure
from qdi_mcp.masking import MASK
from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler


def project_dict(project: Project) -> dict[str, Any]:
    return dump(project)


@handler("qdi_list_projects")
async def list_projects(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    projects = await ctx.client.list_projects(space_id=args.get("space_id"))
    items = [project_dict(p) for p in projects]
    names = ", ".join(f"{p.get('name')} ({p.get('id')})" for p in items[:10])
    more = f" and {len(items) - 10} more" if len(items) > 10 else ""
    return ToolResult({"projects": items, "count": len(items)}, f"{len(items)} projects: {names}{more}")


@handler("qdi_create_project")
async def create_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    request = CreateProjectRequest(
        name=args["name"],
        type=args["type"],
        space=args["space_id"],
        description=args.get("description"),
        platform_type=args.get("platform_type"),
        platform_connection=args.get("platform_connection"),
        cloud_staging_connection=args.get("cloud_staging_connection"),
    )
    project = project_dict(await ctx.client.create_project(request))
    return ToolResult({"project": project}, f"Created project {project.get('name')} ({project['id']}).")


@handler("qdi_get_project")
async def get_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project = project_dict(await ctx.client.get_project(args["project_id"]))
    return ToolResult(
        {"project": project}, f"Project {project.get('name')} ({project.get('id')}) in space {project.get('space_id')}."
    )


@handler("qdi_export_project")
async def export_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id = args["project_id"]
    mode = args.get("mode", "MINIMAL")
    include_bindings = bool(args.get("include_bindings", False))
    # Resolve the target path before calling Qlik, so a bad file name costs no request.
    if args.get("file_name"):
        path = ctx.workdir.export_path(args["file_name"])
    else:
        project = await ctx.client.get_project(project_id)
        path = ctx.workdir.export_path(ctx.workdir.default_export_name(project.name or project_id, project_id))
    data = await ctx.client.export_project(project_id, mode=mode, include_bindings=include_bindings)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = sorted(archive.namelist())
    except zipfile.BadZipFile:
        raise ToolFailure(
            "bad_response",
            f"Qlik's export of project {project_id} is not a zip file ({len(data)} bytes); nothing was written.",
            hint="retry the export; if it persists, report it",
            retryable=True,
        ) from None
    # Never over an existing file: it may be the zip a person reviewed, or a backup.
    written = ctx.workdir.write_new(path, data)
    ctx.files_written.append(ctx.workdir.display_path(written))
    result = {
        "project_id": project_id,
        "path": written.relative_to(ctx.workdir.root).as_posix(),
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "files": files,
        "mode": mode,
        "include_bindings": include_bindings,
    }
    kept = ""
    if written != path:
        result["kept_existing"] = ctx.workdir.display_path(path)
        kept = f" {result['kept_existing']} already existed and was left as it was, so the export got a new name."
    return ToolResult(
        result, f"Exported project {project_id} ({len(files)} files, {len(data)} bytes) to {result['path']}.{kept}"
    )


@handler("qdi_import_project")
async def import_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id = args["project_id"]
    data = ctx.workdir.read_import(args["path"])  # checked: inside the work folder, a safe zip
    await ctx.client.import_project(project_id, data, filename=args["path"].rsplit("/", 1)[-1])
    tasks = await ctx.client.list_tasks(project_id)
    task_items = [{"id": t.id, "name": t.name, "type": t.type} for t in tasks]
    result = {"status": "imported", "project_id": project_id, "path": args["path"], "tasks": task_items}
    return ToolResult(
        result,
        f"Imported {args['path']} into project {project_id}: {len(task_items)} tasks now. "
        "Prepare the project (qdi_prepare_project_and_wait) before running its tasks.",
    )


@handler("qdi_get_bindings")
async def get_bindings(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    bindings = await ctx.client.get_bindings(args["project_id"], recalculate=bool(args.get("recalculate", False)))
    variables = dict(bindings.variables or {})
    empty = sorted(k for k, v in variables.items() if v in (None, ""))
    result = {
        "project_id": args["project_id"],
        "variables": variables,
        "name_to_id_map": dict(bindings.name_to_id_map or {}),
    }
    note = f"; {len(empty)} empty (e.g. {', '.join(empty[:3])})" if empty else ""
    return ToolResult(result, f"{len(variables)} binding variables{note}.")


@handler("qdi_update_bindings")
async def update_bindings(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    variables = args["variables"]
    masked = sorted(name for name, value in variables.items() if isinstance(value, str) and MASK in value)
    if masked:
        # A value copied from a log or audit line, where secrets show as the mask: writing it would break the
        # binding in Qlik.
        raise ToolFailure(
            "invalid_arguments",
            f"Binding {masked[0]!r} holds the redaction mask {MASK!r}, not a real value; nothing was changed.",
            hint="read the current values with qdi_get_bindings and send the real value",
            field="variables",
        )
    project_id = args["project_id"]
    # The PUT replaces the whole set: a partial map would silently drop every variable it leaves out.
    current = (await ctx.client.get_bindings(project_id)).variables
    removed = sorted(set(current) - set(variables))
    if removed and not args.get("remove_missing", False):
        shown = ", ".join(removed[:5]) + (f" and {len(removed) - 5} more" if len(removed) > 5 else "")
        raise ToolFailure(
            "invalid_arguments",
            f"The map leaves out {len(removed)} of the project's {len(current)} variables ({shown}); the update "
            "replaces all of them, so they would be deleted. Nothing was changed.",
            hint="send the complete map from qdi_get_bindings; a recalculated map (recalculate=true) leaves out the "
            "variables the design no longer uses: pass remove_missing=true to drop them",
            field="variables",
        )
    await ctx.client.update_bindings(project_id, variables)
    added = sorted(set(variables) - set(current))
    result = {
        "status": "updated",
        "project_id": project_id,
        "variable_count": len(variables),
        "added": added,
        "removed": removed,
    }
    changes = f"; added {len(added)}, removed {len(removed)}" if added or removed else ""
    return ToolResult(result, f"Replaced the bindings of project {project_id} ({len(variables)} variables{changes}).")
