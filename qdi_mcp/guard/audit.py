"""Append-only JSON-lines audit log of write and destructive tool calls, secrets redacted.

Lines of one tool call share its ``call_id``. A write writes two: the intent (``outcome: "started"``), written
before any request is sent (when it cannot be written nothing is sent), and the outcome after::

    {"time": "2025-01-31T12:00:00.000Z", "call_id": "5f0c...", "tool": "qdi_stop_task", "safety": "destructive",
     "arguments": {...redacted...}, "outcome": "started", "confirmed_by": "token",
     "client": "claude-code 2.1.0", "tenant": "acme.eu.qlikcloud.com", "trace_id": null, "final_state": null,
     "detail": null}
    {"time": "2025-01-31T12:00:00.400Z", "call_id": "5f0c...", ..., "outcome": "executed",
     "trace_id": "9f2c...", ...}

A ``started`` line without a matching outcome is a call whose end is unknown (the process died, or the outcome
line could not be written): check the tenant. Refusals, previews and confirmation questions are single lines.

Every argument is logged at most ``MAX_ARGUMENT_CHARS`` characters of JSON: a longer one is replaced by
``{"cut": <its first characters>, "sha256": <digest of its whole JSON>, "length": <chars>, "cut_chars": <chars
left out>}``, so a call with megabytes of arguments still writes a line of a few kilobytes, and the digest tells
whether two calls carried the same value.

``tenant`` is the host of the tenant the server talks to (``demo`` for the embedded emulator), on every line: one
log file may hold the lines of several tenants. ``trace_id`` is Qlik's trace id of the request that changed
something (or of the failed request), for Qlik support, when Qlik sends one: error envelopes carry ``traceId``; for a
successful request the reference names no header, so it is read from ``X-Trace-Id`` or ``traceparent`` if present
(``api/traces.py``) and is null otherwise. ``final_state`` is the state a wait ended in (an action's
``FAILED``, a task run's ``RUNNING``; null for calls that do not wait): a call that ran and waited is ``executed``
even when the action it started failed, and this field and the ``detail`` say so.

``client`` is the MCP client as it names itself (the handshake's or the request's clientInfo): which host or
runbook made the call. It is what the client says, not an authenticated identity.

Each line goes to the file in a single ``os.write`` on a descriptor opened with ``O_APPEND``, under a lock,
so lines from threads, asyncio tasks and even other processes never interleave. The file is reopened for
every line so that log rotation (rename + new file) needs no signal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from qdi_mcp.guard.redact import Redactor

if TYPE_CHECKING:
    from qdi_mcp.api import QlikClient
    from qdi_mcp.settings import Settings

logger = logging.getLogger("qdi_mcp.audit")

__all__ = [
    "CONFIRMED_BY",
    "MAX_ARGUMENT_CHARS",
    "OUTCOMES",
    "AuditLog",
    "AuditLogError",
    "audit_tenant",
    "current_call",
    "current_client",
    "wait_outcome",
]

OUTCOMES = frozenset(
    {
        "started",  # the intent line of a write, written before its request is sent
        "executed",
        "confirmation_required",  # a preview and a token went back; nothing ran
        "confirmation_asked",  # the question went to the person (mid-call, or in a 2026 result); nothing ran yet
        "confirmed",  # the person answered yes; the write's own lines follow
        "confirmation_timed_out",  # no answer within QDI_MCP_CONFIRM_TIMEOUT; nothing ran
        "refused",
        "declined",
        "failed",
        "outcome_unknown",
        "cancelled",  # the client cancelled the call; `detail` says what had started and how to follow it
        "step",  # one step of a multi-step write (a promotion) ended; `detail` is "<step>: <outcome>[ - detail]"
        "not_needed",  # the call's precondition answered it (a stop of a task not running): nothing asked or sent
    }
)
CONFIRMED_BY = frozenset({"elicitation", "token", "policy:never"})
_MAX_DETAIL_CHARS = 2000
_MAX_CLIENT_CHARS = 120
# Per argument, as JSON: ids, names and lists of a few dozen ids fit whole; junk and 50,000-id lists do not.
MAX_ARGUMENT_CHARS = 1000
_KEPT_CHARS = 200  # the start of a cut argument, to see what it was
_MAX_ARGUMENTS = 50  # argument names per line (unknown tools' arguments are not checked against a schema)
_MAX_NAME_CHARS = 200  # tool and argument names

# Set by the server for the duration of one tool call, so every line that call writes (from the server, the
# confirmation gate or a handler) names the client without threading it through each of them.
current_client: ContextVar[str | None] = ContextVar("qdi_mcp_audit_client", default=None)
# The same for the call's id, which joins a write's intent line to its outcome line.
current_call: ContextVar[str | None] = ContextVar("qdi_mcp_audit_call", default=None)


class AuditLogError(OSError):
    """The audit line could not be written (the message names the file and the OS error)."""


class AuditLog:
    """JSON-lines audit log; ``path=None`` keeps the most recent records in memory only."""

    def __init__(
        self,
        path: Path | None,
        *,
        redactor: Redactor,
        clock: Callable[[], float] = time.time,
        max_memory_records: int = 1000,
        tenant: str | None = None,
    ) -> None:
        self._path = Path(path).expanduser() if path is not None else None
        self._tenant = _bounded(tenant, _MAX_NAME_CHARS) if tenant else None
        self._redactor = redactor
        self._clock = clock
        # Recent records are kept in every mode (bounded), so tests and status views can read them back.
        self._recent: deque[dict[str, Any]] = deque(maxlen=max_memory_records)
        self._lock = threading.Lock()
        self._parent_ready = False

    def __repr__(self) -> str:
        return f"AuditLog(path={str(self._path) if self._path else None!r})"

    @property
    def path(self) -> Path | None:
        return self._path

    def record_or_log(self, **fields: Any) -> bool:
        """`record`, but a failure to write is logged instead of raised: used once the call has happened, when
        raising would turn a done change into an error the agent might retry."""
        try:
            self.record(**fields)
        except AuditLogError as exc:
            logger.error(
                "could not write the audit log (%s); the record was: %s %s",
                exc,
                fields.get("tool"),
                fields.get("outcome"),
            )
            return False
        return True

    @property
    def records(self) -> list[dict[str, Any]]:
        """The most recent records, oldest first (a copy)."""
        with self._lock:
            return list(self._recent)

    def record(
        self,
        *,
        tool: str,
        arguments: Mapping[str, Any] | None,
        outcome: str,
        safety: str,
        trace_id: str | None = None,
        detail: str | None = None,
        confirmed_by: str | None = None,
        backup: Mapping[str, Any] | None = None,
        final_state: str | None = None,
    ) -> dict[str, Any]:
        """Append one line and return the record as written. Raises :class:`AuditLogError` if the file
        cannot be written: a write that is not audited should be noticed, not silently lost.

        ``backup`` (the export taken before a design change: its path and the call that restores it) appears in
        the lines of the call it protects, and only there."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {outcome!r}; use one of {', '.join(sorted(OUTCOMES))}")
        entry: dict[str, Any] = {
            "time": _iso_utc(self._clock()),
            "call_id": current_call.get(),
            "tool": _bounded(tool, _MAX_NAME_CHARS),
            "safety": safety,
            "arguments": _capped_arguments(self._redactor.redact(dict(arguments or {}))),
            "outcome": outcome,
            "confirmed_by": confirmed_by,
            "client": _client_text(current_client.get()),
            "tenant": self._tenant,
            "trace_id": trace_id,
            "final_state": final_state,
            "detail": self._redact_detail(detail),
        }
        if backup is not None:
            entry["backup"] = self._redactor.redact(dict(backup))
        # ensure_ascii: U+2028 and friends stay escaped, so readers that split on any line break agree.
        line = (json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            if self._path is not None:
                self._append(self._path, line)
            self._recent.append(entry)
        return entry

    def _redact_detail(self, detail: str | None) -> str | None:
        if detail is None:
            return None
        text = self._redactor.redact_text(str(detail))
        return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 1] + "…"

    def _append(self, path: Path, line: bytes) -> None:
        try:
            if not self._parent_ready:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._parent_ready = True
            # 0o600: arguments name projects and tasks of the tenant; no reason for other users to read them.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                written = os.write(fd, line)
                while written < len(line):  # regular files rarely write short, but never drop the tail
                    written += os.write(fd, line[written:])
            finally:
                os.close(fd)
        except OSError as error:
            raise AuditLogError(f"cannot append to the audit log {path}: {error.strerror or error}") from error


