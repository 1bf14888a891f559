"""A 2xx whose body cannot be decoded was received by the service: a write then has an unknown outcome (never
retried, never "unreachable, retry"), and a read is retried."""

from __future__ import annotations

import httpx
import pytest

from qdi_mcp.api import ApiKeyAuth, OutcomeUnknownError, QlikClient
from qdi_mcp.clock import ManualClock

pytestmark = pytest.mark.anyio


def garbled(request: httpx.Request) -> httpx.Response:
    garbled.calls.append(request.method)  # type: ignore[attr-defined]
    return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip at all")


async def test_an_undecodable_answer_to_a_write_is_an_unknown_outcome_sent_once() -> None:
    garbled.calls = []  # type: ignore[attr-defined]
    client = QlikClient(
        "https://acme.eu.qlikcloud.com",
        auth=ApiKeyAuth("k" * 20),
        transport=httpx.MockTransport(garbled),
        clock=ManualClock(),
    )
    async with client:
        with pytest.raises(OutcomeUnknownError):
            await client.prepare_project("p1")
    assert garbled.calls == ["POST"]  # type: ignore[attr-defined]


async def test_an_undecodable_answer_to_a_read_is_retried() -> None:
    garbled.calls = []  # type: ignore[attr-defined]
    client = QlikClient(
        "https://acme.eu.qlikcloud.com",
        auth=ApiKeyAuth("k" * 20),
        transport=httpx.MockTransport(garbled),
        clock=ManualClock(),
    )
    async with client:
        with pytest.raises(Exception):  # noqa: B017 - the kind of final error matters less than the retries
            await client.get_project("p1")
    assert len(garbled.calls) > 1  # type: ignore[attr-defined]
