"""POSTs that change nothing (export, validate) are retried like reads; POSTs that change the tenant are not."""

from __future__ import annotations

import httpx
import pytest

from qdi_mcp.api import ApiKeyAuth, OutcomeUnknownError, QlikClient
from qdi_mcp.clock import ManualClock

pytestmark = pytest.mark.anyio


def flaky_then_ok(body: dict | bytes):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(503, json={"errors": [{"code": "HTTP-503", "title": "Unavailable"}]})
        if isinstance(body, bytes):
            return httpx.Response(200, content=body)
        return httpx.Response(202, json=body)

    return handler, calls


def client_for(handler) -> QlikClient:  # type: ignore[no-untyped-def]
    return QlikClient(
        "https://acme.eu.qlikcloud.com",
        auth=ApiKeyAuth("k" * 20),
        transport=httpx.MockTransport(handler),
        clock=ManualClock(),
    )


async def test_export_is_retried_after_a_503() -> None:
    handler, calls = flaky_then_ok(b"PK\x05\x06" + b"\0" * 18)
    async with client_for(handler) as client:
        data = await client.export_project("p1")
    assert data.startswith(b"PK") and len(calls) == 2


@pytest.mark.parametrize("method", ["validate_project", "validate_task"])
async def test_validate_is_retried_after_a_503(method: str) -> None:
    handler, calls = flaky_then_ok({"actionId": "a1"})
    async with client_for(handler) as client:
        ids = ("p1",) if method == "validate_project" else ("p1", "t1")
        ref = await getattr(client, method)(*ids)
    assert ref.action_id == "a1" and len(calls) == 2


async def test_prepare_is_not_retried_after_a_503_and_its_outcome_is_unknown() -> None:
    handler, calls = flaky_then_ok({"actionId": "a1"})
    async with client_for(handler) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.prepare_project("p1")
    assert len(calls) == 1
