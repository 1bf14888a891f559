"""Routes under /api/v1/di-projects/{projectId}/di-tasks: tasks, their actions and their runtime."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import actions, runtime, runtime_views
from .errors import bad_request
from .inputs import emulator_of, enum_value, id_list, json_object, required_bool
from .projects import ordered, running_detail, task_wire
from .state import ProjectState, TaskState, Tenant


def _addressed(request: Request) -> tuple[Tenant, ProjectState, TaskState]:
    tenant = emulator_of(request).tenant
    project, task = tenant.task(request.path_params["projectId"], request.path_params["dataTaskId"])
    return tenant, project, task


async def list_tasks(request: Request) -> Response:
    project = emulator_of(request).tenant.project(request.path_params["projectId"])
    return JSONResponse({"dataTasks": [task_wire(project, task) for task in project.tasks.values()]})


async def get_task(request: Request) -> Response:
    _, project, task = _addressed(request)
    return JSONResponse(task_wire(project, task))


def _check_preparable(project: ProjectState, task: TaskState) -> None:
    if task.running:
        raise bad_request(running_detail(task))
    busy = task.busy_action_id or project.active_prepare_action_id
    if busy:
        raise bad_request(f"Task '{task.definition.name}' is being prepared by action {busy}; wait for it to finish.")


async def prepare_task(request: Request) -> Response:
    tenant, project, task = _addressed(request)
    # Unlike a project prepare's, a task prepare's allowRecreate is required by the reference.
    allow_recreate = required_bool(await json_object(request), "allowRecreate")
    _check_preparable(project, task)
    action = actions.start_action(
        tenant,
        project,
        kind="prepare",
        action_type=actions.TASK_PREPARE,
        name=actions.action_name("Prepare", tenant, project, task),
        tasks=[task],
        allow_recreate=allow_recreate,
    )
    return JSONResponse({"actionId": action.id}, status_code=202)


async def recreate_task_datasets(request: Request) -> Response:
    tenant, project, task = _addressed(request)
    await json_object(request)
    _check_preparable(project, task)
    action = actions.start_action(
        tenant,
        project,
        kind="recreate",
        action_type=actions.TASK_PREPARE,
        name=actions.action_name("Recreate datasets of", tenant, project, task),
        tasks=[task],
        allow_recreate=True,
    )
    return JSONResponse({"actionId": action.id}, status_code=202)


async def validate_task(request: Request) -> Response:
    tenant, project, task = _addressed(request)
    await json_object(request)
    action = actions.start_action(
        tenant,
        project,
        kind="validate",
        action_type=actions.TASK_VALIDATE,
        name=actions.action_name("Validate", tenant, project, task),
        tasks=ordered(project, [task]),
    )
    return JSONResponse({"actionId": action.id}, status_code=202)


async def request_task_reload(request: Request) -> Response:
    _, _, task = _addressed(request)
    body = await json_object(request)
    strategy = enum_value(body, "reloadStrategy", runtime.RELOAD_STRATEGIES, "NONE") or "NONE"
    runtime.request_reload(task, id_list(body, "selectedDatasets", "datasetId"), strategy)
    return JSONResponse({"success": True})


async def start_task(request: Request) -> Response:
    tenant, _, task = _addressed(request)
    option, process_from = runtime.parse_start_options(task, await json_object(request))
    runtime.start_task(tenant, task, option=option, process_changes_from=process_from)
    return Response(status_code=204)


async def stop_task(request: Request) -> Response:
    tenant, _, task = _addressed(request)
    runtime.stop_task(tenant, task)
    return Response(status_code=204)


async def get_task_state(request: Request) -> Response:
    tenant, _, task = _addressed(request)
    return JSONResponse(runtime_views.runtime_state(tenant, task))


async def get_task_datasets_state(request: Request) -> Response:
    tenant, _, task = _addressed(request)
    return JSONResponse({"datasets": runtime_views.datasets_state(tenant, task)})
