"""Errors raised by the Qlik API client.

    QdiApiError                   base: status, errors, trace_id, method, path, retryable
    ├── ApiStatusError            the service answered with an error status (also an unfollowed 3xx)
    │   ├── BadRequestError       400
    │   ├── AuthError             401, 403, and failures of the OAuth token endpoint
    │   ├── NotFoundError         404
    │   ├── ConflictError         409
    │   ├── GoneError             410 (a run's dataset state purged by retention)
    │   ├── RateLimitedError      429 (retry_after: seconds the service asked us to wait, if it said)
    │   └── ServerError           5xx on a read
    ├── TransportError            no usable answer: connection refused or reset, timeouts
    ├── OutcomeUnknownError       a write may or may not have been applied (timeout, reset, 5xx)
    ├── InvalidParameterError     an argument refused before any request was sent (also a ValueError)
    └── ResponseFormatError       a 2xx answer whose body is not what the API reference promises
        └── ResponseTooLargeError the body passed the client's size limit; reading stopped

Errors carry the request's method and path (never the host, query string or headers), so neither
`str()` nor `repr()` can leak credentials.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError

from .models import ErrorEnvelope, ErrorItem

EXCERPT_CHARS = 200
# statuses worth a later retry: the service said "not now" rather than "never"
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class QdiApiError(Exception):
    """Base of every error raised by the API client."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Sequence[ErrorItem] = (),
        trace_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors: list[ErrorItem] = list(errors)
        self.trace_id = trace_id
        self.method = method
        self.path = path
        self.retryable = retryable

    @property
    def code(self) -> str | None:
        """The first error code in Qlik's envelope (e.g. "HTTP-404"), if it sent one."""
        return next((item.code for item in self.errors if item.code), None)

    @property
    def detail(self) -> str | None:
        """The first human-readable explanation in Qlik's envelope, if it sent one."""
        return next((item.detail or item.title for item in self.errors if item.detail or item.title), None)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, method={self.method!r}, "
            f"path={self.path!r}, trace_id={self.trace_id!r}, retryable={self.retryable!r})"
        )


class ApiStatusError(QdiApiError):
    """The service answered with a status that is not a success.

    `after_retry` is set when this answered a repeat of a write, which the client only repeats after a 429: the
    first attempt may have been carried out after all (a gateway that answers 429 after forwarding), and a
    refusal of the repeat (the name is taken, the task already runs) may be about that first attempt's result."""

    after_retry: bool = False


class BadRequestError(ApiStatusError):
    """400: the service refused the request as invalid."""


class AuthError(ApiStatusError):
    """401/403, or the OAuth token endpoint refused the client credentials."""


class NotFoundError(ApiStatusError):
    """404: no such project, task, or action (or no access to it)."""


class ConflictError(ApiStatusError):
    """409: the request conflicts with the current state (e.g. the task is already running)."""


class GoneError(ApiStatusError):
    """410: the object existed but is gone for good (a run's dataset state purged by Qlik's retention policy)."""


class RateLimitedError(ApiStatusError):
    """429: too many requests; `retry_after` is how long the service asked us to wait, if it said."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        errors: Sequence[ErrorItem] = (),
        trace_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(
            message,
            status=status,
            errors=errors,
            trace_id=trace_id,
            method=method,
            path=path,
            retryable=retryable,
        )
        self.retry_after = retry_after


class ServerError(ApiStatusError):
    """5xx on a request that is safe to repeat."""


class TransportError(QdiApiError):
    """The request got no usable answer: connection failures and timeouts.

    `cause` says why in a person's words (refused, DNS, TLS, timeout; see `retry.transport_failure_cause`) and
    `tenant` is the origin that could not be reached: both for the tool's message, outside `str()` and `repr()`
    (which stay free of hosts)."""

    def __init__(self, message: str, *, cause: str | None = None, tenant: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.cause = cause
        self.tenant = tenant


class OutcomeUnknownError(QdiApiError):
    """A write was sent but its result is unknown; check the current state before trying again."""


class InvalidParameterError(QdiApiError, ValueError):
    """An argument the client refuses before sending anything (e.g. an empty id); `parameter` names it.

    A ValueError too, so callers that validate their own input can catch it as one.
    """

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class ResponseFormatError(QdiApiError):
    """A successful answer whose body is not what the API reference describes."""


class ResponseTooLargeError(ResponseFormatError):
    """The answer grew past the client's size limit, so reading stopped."""


