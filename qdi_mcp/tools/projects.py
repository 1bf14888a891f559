"""Handlers of the `projects` toolset: projects, export/import, bindings."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

from qdi_mcp.api import CreateProjectRequest, Project
from qdi_mcp.failures import ToolFailure
from qdi_mcp.masking import MASK
from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler, listed
from qdi_mcp.tools.changes import import_changes
from qdi_mcp.tools.imports import YAML, counts_text, definition_reports, import_route
from qdi_mcp.tools.project_design import ProjectFileError, read_project_zip
from qdi_mcp.tools.spaces import SpaceNames, binding_reference, check_connection_references, with_space_name


def project_dict(project: Project) -> dict[str, Any]:
    return dump(project)


@handler("qdi_list_projects")
async def list_projects(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    projects = await ctx.client.list_projects(space_id=args.get("space_id"))
    spaces = SpaceNames(ctx.client)
    items = [listed(await with_space_name(project_dict(p), spaces)) for p in projects]
    # The names and ids are in the data right below the summary: listing them here too would say them twice.
    return ToolResult({"projects": items, "count": len(items)}, f"{len(items)} projects.")


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
    project = await with_space_name(project_dict(await ctx.client.create_project(request)), SpaceNames(ctx.client))
    return ToolResult({"project": project}, f"Created project {tenant(project.get('name'))} ({project['id']}).")


@handler("qdi_get_project")
async def get_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project = await with_space_name(
        project_dict(await ctx.client.get_project(args["project_id"])), SpaceNames(ctx.client)
    )
    return ToolResult(
        {"project": project},
        f"Project {tenant(project.get('name'))} ({project.get('id')}) in space {project.get('space_id')}.",
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
        # The entry names would cost an agent on every export; the count and the task names say what it holds.
        "file_count": len(files),
        "tasks": exported_task_names(data),
        "mode": mode,
        "include_bindings": include_bindings,
    }
    kept = ""
    if written != path:
        result["kept_existing"] = ctx.workdir.display_path(path)
        kept = (
            f" {tenant(result['kept_existing'])} already existed and was left as it was, so the export got a new name."
        )
    # The default file name is made from the project's name: tenant text.
    return ToolResult(
        result,
        f"Exported project {project_id} ({len(files)} files, {len(data)} bytes) to {tenant(result['path'])}.{kept}",
    )


def exported_task_names(data: bytes) -> list[str]:
    """The names of the tasks an export holds, YAML or LEGACY; none when it cannot be read as a project (the export
    itself is written all the same: it is Qlik's, byte for byte)."""
    try:
        design = read_project_zip(data)
    except ProjectFileError:
        return []
    return sorted(task.name for task in design.tasks.values())


@handler("qdi_import_project")
async def import_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await start_import(ctx, args)


async def start_import(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Send the zip to the endpoint its content calls for: a YAML project starts an import action, a legacy JSON
    project is imported at once (see tools.imports)."""
    project_id, path = args["project_id"], args["path"]
    data = ctx.read_import(path)  # checked: inside the work folder, a safe zip; the bytes the person confirmed
    route = import_route(data)
    # Before the upload: afterwards the project no longer shows what it was.
    changes = await import_changes(ctx, project_id, path)
    result: dict[str, Any] = {"project_id": project_id, "path": path}
    result.update(endpoint=route.endpoint, format=route.format, changes=changes)
    if route is YAML:
        ref = await ctx.client.import_project_async(project_id, data, filename=path.rsplit("/", 1)[-1])
        ctx.started = (
            f"the import was started (action {ref.action_id}); follow it with qdi_wait_for_action, do not import again"
        )
        result.update(status="import_started", action_id=ref.action_id, tasks=[])
        summary = (
            f"Import of {path} into project {project_id} started through import-async (action {ref.action_id}); "
            f"it changes: {changes['summary']}. "
            f"Wait for it with {ctx.tool.resume_with or 'qdi_wait_for_action'}, then prepare the project."
        )
        return ToolResult(result, summary)
    await ctx.client.import_project(project_id, data, filename=path.rsplit("/", 1)[-1])
    tasks = await ctx.client.list_tasks(project_id)
    task_items = [{"id": t.id, "name": t.name, "type": t.type} for t in tasks]
    result.update(status="imported", action_id=None, tasks=task_items)
    return ToolResult(
        result,
        f"Imported legacy JSON {path} into project {project_id}: {len(task_items)} tasks now; changed: "
        f"{changes['summary']}. "
        "Prepare the project (qdi_prepare_project_and_wait) before running its tasks.",
    )


@handler("qdi_validate_project_files")
async def validate_project_files(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    checked = await definition_reports(ctx, args["path"])
    verdict = "can be imported" if checked["valid"] else "must be fixed before importing"
    return ToolResult(checked, f"Qlik's check of {args['path']}: {counts_text(checked)}; the files {verdict}.")


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
    note = f"; {len(empty)} empty (e.g. {', '.join(tenant(name) for name in empty[:3])})" if empty else ""
    return ToolResult(result, f"{len(variables)} binding variables{note}.")


def refuse_masked_values(variables: dict[str, Any], *, argument: str) -> None:
    """A value copied from a log or audit line, where secrets show as the mask, would break the binding in Qlik:
    refuse it before anything is sent."""
    masked = sorted(name for name, value in variables.items() if isinstance(value, str) and MASK in value)
    if masked:
        raise ToolFailure(
            "invalid_arguments",
            f"Binding {masked[0]!r} holds the redaction mask {MASK!r}, not a real value; nothing was changed.",
            hint="read the current values with qdi_get_bindings and send the real value",
            field=argument,
        )


@handler("qdi_update_bindings")
async def update_bindings(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    variables = args["variables"]
    refuse_masked_values(variables, argument="variables")
    project_id = args["project_id"]
    # The PUT replaces the whole set: a partial map would silently drop every variable it leaves out.
    current = (await ctx.client.get_bindings(project_id)).variables
    removed = sorted(set(current) - set(variables))
    if removed and not args.get("remove_missing", False):
        shown = ", ".join(tenant(name) for name in removed[:5]) + (
            f" and {len(removed) - 5} more" if len(removed) > 5 else ""
        )
        raise ToolFailure(
            "invalid_arguments",
            f"The map leaves out {len(removed)} of the project's {len(current)} variables ({shown}); the update "
            "replaces all of them, so they would be deleted. Nothing was changed.",
            hint="send the complete map from qdi_get_bindings; a recalculated map (recalculate=true) leaves out the "
            "variables the design no longer uses: pass remove_missing=true to drop them",
            field="variables",
        )
    changed = {name: value for name, value in variables.items() if name not in current or current[name] != value}
    # Only references this call introduces are checked: an unchanged one, even broken, is not the caller's doing
    # and must not block fixing another binding.
    await check_connection_references(ctx.client, changed)
    await ctx.client.update_bindings(project_id, variables)
    added = sorted(set(variables) - set(current))
    result = {
        "status": "updated",
        "project_id": project_id,
        "variable_count": len(variables),
        "added": added,
        "removed": removed,
        "changed": [{"name": name, "old": current.get(name), "new": changed[name]} for name in sorted(changed)],
    }
    changes = f"; {len(changed)} changed, {len(added)} added, {len(removed)} removed" if changed or removed else ""
    return ToolResult(result, f"Replaced the bindings of project {project_id} ({len(variables)} variables{changes}).")


@handler("qdi_list_spaces")
async def list_spaces(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    page = await ctx.client.list_spaces(
        name=args.get("name"), type=args.get("type"), limit=args.get("limit", 50), next=args.get("cursor")
    )
    items = [{"id": s.id, "name": s.name, "type": s.type} for s in page.spaces if s.id]
    more = "; more with next_cursor" if page.next_cursor else ""
    return ToolResult(
        {"spaces": items, "count": len(items), "next_cursor": page.next_cursor}, f"{len(items)} spaces{more}."
    )


@handler("qdi_list_connections")
async def list_connections(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    page = await ctx.client.list_data_connections(
        space_id=args.get("space_id"), limit=args.get("limit", 50), next=args.get("cursor")
    )
    spaces = SpaceNames(ctx.client)
    items = []
    for connection in page.connections:
        if not connection.id:
            continue
        space_name = await spaces.name(connection.space_id)
        items.append(
            {
                "id": connection.id,
                "name": connection.name,
                "type": connection.type,
                "space_id": connection.space_id,
                "space_name": space_name,
                "binding_reference": binding_reference(space_name, connection.name),
            }
        )
    more = "; more with next_cursor" if page.next_cursor else ""
    summary = f"{len(items)} data connections{more}. Bind one with its binding_reference in qdi_update_bindings."
    return ToolResult({"connections": items, "count": len(items), "next_cursor": page.next_cursor}, summary)
