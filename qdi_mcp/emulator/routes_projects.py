"""Routes under /api/v1/di-projects that address a project: CRUD, export, bindings, actions (imports: own module)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import actions, bindings, projects
from .errors import bad_request, not_found
from .inputs import emulator_of, enum_value, id_list, json_object, optional_bool, query_bool
from .project_files import EXPORT_MODES, write_project_zip
from .state import ProjectState, TaskState, Tenant


async def list_projects(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    space_id = request.query_params.get("spaceId")
    found = [p for p in tenant.projects.values() if space_id is None or p.space_id == space_id]
    return JSONResponse({"projects": [projects.project_wire(p) for p in found]})


async def create_project(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    project = projects.create_project(tenant, await json_object(request))
    return JSONResponse(projects.project_wire(project), status_code=201)


async def get_project(request: Request) -> Response:
    project = emulator_of(request).tenant.project(request.path_params["projectId"])
    return JSONResponse(projects.project_wire(project))


async def export_project(request: Request) -> Response:
    project = emulator_of(request).tenant.project(request.path_params["projectId"])
    accept = request.headers.get("accept", "*/*")
    if not any(kind in accept for kind in ("application/octet-stream", "*/*", "application/*")):
        raise bad_request("Only 'application/octet-stream' can be accepted from export.", parameter="Accept")
    body = await json_object(request)
    mode = enum_value(body, "mode", EXPORT_MODES, "MINIMAL") or "MINIMAL"
    include_bindings = optional_bool(body, "includeBindings")
    data = write_project_zip(
        projects.export_definition(project),
        mode=mode,
        include_bindings=include_bindings,
        bindings=project.bindings if include_bindings else None,
    )
    filename = re.sub(r"[^A-Za-z0-9._ ()-]+", "_", project.name) or "project"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}.zip"'},
    )


async def get_bindings(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    project = tenant.project(request.path_params["projectId"])
    # A recalculation is answered, not saved: a GET changes nothing (and the client retries GETs freely).
    variables = bindings.recalculated(project) if query_bool(request, "recalculate") else dict(project.bindings)
    return JSONResponse({"variables": variables, "nameToIdMap": bindings.name_to_id_map(tenant, variables)})


async def update_bindings(request: Request) -> Response:
    project = emulator_of(request).tenant.project(request.path_params["projectId"])
    project.bindings = bindings.parse_variables(await json_object(request))
    return JSONResponse({})


async def prepare_project(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    project = tenant.project(request.path_params["projectId"])
    body = await json_object(request)
    allow_recreate = optional_bool(body, "allowRecreate")
    selected = _selected_tasks(project, id_list(body, "selectedTasks", "taskId"))
    if project.active_import_action_id:
        action_id = project.active_import_action_id
        raise bad_request(
            f"Project '{project.name}' is being imported by action {action_id}; wait for it to finish "
            f"(GET /api/v1/di-projects/actions/{action_id}) before preparing."
        )
    if project.active_prepare_action_id:
        action_id = project.active_prepare_action_id
        raise bad_request(
            f"Project '{project.name}' is already being prepared by action {action_id}; wait for it to "
            f"finish (GET /api/v1/di-projects/actions/{action_id}) before preparing again."
        )
    tasks = selected or projects.ordered(project, list(project.tasks.values()))
    for task in tasks:
        if task.busy_action_id:
            raise bad_request(
                f"Task '{task.definition.name}' is being prepared by action {task.busy_action_id}; "
                "wait for it to finish."
            )
        if selected and task.running:
            raise bad_request(projects.running_detail(task), pointer="/selectedTasks")
    action = actions.start_action(
        tenant,
        project,
        kind="prepare",
        action_type=actions.PROJECT_PREPARE,
        name=actions.action_name("Prepare", tenant, project),
        tasks=tasks,
        allow_recreate=allow_recreate,
        skip_running=not selected,
    )
    return JSONResponse({"actionId": action.id}, status_code=202)


async def validate_project(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    project = tenant.project(request.path_params["projectId"])
    body = await json_object(request)
    selected = _selected_tasks(project, id_list(body, "selectedTasks", "taskId"))
    action = actions.start_action(
        tenant,
        project,
        kind="validate",
        action_type=actions.PROJECT_VALIDATE,
        name=actions.action_name("Validate", tenant, project),
        tasks=selected or projects.ordered(project, list(project.tasks.values())),
    )
    return JSONResponse({"actionId": action.id}, status_code=202)


async def get_action(request: Request) -> Response:
    tenant: Tenant = emulator_of(request).tenant
    action_id = request.path_params["actionId"]
    detailed = query_bool(request, "detailed")
    action = tenant.actions.get(action_id)
    if action is None:
        raise not_found(f"Action '{action_id}' was not found.", parameter="actionId")
    return JSONResponse(action.to_wire(detailed=detailed))


def _selected_tasks(project: ProjectState, task_ids: list[str]) -> list[TaskState]:
    for index, task_id in enumerate(task_ids):
        if task_id not in project.tasks:
            known = ", ".join(project.tasks) or "none"
            raise bad_request(
                f"Task '{task_id}' is not in project '{project.name}'. Its tasks are: {known}.",
                pointer=f"/selectedTasks/{index}/taskId",
            )
    return projects.ordered(project, [project.tasks[task_id] for task_id in task_ids])
