"""import-async: a project import run as an asynchronous action of type PROJECT_IMPORT.

Qlik's reference (qlik.dev di-projects, stored doc 68598814407) says only that import-async "returns an action
identifier for tracking the background import operation" and lists PROJECT_IMPORT among the action types; how the
action progresses is not documented. The emulator runs it like its prepare and validate actions: PENDING for a
moment, then EXECUTING through the zip's tasks one by one (each PENDING -> EXECUTING -> COMPLETED | FAILED), then
COMPLETED or FAILED.

The import is all or nothing (our choice; a half-imported project is the worst outcome for an operator): the
project changes only when every task's definition passed. A task fails when its task.yaml has no `settings`
(what validate-project-definitions reports as an ERROR that "must be resolved before importing") or when the
target task of that id is running by then. After a failure the tasks that had passed are CANCELED (not imported).
"""

from __future__ import annotations

import functools

from . import timings
from .actions import Action, ActionItem, action_name
from .errors import ApiError
from .project_files import ProjectDefinition
from .projects import import_definition
from .state import ProjectState, Tenant

PROJECT_IMPORT = "PROJECT_IMPORT"


def check_not_busy(project: ProjectState) -> None:
    """409 while another import or a prepare of the project runs. The reference lists 409 "Conflict" for both
    import endpoints without saying when; a second writer of the same design is the plausible cause."""
    busy = project.active_import_action_id or project.active_prepare_action_id
    if busy is None:
        busy = next((task.busy_action_id for task in project.tasks.values() if task.busy_action_id), None)
    if busy:
        kind = "imports" if busy == project.active_import_action_id else "prepares"
        raise ApiError(
            409,
            f"Cannot import into project '{project.name}' while action {busy} {kind} it; wait for it to finish "
            f"(GET /api/v1/di-projects/actions/{busy}).",
        )


def start_import(tenant: Tenant, project: ProjectState, definition: ProjectDefinition) -> Action:
    now = tenant.now()
    action = Action(
        id=tenant.ids.action_id(),
        name=action_name("Import", tenant, project),
        type=PROJECT_IMPORT,
        kind="import",
        project_id=project.id,
        allow_recreate=False,
        created=now,
        items=[ActionItem(task.id, task.name, set()) for task in definition.tasks],
    )
    project.active_import_action_id = action.id
    tenant.actions[action.id] = action
    tenant.schedule(now + timings.ACTION_PENDING_SECONDS, functools.partial(_begin, tenant, action, definition))
    return action


def _begin(tenant: Tenant, action: Action, definition: ProjectDefinition, at: float) -> None:
    action.state = "EXECUTING"
    action.start = at
    _advance(tenant, action, definition, at)


def _advance(tenant: Tenant, action: Action, definition: ProjectDefinition, at: float) -> None:
    item = next((item for item in action.items if item.state == "PENDING"), None)
    if item is None:
        _finish(tenant, action, definition, at)
        return
    item.state = "EXECUTING"
    tenant.schedule(at + timings.IMPORT_TASK_SECONDS, functools.partial(_complete, tenant, action, definition, item))


def _complete(tenant: Tenant, action: Action, definition: ProjectDefinition, item: ActionItem, at: float) -> None:
    project = tenant.projects.get(action.project_id)
    task = next(task for task in definition.tasks if task.id == item.task_id)
    target = project.tasks.get(task.id) if project is not None else None
    task_file = task.files.get("task.yaml")
    if not isinstance(task_file, dict) or "settings" not in task_file:
        # the wording of qlik.dev validate-configuration's example report
        item.state, item.error = "FAILED", _error("INVALID_DEFINITION", "Property 'settings' is missing.")
    elif target is not None and target.running:
        message = f"Task '{target.definition.name}' is running: stop it before importing over it."
        item.state, item.error = "FAILED", _error("TASK_RUNNING", message)
    else:
        item.state = "COMPLETED"
    _advance(tenant, action, definition, at)


def _finish(tenant: Tenant, action: Action, definition: ProjectDefinition, at: float) -> None:
    project = tenant.projects.get(action.project_id)
    if project is not None and project.active_import_action_id == action.id:
        project.active_import_action_id = None
    action.end = at
    failed = [item for item in action.items if item.state == "FAILED"]
    if project is None:
        action.state, action.error = "FAILED", _error("PROJECT_NOT_FOUND", "The project no longer exists.")
        return
    if not failed:
        import_definition(project, definition)
        action.state = "COMPLETED"
        return
    names = ", ".join(item.name for item in failed)
    for item in action.items:
        if item.state == "COMPLETED":
            item.state = "CANCELED"
            item.info = f"Not imported: the import is all or nothing and it failed for {names}."
    action.state = "FAILED"
    first = failed[0].error or {}
    action.error = {
        "code": first.get("code", "IMPORT_FAILED"),
        "message": f"Import failed for {len(failed)} of {len(action.items)} task(s): {names}. Nothing was changed.",
        "details": first.get("message", ""),
    }


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message, "details": message}
