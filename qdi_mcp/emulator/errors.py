"""Qlik's error envelope, used for every error the emulator returns.

    {"errors": [{"code": "HTTP-404", "title": "Not Found", "detail": "...", "status": 404,
                 "source": {"pointer": "/name"}}],
     "traceId": "..."}

Handlers raise `ApiError`; the app turns it (and routing errors, and unexpected failures) into the envelope.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

TRACE_HEADER = "X-Trace-Id"


class ApiError(Exception):
    """An error response: status, a detail naming what was wrong, and optionally where (`source`)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        pointer: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.title = title or status_title(status)
        self.status = status
        self.detail = detail
        self.code = code or f"HTTP-{status}"
        self.pointer = pointer
        self.parameter = parameter
        self.headers = headers or {}

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "status": self.status,
        }
        source = {k: v for k, v in (("pointer", self.pointer), ("parameter", self.parameter)) if v is not None}
        if source:
            item["source"] = source
        return item


def bad_request(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    return ApiError(400, detail, pointer=pointer, parameter=parameter)


def not_found(detail: str, *, parameter: str | None = None) -> ApiError:
    return ApiError(404, detail, parameter=parameter)


def status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def envelope(error: ApiError, trace_id: str) -> dict[str, Any]:
    return {"errors": [error.item()], "traceId": trace_id}


def error_response(error: ApiError, trace_id: str) -> JSONResponse:
    headers = {**error.headers, TRACE_HEADER: trace_id}
    return JSONResponse(envelope(error, trace_id), status_code=error.status, headers=headers)
