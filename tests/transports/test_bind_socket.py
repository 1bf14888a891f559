"""The listening socket `qdi-mcp serve --transport http` (and `qdi-mcp emulator`) hand to uvicorn.

uvicorn serves a pre-bound socket with asyncio's `create_server(sock=...)`; asyncio disables Nagle's algorithm
on an accepted connection only when its socket says IPPROTO_TCP. A socket made with the default protocol 0 kept
Nagle on, and every 2026-07-28 call over HTTP waited ~40 ms for the client's delayed ACK. These tests check the
option on the accepted connections themselves, which is what the latency depends on, not a clock.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from qdi_mcp.server.transports import TransportConfigError, bind_socket

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the loop uvicorn runs on, whose create_server sets the option


async def _nodelay_of_an_accepted_connection(host: str) -> int:
    listener = bind_socket(host, 0)
    port = listener.getsockname()[1]
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    try:
        _, writer = await asyncio.open_connection(host.strip("[]"), port)
        try:
            return await asyncio.wait_for(accepted, timeout=10)
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_connections_accepted_on_the_bound_socket_have_nagle_off() -> None:
    assert await _nodelay_of_an_accepted_connection("127.0.0.1") != 0


async def test_ipv6_loopback_connections_have_nagle_off_too() -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 support at all; the test needs ::1")
    try:
        nodelay = await _nodelay_of_an_accepted_connection("[::1]")
    except TransportConfigError as exc:  # a kernel with IPv6 disabled: nothing to check, say so plainly
        assert "cannot listen on [::1]" in str(exc)
        return
    assert nodelay != 0


def test_the_bound_socket_is_a_listening_tcp_socket_on_the_asked_host() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    finally:
        sock.close()
