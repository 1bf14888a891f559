"""QlikClient: one async method per endpoint of the Qlik Data Integration projects API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from qdi_mcp.clock import Clock, SystemClock
from qdi_mcp.settings.tenant_url import validate_tenant_url

from .. import __version__
from .auth import Auth
from .errors import InvalidParameterError, ResponseFormatError, ResponseTooLargeError, format_message
from .models import (
    Action,
    ActionRef,
    Bindings,
    CreateProjectRequest,
    DataConnectionList,
    DataConnectionPage,
    DatasetSelector,
    DatasetState,
    DatasetStateList,
    DataTask,
    DataTaskList,
    DefinitionReport,
    DefinitionReports,
    ExportRequest,
    PrepareProjectRequest,
    PrepareTaskRequest,
    Project,
    ProjectList,
    ReloadResult,
    RequestReloadRequest,
    SearchTaskRunsRequest,
    SpaceList,
    SpacePage,
    StartTaskRequest,
    TaskRunFilter,
    TaskRunPage,
    TaskRuntimeState,
    TaskSelector,
    UpdateBindingsRequest,
    ValidateProjectRequest,
)
from .ratelimit import TierLimiter

if TYPE_CHECKING:
    from qdi_mcp.shared_state import SharedDesignCache
from .retry import RetryPolicy
from .session import OCTET_STREAM, ApiResponse, ApiSession, Timeouts

USER_AGENT = f"qdi-mcp/{__version__}"
DEFAULT_MAX_EXPORT_BYTES = 100 * 1024 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


class QlikClient:
    """Async client for one Qlik Cloud tenant. Use as `async with QlikClient(...) as client:`."""

    def __init__(
        self,
        tenant_url: str,
        *,
        auth: Auth,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        limiter: TierLimiter | None = None,
        max_export_bytes: int = DEFAULT_MAX_EXPORT_BYTES,
        clock: Clock | None = None,
        allow_hosts: Iterable[str] = (),
        design_cache: SharedDesignCache | None = None,
    ) -> None:
        if max_export_bytes < 1:
            raise ValueError(f"max_export_bytes must be positive, got {max_export_bytes}")
        self.tenant_url = validate_tenant_url(tenant_url, allow_hosts=allow_hosts)
        self.max_export_bytes = max_export_bytes
        clock = clock or SystemClock()
        self.clock = clock  # what callers that cache tenant facts read time from
        # Designs shared with other replicas (QDI_MCP_STATE_URL); None: each caller keeps its own.
        self.design_cache = design_cache
        timeout = timeout or Timeouts()
        http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout.to_httpx(),
            # a redirect could carry the Authorization header to another host; treat 3xx as an error
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._session = ApiSession(
            tenant_url=self.tenant_url,
            http=http,
            auth=auth,
            retry=retry or RetryPolicy(),
            limiter=limiter or TierLimiter(clock=clock),
            clock=clock,
            total_timeout=timeout.total,
        )

    async def aclose(self) -> None:
        try:
            await self._session.http.aclose()
        finally:
            await self._session.limiter.aclose()
            if self.design_cache is not None:
                await self.design_cache.aclose()

    async def __aenter__(self) -> QlikClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"QlikClient(tenant_url={self.tenant_url!r}, auth={self._session.auth!r})"

    # --- projects ------------------------------------------------------------------------------------

    async def list_projects(self, *, space_id: str | None = None) -> list[Project]:
        response = await self._session.call("list_projects", params={"spaceId": space_id})
        return _parse(response, ProjectList).projects

    async def create_project(self, request: CreateProjectRequest) -> Project:
        response = await self._session.call("create_project", json=request.to_wire())
        return _parse(response, Project)

    async def get_project(self, project_id: str) -> Project:
        response = await self._session.call("get_project", path_params={"projectId": project_id})
        return _parse(response, Project)

    async def export_project(self, project_id: str, *, mode: str = "MINIMAL", include_bindings: bool = False) -> bytes:
        body = ExportRequest.model_validate({"mode": mode, "include_bindings": include_bindings})
        try:
            response = await self._session.call(
                "export_project",
                path_params={"projectId": project_id},
                json=body.to_wire(),
                accept=OCTET_STREAM,
                max_body=self.max_export_bytes,
            )
        except ResponseTooLargeError as exc:
            raise ResponseTooLargeError(
                f"{exc} (export of project {project_id!r} exceeds max_export_bytes={self.max_export_bytes})",
                status=exc.status,
                method=exc.method,
                path=exc.path,
            ) from exc
        return response.content

    async def import_project(
        self, project_id: str, zip_bytes: bytes, *, filename: str = "project.zip"
    ) -> dict[str, Any]:
        response = await self._session.call(
            "import_project",
            path_params={"projectId": project_id},
            files={"zip": (filename, _zip_bytes(zip_bytes), "application/zip")},
        )
        return _parse_object(response)

    async def prepare_project(
        self,
        project_id: str,
        *,
        allow_recreate: bool = False,
        selected_task_ids: list[str] | None = None,
    ) -> ActionRef:
        body = PrepareProjectRequest(allow_recreate=allow_recreate, selected_tasks=_tasks(selected_task_ids))
        response = await self._session.call(
            "prepare_project", path_params={"projectId": project_id}, json=body.to_wire()
        )
        return _parse(response, ActionRef)

    async def validate_project(self, project_id: str, *, selected_task_ids: list[str] | None = None) -> ActionRef:
        body = ValidateProjectRequest(selected_tasks=_tasks(selected_task_ids))
        response = await self._session.call(
            "validate_project", path_params={"projectId": project_id}, json=body.to_wire()
        )
        return _parse(response, ActionRef)

    async def get_bindings(self, project_id: str, *, recalculate: bool = False) -> Bindings:
        response = await self._session.call(
            "get_bindings",
            path_params={"projectId": project_id},
            params={"recalculate": "true" if recalculate else None},
        )
        return _parse(response, Bindings)

    async def update_bindings(self, project_id: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = UpdateBindingsRequest(variables=variables)
        response = await self._session.call(
            "update_bindings", path_params={"projectId": project_id}, json=body.to_wire()
        )
        return _parse_object(response)

    # --- data tasks ----------------------------------------------------------------------------------

    async def list_tasks(self, project_id: str) -> list[DataTask]:
        response = await self._session.call("list_tasks", path_params={"projectId": project_id})
        return _parse(response, DataTaskList).data_tasks

    async def get_task(self, project_id: str, task_id: str) -> DataTask:
        response = await self._session.call("get_task", path_params=_task_path(project_id, task_id))
        return _parse(response, DataTask)

    async def prepare_task(self, project_id: str, task_id: str, *, allow_recreate: bool = False) -> ActionRef:
        body = PrepareTaskRequest(allow_recreate=allow_recreate)
        response = await self._session.call(
            "prepare_task", path_params=_task_path(project_id, task_id), json=body.to_wire()
        )
        return _parse(response, ActionRef)

    async def recreate_task_datasets(self, project_id: str, task_id: str) -> ActionRef:
        response = await self._session.call(
            "recreate_task_datasets", path_params=_task_path(project_id, task_id), json={}
        )
        return _parse(response, ActionRef)

    async def request_task_reload(
        self,
        project_id: str,
        task_id: str,
        *,
        reload_strategy: str | None = None,
        dataset_ids: list[str] | None = None,
    ) -> ReloadResult:
        datasets = None if dataset_ids is None else [DatasetSelector(dataset_id=id_) for id_ in dataset_ids]
        body = RequestReloadRequest.model_validate({"reload_strategy": reload_strategy, "selected_datasets": datasets})
        response = await self._session.call(
            "request_task_reload", path_params=_task_path(project_id, task_id), json=body.to_wire()
        )
        return _parse(response, ReloadResult)

    async def validate_task(self, project_id: str, task_id: str) -> ActionRef:
        response = await self._session.call("validate_task", path_params=_task_path(project_id, task_id), json={})
        return _parse(response, ActionRef)

    async def start_task(
        self,
        project_id: str,
        task_id: str,
        *,
        option: str | None = None,
        process_changes_from: str | None = None,
    ) -> None:
        body = StartTaskRequest.model_validate({"option": option, "process_changes_from": process_changes_from})
        await self._session.call("start_task", path_params=_task_path(project_id, task_id), json=body.to_wire())

    async def stop_task(self, project_id: str, task_id: str) -> None:
        await self._session.call("stop_task", path_params=_task_path(project_id, task_id))

    # --- runtime state and actions -------------------------------------------------------------------

    async def get_task_state(self, project_id: str, task_id: str) -> TaskRuntimeState:
        response = await self._session.call("get_task_state", path_params=_task_path(project_id, task_id))
        return _parse(response, TaskRuntimeState)

    async def get_task_datasets_state(self, project_id: str, task_id: str) -> list[DatasetState]:
        response = await self._session.call("get_task_datasets_state", path_params=_task_path(project_id, task_id))
        return _parse(response, DatasetStateList).datasets

    async def get_action(self, action_id: str, *, detailed: bool = False) -> Action:
        response = await self._session.call(
            "get_action",
            path_params={"actionId": action_id},
            params={"detailed": "true" if detailed else None},
        )
        return _parse(response, Action)

    # --- import-async and project-definition checks (issue 14) ---------------------------------------

    async def import_project_async(
        self, project_id: str, zip_bytes: bytes, *, filename: str = "project.zip"
    ) -> ActionRef:
        """Start a background import (YAML or legacy JSON zip); follow the returned action with get_action."""
        response = await self._session.call(
            "import_project_async",
            path_params={"projectId": project_id},
            files={"zip": (filename, _zip_bytes(zip_bytes), "application/zip")},
        )
        return _parse(response, ActionRef)

    async def validate_project_definitions(
        self, zip_bytes: bytes, *, filename: str = "project.zip"
    ) -> list[DefinitionReport]:
        """Qlik's findings on a project zip's definition files; an empty list means no issues."""
        response = await self._session.call(
            "validate_project_definitions", files={"zip": (filename, _zip_bytes(zip_bytes), "application/zip")}
        )
        return _parse(response, DefinitionReports).reports

    # --- run history ---------------------------------------------------------------------------------

    async def list_task_runs(
        self,
        project_id: str,
        task_id: str,
        *,
        limit: int | None = None,
        last_id: str | None = None,
        filters: Sequence[TaskRunFilter | Mapping[str, Any]] | None = None,
    ) -> TaskRunPage:
        """One page of the task's run history (Qlik's "Search task run history"): pass the page's `last_id`
        back while `next_page_exists`. A malformed filter raises ValueError before any request."""
        body = SearchTaskRunsRequest.model_validate({"limit": limit, "last_id": last_id, "filters": filters})
        response = await self._session.call(
            "list_task_runs", path_params=_task_path(project_id, task_id), json=body.to_wire()
        )
        return _parse(response, TaskRunPage)

    async def get_task_run(self, project_id: str, task_id: str, run_id: str) -> TaskRuntimeState:
        response = await self._session.call("get_task_run", path_params=_run_path(project_id, task_id, run_id))
        return _parse(response, TaskRuntimeState)

    async def get_task_run_datasets(self, project_id: str, task_id: str, run_id: str) -> list[DatasetState]:
        """Every dataset's state in that run (never paginated). GoneError (410) once retention purged it."""
        response = await self._session.call("get_task_run_datasets", path_params=_run_path(project_id, task_id, run_id))
        return _parse(response, DatasetStateList).datasets

    # --- spaces and data connections (not di-projects: what bindings' connection references name) -------

    async def list_spaces(
        self,
        *,
        name: str | None = None,
        type: str | None = None,  # noqa: A002 - Qlik's query parameter
        limit: int | None = None,
        next: str | None = None,  # noqa: A002 - Qlik's query parameter
    ) -> SpacePage:
        """Spaces the caller can access; `name` is a case-insensitive substring, `type` e.g. "data" or
        "shared,managed", `next` the cursor of the previous page's `next_cursor`."""
        _check_limit(limit)
        response = await self._session.call(
            "list_spaces", params={"name": name, "type": type, "limit": limit, "next": next}
        )
        answer = _parse(response, SpaceList)
        return SpacePage(spaces=answer.data, next_cursor=_cursor(answer.links, "next"))

    async def list_data_connections(
        self,
        *,
        space_id: str | None = None,
        limit: int | None = None,
        next: str | None = None,  # noqa: A002 - the cursor of links.next
    ) -> DataConnectionPage:
        """Data connections without any credential field (the models drop them while parsing)."""
        _check_limit(limit)
        # data-connections.d.ts @ 35d6345f: the cursor parameter is `page` ("Pagination cursor string"), not `next`
        response = await self._session.call(
            "list_connections", params={"spaceId": space_id, "limit": limit, "page": next}
        )
        answer = _parse(response, DataConnectionList)
        return DataConnectionPage(connections=answer.data, next_cursor=_cursor(answer.links, "page"))


