"""Routes of a task's run history under .../di-tasks/{dataTaskId}/runtime/runs (behaviour in `run_history.py`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import run_history
from .inputs import emulator_of, json_object
from .state import TaskState, Tenant


def _addressed(request: Request) -> tuple[Tenant, TaskState]:
    tenant = emulator_of(request).tenant
    _, task = tenant.task(request.path_params["projectId"], request.path_params["dataTaskId"])
    return tenant, task


async def list_task_runs(request: Request) -> Response:
    tenant, task = _addressed(request)
    return JSONResponse(run_history.search(tenant, task, await json_object(request)))


async def get_task_run(request: Request) -> Response:
    tenant, task = _addressed(request)
    run = run_history.find_run(task, request.path_params["runId"])
    return JSONResponse(run_history.run_state(tenant, task, run))


async def get_task_run_datasets(request: Request) -> Response:
    tenant, task = _addressed(request)
    run = run_history.find_run(task, request.path_params["runId"])
    return JSONResponse(run_history.run_datasets(tenant, task, run))


HANDLERS = {
    "list_task_runs": list_task_runs,
    "get_task_run": get_task_run,
    "get_task_run_datasets": get_task_run_datasets,
}
