"""Qlik's trace ids of the requests that may have changed the tenant, collected for one tool call.

Qlik answers every request with a trace id (its error envelope's ``traceId``, and a response header on success).
The audit line of a write names the trace id of the request that changed something, so a person can hand Qlik
support the exact request. The session notes the trace id of every accepted change-making request (not reads, not
repeatable POSTs such as export and validate) into the recorder of the current call, set by whoever runs the call
(the server) with `recording_changes`. A recorder is a plain object in a context variable: tasks a handler starts
inherit it, and what they note is seen by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

# The emulator sends `X-Trace-Id` on every answer, mirroring the envelope's `traceId`. Qlik's reference names
# no success header; `traceparent` (W3C trace context, whose second field is the trace id) is read as well.
TRACE_HEADER = "x-trace-id"
W3C_TRACE_HEADER = "traceparent"
_MAX_TRACE_ID_CHARS = 128  # a header is the peer's text: an absurd one is not copied into every audit line


def trace_id_of(headers: httpx.Headers) -> str | None:
    """The trace id a response carries, or None."""
    value = headers.get(TRACE_HEADER)
    if not value:
        parts = (headers.get(W3C_TRACE_HEADER) or "").split("-")
        value = parts[1] if len(parts) >= 3 else None
    value = (value or "").strip()
    if not value or len(value) > _MAX_TRACE_ID_CHARS or not value.isprintable():
        return None
    return value


class ChangeTraces:
    """Trace ids of one call's accepted change-making requests, oldest first; and how many change-making requests
    it sent at all (answered or not): none sent means the call cannot have changed the tenant."""

    def __init__(self) -> None:
        self.trace_ids: list[str] = []
        self.sent = 0

    def note(self, trace_id: str | None) -> None:
        if trace_id:
            self.trace_ids.append(trace_id)

    @property
    def last(self) -> str | None:
        """The trace id of the latest change: the one an audit line written now is about."""
        return self.trace_ids[-1] if self.trace_ids else None


_current: ContextVar[ChangeTraces | None] = ContextVar("qdi_mcp_change_traces", default=None)


@contextmanager
def recording_changes(traces: ChangeTraces) -> Iterator[ChangeTraces]:
    """Note into `traces` the trace ids of change-making requests sent within the block."""
    token = _current.set(traces)
    try:
        yield traces
    finally:
        _current.reset(token)


def note_change_sent() -> None:
    """Called by the session just before a change-making request goes out; a no-op outside `recording_changes`."""
    traces = _current.get()
    if traces is not None:
        traces.sent += 1


def note_change(headers: httpx.Headers) -> None:
    """Called by the session for an accepted change-making request; a no-op outside `recording_changes`."""
    traces = _current.get()
    if traces is not None:
        traces.note(trace_id_of(headers))