# data-connections: "Number of resources to be returned (between 1 and 100)"; spaces state no maximum, and the
# same bound keeps one answer small.
MAX_PAGE_LIMIT = 100


def _zip_bytes(zip_bytes: bytes) -> bytes:
    if not isinstance(zip_bytes, bytes | bytearray) or not zip_bytes:
        raise ValueError("zip_bytes must be the non-empty contents of a project .zip file")
    return bytes(zip_bytes)


def _run_path(project_id: str, task_id: str, run_id: str) -> dict[str, str]:
    return {**_task_path(project_id, task_id), "runId": run_id}


def _check_limit(limit: int | None) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidParameterError(f"limit must be a whole number from 1 to {MAX_PAGE_LIMIT}", parameter="limit")


def _cursor(links: Any, parameter: str) -> str | None:
    """The cursor in `links.next.href` (Qlik pages by following that link)."""
    href = links.next.href if links is not None and links.next is not None else None
    if not href:
        return None
    values = parse_qs(urlsplit(href).query).get(parameter)
    return values[0] if values else None


def _task_path(project_id: str, task_id: str) -> dict[str, str]:
    return {"projectId": project_id, "dataTaskId": task_id}


def _tasks(task_ids: list[str] | None) -> list[TaskSelector] | None:
    # None omits selectedTasks (whole-project orchestration); an explicit list is sent as given
    return None if task_ids is None else [TaskSelector(task_id=task_id) for task_id in task_ids]


def _json_document(response: ApiResponse) -> Any:
    if not response.content.strip():
        return {}
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _format_error(response, "the answer is not JSON") from exc


def _parse(response: ApiResponse, model: type[ModelT]) -> ModelT:
    document = _json_document(response)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        problem = f"the answer does not match {model.__name__}: {where}: {first['msg']}"
        raise _format_error(response, problem) from exc


def _parse_object(response: ApiResponse) -> dict[str, Any]:
    document = _json_document(response)
    if not isinstance(document, dict):
        raise _format_error(response, f"expected a JSON object, got {type(document).__name__}")
    return document


def _format_error(response: ApiResponse, problem: str) -> ResponseFormatError:
    return ResponseFormatError(
        format_message(response.method, response.path, response.status, problem, None),
        status=response.status,
        method=response.method,
        path=response.path,
    )
