"""The emulator's front door: an ASGI layer around the routes that does what Qlik's edge does.

For every HTTP request, in order: fire an injected fault if one matches (see `faults.py`), apply the events
due by now, check the bearer token (401), apply rate limits (429), run the route, and keep the books
(`requests` per operation, `responses` per operation and status, `counters` of executed mutations).

Faults below HTTP (drop, refuse, timeout, and delays longer than the client waits) are realised differently
in process and when served: the in-process transport (`transport.py`) marks the request with an
`InProcessExchange` (a context variable) and turns the `TransportFault` raised here into the httpx exception
a real network would cause, without sleeping. Served by uvicorn, delays really sleep and a dropped or
refused connection is cut mid-response (an HTTP server that accepted a connection cannot refuse it).
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TRACE_HEADER, ApiError, envelope, error_response, status_title
from .faults import TRANSPORT_KINDS, Fault
from .operations import OAUTH_TOKEN, UNKNOWN, match_operation

if TYPE_CHECKING:
    from .emulator import Emulator

SERVED_TIMEOUT_SECONDS = 600.0  # a served "timeout" fault holds the response this long, then drops it
_BROKEN_JSON = b'{"data": [{"id": "6650f0c1a2b3c4d5e6f7'
_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1>"
    "<p>The server encountered a temporary error and could not complete your request.</p></body></html>"
)


@dataclass(frozen=True)
class InProcessExchange:
    read_timeout: float | None


IN_PROCESS: ContextVar[InProcessExchange | None] = ContextVar("qdi_emulator_in_process", default=None)


class TransportFault(Exception):
    """Raised through the in-process transport, which turns it into the matching httpx exception."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"emulated transport fault: {kind}")
        self.kind = kind


def operation_name(method: str, path: str) -> str:
    operation = match_operation(method, path)
    if operation is not None:
        return operation.name
    if path == "/oauth/token":
        return OAUTH_TOKEN
    return UNKNOWN


class Gateway:
    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        operation = operation_name(method, path)
        fault = None if path.startswith("/_emulator/") else self.emulator.faults.take(operation, method, path)
        exchange = IN_PROCESS.get()
        if fault is None or fault.kind != "refuse":  # a refused connection never arrives
            self.emulator.requests[operation] += 1
        if fault is None:
            await self._serve(scope, receive, send, operation)
            return
        if fault.after_execution:
            captured = await self._serve_captured(scope, receive, operation)
            await self._spoil(fault, exchange, scope, send, captured)
            return
        if fault.kind == "delay":
            await self._delay(fault, exchange)
            await self._serve(scope, receive, send, operation)
            return
        await self._spoil(fault, exchange, scope, send, None)

    # --- the real thing ---------------------------------------------------------------------------------
    async def _serve(self, scope: Scope, receive: Receive, send: Send, operation: str) -> None:
        emulator = self.emulator
        trace_id = emulator.tenant.ids.trace_id()
        scope.setdefault("state", {})["trace_id"] = trace_id
        status_seen: list[int] = []

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(message["status"])
                headers = list(message.get("headers", []))
                if not any(name.lower() == TRACE_HEADER.lower().encode() for name, _ in headers):
                    headers.append((TRACE_HEADER.lower().encode(), trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        emulator.tenant.sync()
        refusal = self._gatekeep(scope, operation)
        if refusal is not None:
            await error_response(refusal, trace_id)(scope, receive, send_with_trace)
        else:
            await self.app(scope, receive, send_with_trace)
        status = status_seen[0] if status_seen else 500
        emulator.responses[f"{operation} {status}"] += 1
        if operation in emulator.mutating_operations and 200 <= status < 300:
            emulator.counters[operation] += 1

    def _gatekeep(self, scope: Scope, operation: str) -> ApiError | None:
        path: str = scope["path"]
        if not (path.startswith("/api/") or path.startswith("/_emulator/")):
            return None
        emulator = self.emulator
        now = emulator.tenant.now()
        authorization = _header(scope, b"authorization")
        caller = emulator.auth.caller(authorization, now)
        if caller is None:
            detail = (
                "Missing bearer token: send 'Authorization: Bearer <API key or access token>'."
                if not authorization
                else "The bearer token is not valid (wrong API key, or an expired or unknown access token)."
            )
            return ApiError(401, detail, headers={"WWW-Authenticate": "Bearer"})
        operation_spec = match_operation(scope["method"], path)
        if emulator.rate_limits and operation_spec is not None:
            wait = emulator.limiter.admit(caller, operation_spec.tier, now)
            if wait is not None:
                # Qlik's 429 title and detail, as on qlik.dev's rate-limiting page (stored doc 68622924174)
                return ApiError(
                    429,
                    f"You need to wait {int(wait)} seconds until limit is lifted.",
                    title="API rate limit reached.",
                    headers={"Retry-After": str(int(wait))},
                )
        return None

    async def _serve_captured(self, scope: Scope, receive: Receive, operation: str) -> list[Message]:
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self._serve(scope, receive, capture, operation)
        return messages

    # --- faults -----------------------------------------------------------------------------------------
    async def _delay(self, fault: Fault, exchange: InProcessExchange | None) -> None:
        if exchange is None:
            await anyio.sleep(fault.delay)
        elif exchange.read_timeout is not None and fault.delay >= exchange.read_timeout:
            raise TransportFault("timeout")
        # in process, a delay shorter than the client's patience changes nothing observable: no sleep

    async def _spoil(
        self,
        fault: Fault,
        exchange: InProcessExchange | None,
        scope: Scope,
        send: Send,
        captured: list[Message] | None,
    ) -> None:
        self.emulator.responses[f"fault {fault.kind}"] += 1
        if fault.kind == "delay":
            await self._delay(fault, exchange)
            for message in captured or []:
                await send(message)
            return
        if fault.kind in TRANSPORT_KINDS:
            if exchange is not None:
                raise TransportFault(fault.kind)
            if fault.kind == "timeout":
                await anyio.sleep(fault.delay or SERVED_TIMEOUT_SECONDS)
            await _cut_connection(send, captured)
            return
        await _faulty_response(fault, send, self.emulator.tenant.ids.trace_id())


async def _faulty_response(fault: Fault, send: Send, trace_id: str) -> None:
    status = fault.status or 500
    headers: list[tuple[bytes, bytes]] = []
    if fault.retry_after is not None:
        retry_after = fault.retry_after
        text = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        headers.append((b"retry-after", text.encode()))
    if fault.kind == "invalid_json":
        status, body, content_type = 200, _BROKEN_JSON, b"application/json"
    elif fault.kind == "html":
        phrase = status_title(status)
        body = _HTML_PAGE.format(status=status, phrase=phrase).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        error = ApiError(status, f"{status_title(status)} (fault injected by the emulator).")
        body = json.dumps(envelope(error, trace_id)).encode()
        content_type = b"application/json"
    headers += [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (TRACE_HEADER.lower().encode(), trace_id.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _cut_connection(send: Send, captured: list[Message] | None) -> None:
    """Start a response, send part of its body, and break off: the client sees a reset mid-body."""
    start = next((m for m in captured or [] if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in captured or [] if m["type"] == "http.response.body")
    if start is None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
        body = b'{"dropped": "this response never completes"}'
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body) + 1024).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
    # Returning with the body incomplete makes the server close the connection: the client sees a reset.


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
