"""Serving the MCP server over stdio or streamable HTTP.

HTTP is hardened by default: it binds to loopback; binding anywhere else needs `allow_remote` AND a bearer
token (compared in constant time); Host and Origin headers are checked against DNS rebinding; request bodies
are size-capped by the SDK's transport.

The listening socket is bound before the server starts (`bind_socket`), so a busy port fails at once with a
clear message, `--port 0` picks a free port, and the "serving at <url>" line is only logged once the port
accepts connections (scripts and tests can wait for that line instead of polling the port).
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import socket
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from qdi_mcp.settings.declared import HTTP_MAX_SESSIONS, HTTP_SESSION_IDLE_SECONDS, ON_WINDOWS

logger = logging.getLogger("qdi_mcp.server.transports")

MAX_REQUEST_BODY_BYTES = 1024 * 1024
LOOPBACK_NAMES = ("localhost",)
_BIND_HINTS = {
    errno.EADDRINUSE: "; another program uses this port: choose another --port",
    errno.EADDRNOTAVAIL: "; --host must be an address of this machine",
    errno.EACCES: "; ports below 1024 need privileges: choose a port above 1024",
}


class TransportConfigError(ValueError):
    """The HTTP transport was asked for something unsafe; the message says what to change."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: any free port), or TransportConfigError saying why not."""
    if not 0 <= port <= 65535:
        raise TransportConfigError(f"port {port} is out of range: use 1-65535 (or 0 for any free port)")
    bare_host = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare_host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on connections whose socket says
    # TCP, and accepted connections inherit this socket's protocol. With Nagle on, a response written as headers
    # then body waits for the client's delayed ACK: about 40 ms a call on the 2026-07-28 protocol.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        _claim_port(sock)
        sock.bind((bare_host, port))
        # Listen now, so clients that connect before the event loop serves are queued, not refused.
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        hint = _BIND_HINTS.get(exc.errno or 0, "")
        raise TransportConfigError(f"cannot listen on {url_host(host)}:{port}: {reason}{hint}") from None
    sock.set_inheritable(True)
    return sock


def _claim_port(sock: socket.socket) -> None:
    if ON_WINDOWS:
        # Windows' SO_REUSEADDR would let another process bind this very port and take our clients' requests (and
        # their bearer tokens); exclusive use is its safe setting, and asyncio's default there too.
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        return
    # POSIX, like uvicorn: a restarted server can rebind while old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def url_host(host: str) -> str:
    bare_host = host.strip("[]")
    return f"[{bare_host}]" if ":" in bare_host else bare_host


HTTP_TOKEN_VARIABLE = "QDI_MCP_HTTP_TOKEN"  # noqa: S105 - the name of a variable, not a token


def check_bind(host: str, *, allow_remote: bool, token: str | None, token_set_by: str = HTTP_TOKEN_VARIABLE) -> None:
    """`token_set_by` names what set the token (`--http-token` or the variable), so a complaint points there."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise TransportConfigError(
            f"refusing to listen on {host}: only loopback is allowed without --allow-remote "
            "(and a non-loopback bind also needs a token: QDI_MCP_HTTP_TOKEN)"
        )
    if not token:
        raise TransportConfigError(
            f"refusing to listen on {host} without a bearer token: set QDI_MCP_HTTP_TOKEN (or --http-token)"
        )
    if len(token) < 16:
        raise TransportConfigError(f"{token_set_by} is too short: use at least 16 random characters")


class BearerTokenMiddleware:
    """Rejects requests without `Authorization: Bearer <token>`; the comparison takes constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            supplied = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self._expected):
                response = JSONResponse(
                    {"error": "unauthorized", "detail": "send Authorization: Bearer <QDI_MCP_HTTP_TOKEN>"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_http_app(
    server: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    allowed_origins: list[str] | None = None,
    json_response: bool = False,
    max_sessions: int = HTTP_MAX_SESSIONS,
    session_idle_seconds: float = HTTP_SESSION_IDLE_SECONDS,
) -> ASGIApp:
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"]
    if not is_loopback(host):
        hosts.append(f"{host}:{port}")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts + list(allowed_hosts or []),
        allowed_origins=origins + list(allowed_origins or []),
    )
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=security,
        host=host,
        json_response=json_response,
        max_request_body_size=MAX_REQUEST_BODY_BYTES,
        # Bounded, so clients that never close their sessions cannot grow the server's memory without limit.
        max_sessions=max_sessions,
        session_idle_timeout=session_idle_seconds,
    )
    if token:
        app = BearerTokenMiddleware(app, token)
    return app


async def run_stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def run_http(
    server: Any,
    *,
    host: str,
    port: int,
    token: str | None,
    allow_remote: bool,
    sock: socket.socket | None = None,
    allowed_hosts: list[str] | None = None,
    allowed_origins: list[str] | None = None,
    max_sessions: int = HTTP_MAX_SESSIONS,
    session_idle_seconds: float = HTTP_SESSION_IDLE_SECONDS,
) -> None:
    """Serve until cancelled. Pass `sock` (from `bind_socket`) to bind before the event loop starts."""
    import uvicorn

    check_bind(host, allow_remote=allow_remote, token=token)
    if sock is None:
        sock = bind_socket(host, port)
    port = sock.getsockname()[1]  # the real port when 0 asked for any free one
    app = build_http_app(
        server,
        host=host,
        port=port,
        token=token,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        max_sessions=max_sessions,
        session_idle_seconds=session_idle_seconds,
    )
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    logger.info("serving MCP over streamable HTTP at http://%s:%d/mcp", url_host(host), port)
    await uvicorn.Server(config).serve(sockets=[sock])