def audit_tenant(settings: Settings, client: QlikClient | None) -> str | None:
    """What audit lines name as the tenant: `demo` for the embedded emulator, else the tenant's host (one log file
    may collect the lines of the demo and of several tenants)."""
    if settings.demo:
        return "demo"
    url = settings.tenant_url or (client.tenant_url if client is not None else None)
    return urlsplit(url).hostname if url else None


def wait_outcome(structured: dict[str, Any]) -> tuple[str | None, str | None]:
    """The state a wait ended in, and a line saying so (with the reason when it failed or timed out): the
    `final_state` and `detail` of the executed line of a write that waited.

    A wait's result (an action's or a task run's) carries `state` and `timed_out`; a FAILED action is a
    successful call (the tool ran and reports it), so without this its line would read `executed` and nothing
    more. Other results give (None, None)."""
    if "timed_out" not in structured or "state" not in structured:
        return None, None
    state = structured["state"]
    if structured.get("action_id"):
        subject = f"action {structured['action_id']}"
    else:
        subject = "task run" if structured.get("task_id") else "project run"
    if structured["timed_out"]:
        detail = f"wait timed out: {subject} still {state}"
    else:
        detail = f"wait ended: {subject} {state}"
    hint = structured.get("hint")
    # A pipeline run reports its own states in lower case (completed, failed, timed_out).
    if (structured["timed_out"] or str(state).upper() == "FAILED") and hint:
        detail += f": {hint}"
    return (str(state) if state is not None else None), detail


def _iso_utc(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _capped_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Each (already redacted) argument at most MAX_ARGUMENT_CHARS of JSON, and at most _MAX_ARGUMENTS of them."""
    capped: dict[str, Any] = {}
    for index, (name, value) in enumerate(arguments.items()):
        if index == _MAX_ARGUMENTS:
            rest = dict(list(arguments.items())[index:])
            capped["…"] = _cut(json.dumps(rest, ensure_ascii=False, default=str), len(rest))
            break
        text = json.dumps(value, ensure_ascii=False, default=str)
        capped[_bounded(str(name), _MAX_NAME_CHARS)] = value if len(text) <= MAX_ARGUMENT_CHARS else _cut(text)
    return capped


def _cut(text: str, arguments: int | None = None) -> dict[str, Any]:
    cut: dict[str, Any] = {
        "cut": text[:_KEPT_CHARS],
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        "length": len(text),
        "cut_chars": len(text) - _KEPT_CHARS,
    }
    if arguments is not None:
        cut["arguments"] = arguments
    return cut


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _client_text(client: str | None) -> str | None:
    """The client's self-given name, one line and bounded: it comes from the peer, so it is data, not trusted."""
    if not client:
        return None
    flat = " ".join(client.split())
    return flat if len(flat) <= _MAX_CLIENT_CHARS else flat[: _MAX_CLIENT_CHARS - 1] + "…"
