"""Failures an agent can act on: the bottom of the package, importable by every layer.

Every failure a tool call reports is a `ToolFailure`: a stable code, a message, the HTTP status and Qlik traceId
when the service answered, whether retrying can help, and a hint naming the next step. The server turns it into
a tool result with `isError: true`; it never carries a traceback or a secret.
"""

from __future__ import annotations

from typing import Any

from qdi_mcp.tenant_text import plain


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
            "message": plain(self.message),
            "http_status": self.http_status,
            "trace_id": self.trace_id,
            "retryable": self.retryable,
            "hint": plain(self.hint) if self.hint else self.hint,
        }
        if self.field is not None:
            data["field"] = self.field
        return data

    def summary(self) -> str:
        """One line for the text content; tenant text in it stays marked (the fence renders the marks)."""
        text = f"Error [{self.code}]: {self.message}"
        if self.hint:
            text += f" Next step: {self.hint}"
        return text
