"""httpx limits each phase of a request; a server that trickles its answer byte by byte must still not hold a
request (and the wait around it) past the total limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from qdi_mcp.api import ApiKeyAuth, OutcomeUnknownError, QlikClient, Timeouts
from qdi_mcp.clock import ManualClock

pytestmark = pytest.mark.anyio


class Trickle(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            await anyio.sleep(0.02)  # each byte arrives well within the read timeout
            yield b" "


async def test_a_trickling_answer_to_a_write_ends_at_the_total_limit_as_an_unknown_outcome() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(202, stream=Trickle())

    client = QlikClient(
        "https://acme.eu.qlikcloud.com",
        auth=ApiKeyAuth("k" * 20),
        transport=httpx.MockTransport(handler),
        timeout=Timeouts(total=0.2),
        clock=ManualClock(),
    )
    async with client:
        with anyio.fail_after(10), pytest.raises(OutcomeUnknownError):
            await client.prepare_project("p1")
    assert calls == ["POST"]
