"""Tool failures an agent can act on.

Every failure a tool reports is a `ToolFailure`: a stable code, a message, the HTTP status and Qlik traceId when
the service answered, whether retrying can help, and a hint naming the next step. API exceptions are translated
here (one place), so handlers never format errors themselves and no traceback or secret reaches the agent.

    ToolFailure
    └── (built from) QdiApiError ─ BadRequestError, AuthError, NotFoundError, ConflictError, RateLimitedError,
                                   ServerError, TransportError, OutcomeUnknownError, ResponseFormatError
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qdi_mcp.api import errors as api_errors

_MAX_DETAIL = 500


class ToolFailure(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        http_status: int | None = None,
        trace_id: str | None = None,
        retryable: bool = False,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.http_status = http_status
        self.trace_id = trace_id
        self.retryable = retryable
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "trace_id": self.trace_id,
            "retryable": self.retryable,
            "hint": self.hint,
        }
        if self.field is not None:
            data["field"] = self.field
        return data

    def summary(self) -> str:
        text = f"Error [{self.code}]: {self.message}"
        if self.hint:
            text += f" Next step: {self.hint}"
        return text


def failure_from_api_error(exc: api_errors.QdiApiError, tool: str, arguments: Mapping[str, Any]) -> ToolFailure:
    """Translate an API exception into a failure whose hint names the tool to call next."""
    detail = _first_detail(exc)
    common = {"http_status": exc.status, "trace_id": exc.trace_id}
    if isinstance(exc, api_errors.OutcomeUnknownError):
        return ToolFailure(
            "outcome_unknown",
            "The request may or may not have been executed by Qlik (the response was lost). Do not repeat it blindly.",
            hint=_check_outcome_hint(tool, arguments),
            retryable=False,
            **common,
        )
    if isinstance(exc, api_errors.NotFoundError):
        return ToolFailure("not_found", detail or "Not found.", hint=_not_found_hint(arguments), **common)
    if isinstance(exc, api_errors.RateLimitedError):
        wait = f" after {exc.retry_after:.0f} s" if exc.retry_after else ""
        return ToolFailure(
            "rate_limited",
            "Qlik's rate limit was reached and retries did not get through.",
            hint=f"retry the same call{wait}",
            retryable=True,
            **common,
        )
    if isinstance(exc, api_errors.AuthError):
        return ToolFailure(
            "auth_failed",
            detail or "Qlik refused the credentials.",
            hint="check QLIK_API_KEY (or QLIK_CLIENT_ID/QLIK_CLIENT_SECRET) and that the user may access this "
            "space; a person must fix the configuration",
            **common,
        )
    if isinstance(exc, api_errors.BadRequestError | api_errors.ConflictError):
        return ToolFailure(
            "bad_request", detail or "Qlik rejected the request.", hint=_bad_request_hint(tool), **common
        )
    if isinstance(exc, api_errors.ServerError):
        return ToolFailure(
            "server_error",
            detail or "Qlik answered with a server error.",
            hint="retry in a moment; if it persists, report the trace_id to Qlik support",
            retryable=True,
            **common,
        )
    if isinstance(exc, api_errors.TransportError):
        return ToolFailure(
            "unreachable",
            "Could not reach the Qlik tenant (network error or timeout).",
            hint="retry in a moment; check QLIK_TENANT_URL and the network if it persists",
            retryable=True,
            **common,
        )
    if isinstance(exc, api_errors.ResponseFormatError):
        return ToolFailure(
            "bad_response",
            "Qlik's answer could not be read (unexpected format).",
            hint="retry; if it persists, report the trace_id",
            retryable=True,
            **common,
        )
    return ToolFailure("api_error", detail or "The Qlik API call failed.", retryable=exc.retryable, **common)


def _first_detail(exc: api_errors.QdiApiError) -> str | None:
    for item in exc.errors or []:
        text = item.detail or item.title
        if text:
            return text[:_MAX_DETAIL]
    return None


def _not_found_hint(arguments: Mapping[str, Any]) -> str:
    if "action_id" in arguments:
        return "action ids come from the prepare, validate and recreate tools; check the id you passed"
    if "task_id" in arguments:
        return f"call qdi_list_tasks with project_id {arguments.get('project_id')!r} to see task ids"
    return "call qdi_list_projects to see project ids"


def _bad_request_hint(tool: str) -> str:
    if tool in ("qdi_start_task", "qdi_stop_task", "qdi_start_task_and_wait", "qdi_stop_task_and_wait"):
        return "call qdi_get_task_state to see whether the task is prepared, running or stopped"
    if "prepare" in tool or "recreate" in tool:
        return "call qdi_get_task_state for the task; stop a running task before preparing or recreating it"
    return "read the message, correct the arguments and call again"


def _check_outcome_hint(tool: str, arguments: Mapping[str, Any]) -> str:
    if "task_id" in arguments and ("start" in tool or "stop" in tool):
        return "call qdi_get_task_state to see whether the task started or stopped before trying again"
    if "task_id" in arguments:
        return "call qdi_get_task_state (and qdi_get_action if you have an action id) before trying again"
    return "check with qdi_get_project / qdi_list_tasks (or qdi_get_action) before trying again"
