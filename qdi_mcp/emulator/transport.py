"""In-process transport: httpx talks to the emulator app directly, and network faults become the httpx
exceptions a real network would raise (without sleeping).

    refuse  -> httpx.ConnectError         (the request never reached the service)
    drop    -> httpx.RemoteProtocolError  (the connection broke mid-response)
    timeout -> httpx.ReadTimeout          (also a `delay` at least as long as the request's read timeout)
"""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp

from .gateway import IN_PROCESS, InProcessExchange, TransportFault


class EmulatorTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app, client=("127.0.0.1", 50123))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        token = IN_PROCESS.set(InProcessExchange(read_timeout=timeouts.get("read")))
        try:
            return await self._inner.handle_async_request(request)
        except TransportFault as fault:
            raise _network_error(fault.kind, request) from None
        finally:
            IN_PROCESS.reset(token)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _network_error(kind: str, request: httpx.Request) -> httpx.TransportError:
    if kind == "refuse":
        return httpx.ConnectError("[Errno 111] Connection refused", request=request)
    if kind == "drop":
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body (incomplete chunked read)",
            request=request,
        )
    return httpx.ReadTimeout("The read operation timed out", request=request)