_STATUS_CLASSES: dict[int, type[ApiStatusError]] = {
    400: BadRequestError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    429: RateLimitedError,
}


def status_error_class(status: int) -> type[ApiStatusError]:
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, ApiStatusError)


def status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def format_message(method: str, path: str, status: int | None, explanation: str | None, trace_id: str | None) -> str:
    """Format like `GET /api/v1/di-projects/p1 → 404 Not Found: <explanation> (traceId abc)`."""
    message = f"{method} {path}"
    if status is not None:
        message += f" → {status_text(status)}"
    if explanation:
        message += f": {explanation}"
    if trace_id:
        message += f" (traceId {trace_id})"
    return message


_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_BEARER = re.compile(r"(bearer)\s+[^\s\"',;]+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def sanitised_excerpt(body: bytes, *, redact: Callable[[str], str] = lambda text: text) -> str:
    """A short, tag-free, single-line excerpt of a non-JSON body (an HTML error page, a proxy's text)."""
    text = body[: EXCERPT_CHARS * 50].decode("utf-8", errors="replace")
    text = _SCRIPT_OR_STYLE.sub(" ", text)
    text = html.unescape(_TAG.sub(" ", text))
    text = _BEARER.sub(r"\1 [redacted]", text)
    text = redact(_WHITESPACE.sub(" ", text).strip())
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1].rstrip() + "…"
    return text


def parse_error_envelope(body: bytes) -> ErrorEnvelope | None:
    """Qlik's `{"errors": [...], "traceId": ...}` envelope, or None when the body is something else."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("errors", []), list):
        return None
    document = dict(document)
    # one malformed item must not hide the others
    document["errors"] = [item for item in document.get("errors", []) if isinstance(item, dict)]
    try:
        return ErrorEnvelope.model_validate(document)
    except ValidationError:
        return None


def redact_items(items: Sequence[ErrorItem], redact: Callable[[str], str]) -> list[ErrorItem]:
    """The envelope's items with secrets scrubbed from their text: a proxy or a buggy service may echo the
    Authorization header or a client secret back in an error, and these texts reach agents and logs."""
    scrubbed: list[ErrorItem] = []
    for item in items:
        changes = {
            name: redact(value) for name in ("code", "title", "detail") if isinstance(value := getattr(item, name), str)
        }
        scrubbed.append(item.model_copy(update=changes))
    return scrubbed


def error_from_response(
    *,
    method: str,
    path: str,
    status: int,
    body: bytes,
    retry_after: float | None = None,
    redact: Callable[[str], str] = lambda text: text,
    outcome_unknown: bool = False,
    retried_write: bool = False,
) -> QdiApiError:
    """Map an error answer to the exception a caller can act on."""
    envelope = parse_error_envelope(body)
    errors = redact_items(envelope.errors, redact) if envelope else []
    trace_id = envelope.trace_id if envelope else None
    explanation = next((item.detail or item.title for item in errors if item.detail or item.title), None)
    if explanation is None and envelope is None and body.strip():
        explanation = sanitised_excerpt(body, redact=redact)
    if 300 <= status < 400:
        explanation = "redirects are not followed; check the tenant URL" + (f" ({explanation})" if explanation else "")
    explanation = redact(explanation) if explanation else None
    message = format_message(method, path, status, explanation, trace_id)
    if outcome_unknown:
        return OutcomeUnknownError(
            message + "; the outcome is unknown: the change may or may not have been applied, "
            "check the current state before retrying",
            status=status,
            errors=errors,
            trace_id=trace_id,
            method=method,
            path=path,
            retryable=False,
        )
    if status == 429:
        return RateLimitedError(
            message,
            retry_after=retry_after,
            errors=errors,
            trace_id=trace_id,
            method=method,
            path=path,
        )
    error = status_error_class(status)(
        message,
        status=status,
        errors=errors,
        trace_id=trace_id,
        method=method,
        path=path,
        retryable=status in _RETRYABLE_STATUSES,
    )
    if isinstance(error, ApiStatusError):
        error.after_retry = retried_write
    return error
