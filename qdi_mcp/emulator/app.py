"""The emulator's ASGI app: the seed's routes, the control routes, and errors in Qlik's envelope."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import routes_control as control
from . import routes_imports as imports
from . import routes_projects as projects
from . import routes_runs as runs
from . import routes_spaces as spaces
from . import routes_tasks as tasks
from .errors import ApiError, error_response
from .gateway import Gateway
from .operations import OPERATIONS_BY_NAME

if TYPE_CHECKING:
    from .emulator import Emulator

logger = logging.getLogger("qdi_mcp.emulator")

_HANDLERS = {
    "list_projects": projects.list_projects,
    "create_project": projects.create_project,
    "get_project": projects.get_project,
    "export_project": projects.export_project,
    "import_project": imports.import_project,
    "prepare_project": projects.prepare_project,
    "validate_project": projects.validate_project,
    "get_bindings": projects.get_bindings,
    "update_bindings": projects.update_bindings,
    "get_action": projects.get_action,
    "list_tasks": tasks.list_tasks,
    "get_task": tasks.get_task,
    "prepare_task": tasks.prepare_task,
    "recreate_task_datasets": tasks.recreate_task_datasets,
    "request_task_reload": tasks.request_task_reload,
    "validate_task": tasks.validate_task,
    "start_task": tasks.start_task,
    "stop_task": tasks.stop_task,
    "get_task_state": tasks.get_task_state,
    "get_task_datasets_state": tasks.get_task_datasets_state,
    "import_project_async": imports.import_project_async,
    "validate_project_definitions": imports.validate_project_definitions,
    **runs.HANDLERS,
    "list_spaces": spaces.list_spaces,
    "list_connections": spaces.list_data_connections,
}


def _routes() -> list[Route]:
    # One Route per path, carrying every method the seed defines for it, so a wrong method is a 405.
    by_path: dict[str, dict[str, str]] = {}
    for name, operation in OPERATIONS_BY_NAME.items():
        by_path.setdefault(operation.path, {})[operation.method] = name
    routes = [Route(path, _dispatcher(methods), methods=list(methods), name=path) for path, methods in by_path.items()]
    routes += [
        Route("/oauth/token", control.oauth_token, methods=["POST"]),
        Route("/_emulator/snapshot", control.snapshot, methods=["GET"]),
        Route("/_emulator/counters", control.counters, methods=["GET"]),
        Route("/_emulator/faults", control.list_faults, methods=["GET"]),
        Route("/_emulator/faults", control.inject_fault, methods=["POST"]),
        Route("/_emulator/faults", control.clear_faults, methods=["DELETE"]),
        Route("/_emulator/clock/advance", control.advance_clock, methods=["POST"]),
        Route("/_emulator/datasets/broken", control.set_dataset_broken, methods=["POST"]),
        Route("/_emulator/runs/scheduled", control.trigger_scheduled_run, methods=["POST"]),
    ]
    return routes


def _dispatcher(methods: dict[str, str]):
    handlers = {method: _HANDLERS[name] for method, name in methods.items()}

    async def dispatch(request: Request) -> Response:
        # Ids arrive with '/' and '%' still escaped (see SegmentPreservingPath): decode them exactly once here.
        request.scope["path_params"] = {k: unquote(v) for k, v in request.path_params.items()}
        # Starlette also routes HEAD to GET routes; answer it as the GET it mirrors
        method = "GET" if request.method == "HEAD" else request.method
        return with_action_location(await handlers[method](request))

    return dispatch


def with_action_location(response: Response) -> Response:
    """A 202 names its action in a `Location` header too. qlik.dev documents no header (only `actionId` in the
    body, stored doc 68598814407); issue 14 asks for it, pointing where the reference says to poll."""
    if response.status_code == 202 and isinstance(response, JSONResponse):
        action_id = json.loads(bytes(response.body)).get("actionId")
        if isinstance(action_id, str):
            response.headers["Location"] = f"/api/v1/di-projects/actions/{quote(action_id, safe='')}"
    return response


def _trace_id(request: Request) -> str:
    trace_id = getattr(request.state, "trace_id", None)
    return trace_id or request.app.state.emulator.tenant.ids.trace_id()


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, _trace_id(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError(404, f"No such endpoint: {request.method} {request.url.path}.")
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        error = ApiError(
            405,
            f"Method {request.method} is not allowed on {request.url.path}; allowed: {allowed}.",
            headers={"Allow": allowed} if allowed else None,
        )
    else:
        error = ApiError(exc.status_code, str(exc.detail))
    return error_response(error, _trace_id(request))


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("emulator bug while handling %s %s", request.method, request.url.path)
    error = ApiError(500, f"The emulator failed unexpectedly ({type(exc).__name__}).")
    return error_response(error, _trace_id(request))


class EmulatorApp(Starlette):
    """A Starlette app whose outermost layer is the `Gateway` (faults, auth, rate limits, accounting)."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(
            routes=_routes(),
            exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error},
        )
        self.router.redirect_slashes = False  # Qlik answers 404 for a stray slash, it does not redirect
        self.state.emulator = emulator
        self._emulator = emulator

    def build_middleware_stack(self) -> ASGIApp:
        return SegmentPreservingPath(Gateway(super().build_middleware_stack(), self._emulator))


_KEPT_ESCAPES = re.compile(r"(%2[fF]|%25)")


class SegmentPreservingPath:
    """Route on the path as sent, where an escaped '/' (%2F) stays inside its segment.

    ASGI servers decode `scope["path"]`, so an id like "p1/di-tasks", correctly sent as `p1%2Fdi-tasks`, would
    otherwise be routed as two segments to another operation. Like Qlik's gateway, the emulator keeps %2F (and
    %25, so nothing is decoded twice) escaped while routing; route handlers decode path parameters once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and b"%" in raw:
            text = raw.decode("latin-1").split("?", 1)[0]
            parts = _KEPT_ESCAPES.split(text)
            scope = dict(scope)
            scope["path"] = "".join(part if _KEPT_ESCAPES.fullmatch(part) else unquote(part) for part in parts)
        await self.app(scope, receive, send)
