"""API exceptions translated into tool failures an agent can act on (one place), so handlers never format
errors themselves and no traceback or secret reaches the agent.

    ToolFailure
    └── (built from) QdiApiError ─ BadRequestError, AuthError, NotFoundError, ConflictError, GoneError,
                                   RateLimitedError, ServerError, TransportError, OutcomeUnknownError,
                                   ResponseFormatError, InvalidParameterError

Never invite a blind repeat of a change: a write whose answer was lost or unreadable is `outcome_unknown`, and so
is a "…_and_wait" tool that failed while waiting (raised by the wait itself, which knows the action id or the task):
it says what was already started and how to check or resume,
instead of asking to be called again.

Tool-specific next steps are the spec's `hints:` (`bad_request`, `check_outcome`, `not_found`, `gone`); the texts
here are the generic ones for tools without them. Not-found hints depend on the argument that named the missing
object, unless the spec names a better one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from qdi_mcp.api import errors as api_errors
from qdi_mcp.api import retry
from qdi_mcp.api.retry import is_idempotent
from qdi_mcp.failures import ToolFailure
from qdi_mcp.specs import ToolSpec
from qdi_mcp.tenant_text import tenant

_MAX_DETAIL = 500
_UNREACHABLE_HINT = "retry in a moment; check QLIK_TENANT_URL and the network if it persists"
# Causes that retrying will not fix name what to check instead.
_UNREACHABLE_HINTS = {
    retry.CAUSE_DNS: "check the host name in QLIK_TENANT_URL (https://<tenant>.<region>.qlikcloud.com) and the DNS",
    retry.CAUSE_REFUSED: "check the host and port in QLIK_TENANT_URL, and any proxy (HTTPS_PROXY) in the way",
    retry.CAUSE_TLS: (
        "the tenant's certificate was not trusted: a proxy that inspects TLS needs its CA in SSL_CERT_FILE; "
        "check QLIK_TENANT_URL"
    ),
}


def failure_from_api_error(exc: api_errors.QdiApiError, spec: ToolSpec, arguments: Mapping[str, Any]) -> ToolFailure:
    """Translate an API exception into a failure whose hint names the tool to call next. A Qlik error pointing at
    a request field is named as one of the tool's arguments, or not at all."""
    tool = spec.name
    detail = _first_detail(exc)
    common: dict[str, Any] = {"http_status": exc.status, "trace_id": exc.trace_id}
    if isinstance(exc, api_errors.InvalidParameterError):
        return ToolFailure(
            "invalid_arguments",
            f"Invalid arguments for {tool}: {exc.message}.",
            hint=f"pass the {exc.parameter} exactly as a list or get tool returned it",
            field=exc.parameter,
        )
    if _is_lost_write_answer(exc):
        return ToolFailure(
            "outcome_unknown",
            "The request may or may not have been executed by Qlik (the response was lost). Do not repeat it blindly.",
            hint=spec.hint("check_outcome", arguments) or _CHECK_OUTCOME_HINT,
            retryable=False,
            **common,
        )
    if isinstance(exc, api_errors.ApiStatusError) and exc.status is not None and 300 <= exc.status < 400:
        return ToolFailure(
            "redirect_refused",
            f"Qlik answered with a redirect (HTTP {exc.status}); redirects are not followed, so the credentials "
            "never go to another host.",
            hint="check QLIK_TENANT_URL: it must be the tenant's own address "
            "(https://<tenant>.<region>.qlikcloud.com); a person must fix the configuration",
            **common,
        )
    if isinstance(exc, api_errors.NotFoundError):
        hint = spec.hint("not_found", arguments) or _not_found_hint(arguments)
        return ToolFailure("not_found", detail or "Not found.", hint=hint, **common)
    if isinstance(exc, api_errors.GoneError):
        return ToolFailure(
            "gone",
            detail or "Qlik no longer keeps this object (HTTP 410 Gone).",
            hint=spec.hint("gone", arguments) or "the object is gone for good; do not retry",
            **common,
        )
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
    if isinstance(exc, api_errors.BadRequestError | api_errors.ConflictError) and exc.after_retry:
        return ToolFailure(
            "refused_after_retry",
            f"Qlik refused a repeat of this call (HTTP {exc.status}). It was repeated because Qlik first answered "
            "429 (too many requests), so the first attempt may have been carried out after all and this refusal "
            f"may be about its result. Qlik said: {detail or 'no detail'}.",
            hint=spec.hint("check_outcome", arguments) or _CHECK_OUTCOME_HINT,
            retryable=False,
            **common,
        )
    if isinstance(exc, api_errors.BadRequestError | api_errors.ConflictError):
        argument = _argument_pointed_at(exc, spec.input_schema.get("properties", {}))
        return ToolFailure(
            "bad_request",
            detail or "Qlik rejected the request.",
            hint=_bad_request_hint(spec, arguments, argument),
            field=argument,
            **common,
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
        # The tenant's URL is ours (QLIK_TENANT_URL), not tenant text: naming it shows a typo at a glance.
        where = f" at {exc.tenant}" if exc.tenant else ""
        return ToolFailure(
            "unreachable",
            f"Could not reach the Qlik tenant{where}: {exc.cause or 'network error or timeout'}.",
            hint=_UNREACHABLE_HINTS.get(exc.cause or "", _UNREACHABLE_HINT),
            retryable=exc.retryable,
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
    """Qlik's explanation, marked as tenant text: it repeats names (and anything planted in them)."""
    for item in exc.errors or []:
        text = item.detail or item.title
        if text:
            return tenant(text[:_MAX_DETAIL])
    return None


def _not_found_hint(arguments: Mapping[str, Any]) -> str:
    if "action_id" in arguments:
        return "action ids come from the prepare, validate and recreate tools; check the id you passed"
    if "task_id" in arguments:
        return f"call qdi_list_tasks with project_id {arguments.get('project_id')!r} to see task ids"
    return "call qdi_list_projects to see project ids"


# Request fields whose tool argument is not simply their snake_case form.
_ARGUMENT_FOR_FIELD = {
    "selectedTasks": "selected_task_ids",
    "selectedDatasets": "dataset_ids",
    "space": "space_id",
    "dataTaskId": "task_id",
}


def _argument_pointed_at(exc: api_errors.QdiApiError, argument_names: Collection[str]) -> str | None:
    """The tool argument Qlik's error points at (`source.pointer` "/processChangesFrom" or `source.parameter`),
    in the tool's own naming; None when it points at nothing the tool takes (then the hint stays general)."""
    for item in exc.errors or []:
        source = item.source
        if source is None:
            continue
        field = (source.pointer or "").strip("/").split("/")[0] or (source.parameter or "")
        if field:
            name = _ARGUMENT_FOR_FIELD.get(field, _snake_case(field))
            return name if name in argument_names else None
    return None


def _snake_case(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _bad_request_hint(spec: ToolSpec, arguments: Mapping[str, Any], argument: str | None) -> str:
    if argument is not None:
        return f"Qlik points at the argument {argument}: set or correct it as the message says, then call again"
    return spec.hint("bad_request", arguments) or "read the message, correct the arguments and call again"


def _is_lost_write_answer(exc: api_errors.QdiApiError) -> bool:
    if isinstance(exc, api_errors.OutcomeUnknownError):
        return True
    # A 2xx answer to a write that cannot be read: the change was accepted, but what it returned (an action id,
    # the new object) is lost, so repeating the call could do it twice.
    return (
        isinstance(exc, api_errors.ResponseFormatError)
        and not isinstance(exc, api_errors.ResponseTooLargeError)
        and exc.method is not None
        and not is_idempotent(exc.method)
    )


# For a write whose answer was lost and whose spec names no better check.
_CHECK_OUTCOME_HINT = (
    "the action id (if any) was lost: call qdi_get_project_status (or qdi_get_task_state for each task) to see "
    "whether it runs before trying again (qdi_get_action if you have an action id)"
)
