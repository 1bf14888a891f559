"""Export streams a bounded ZIP download; import uploads a ZIP as the multipart field `zip`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from qdi_data import FIXTURE_ZIP
from qdi_testkit import respx_client

from qdi_mcp.api import QlikClient, ResponseTooLargeError

TENANT = "https://acme.eu.qlikcloud.com"
EXPORT = "/api/v1/di-projects/p1/actions/export"
IMPORT = "/api/v1/di-projects/p1/actions/import"
MIB = 1024 * 1024


class CountingStream(httpx.AsyncByteStream):
    """A body of `chunks` MiB without Content-Length that counts how much of it was read."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.yielded = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.yielded += 1
            yield b"x" * MIB


def make_client(router: respx.MockRouter, max_export_bytes: int = 100 * MIB) -> QlikClient:
    return respx_client(router, tenant=TENANT, max_export_bytes=max_export_bytes)


@pytest.mark.anyio
async def test_export_posts_options_and_returns_the_zip_bytes() -> None:
    zip_bytes = FIXTURE_ZIP.read_bytes()
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(EXPORT).mock(
        return_value=httpx.Response(200, content=zip_bytes, headers={"Content-Type": "application/octet-stream"})
    )

    async with make_client(router) as client:
        exported = await client.export_project("p1")

    assert exported == zip_bytes
    request = route.calls.last.request
    assert request.headers["Accept"] == "application/octet-stream"
    assert json.loads(request.content) == {"mode": "MINIMAL", "includeBindings": False}


@pytest.mark.anyio
async def test_export_stops_reading_past_max_export_bytes() -> None:
    stream = CountingStream(chunks=50)
    router = respx.MockRouter(base_url=TENANT)
    router.post(EXPORT).mock(return_value=httpx.Response(200, stream=stream))

    async with make_client(router, max_export_bytes=int(2.5 * MIB)) as client:
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.export_project("p1")

    assert "max_export_bytes" in str(caught.value) and "'p1'" in str(caught.value)
    assert stream.yielded <= 4  # stopped soon after the limit, not after all 50 MiB


@pytest.mark.anyio
async def test_export_refuses_declared_oversized_body_without_reading_it() -> None:
    stream = CountingStream(chunks=5)
    router = respx.MockRouter(base_url=TENANT)
    router.post(EXPORT).mock(return_value=httpx.Response(200, stream=stream, headers={"Content-Length": str(5 * MIB)}))

    async with make_client(router, max_export_bytes=MIB) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.export_project("p1")

    assert stream.yielded == 0


@pytest.mark.anyio
async def test_export_of_exactly_the_limit_succeeds() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post(EXPORT).mock(return_value=httpx.Response(200, stream=CountingStream(chunks=2)))

    async with make_client(router, max_export_bytes=2 * MIB) as client:
        exported = await client.export_project("p1")

    assert len(exported) == 2 * MIB


@pytest.mark.anyio
async def test_export_refuses_unknown_mode_before_sending() -> None:
    router = respx.MockRouter(base_url=TENANT, assert_all_called=False)
    route = router.post(EXPORT).mock(return_value=httpx.Response(200, content=b"zip"))

    async with make_client(router) as client:
        with pytest.raises(ValueError, match="mode"):
            await client.export_project("p1", mode="EVERYTHING")

    assert route.call_count == 0


@pytest.mark.anyio
async def test_import_uploads_real_export_as_zip_field() -> None:
    zip_bytes = FIXTURE_ZIP.read_bytes()
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(IMPORT).mock(return_value=httpx.Response(200, json={}))

    async with make_client(router) as client:
        result = await client.import_project("p1", zip_bytes)

    assert result == {}
    request = route.calls.last.request
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = [part for part in request.content.split(b"--" + boundary) if part.strip(b"-\r\n")]
    assert len(parts) == 1
    head, _, payload = parts[0].partition(b"\r\n\r\n")
    assert b'Content-Disposition: form-data; name="zip"; filename="project.zip"' in head
    assert b"Content-Type: application/zip" in head
    assert payload.removesuffix(b"\r\n") == zip_bytes


@pytest.mark.anyio
async def test_import_with_empty_body_answer_returns_empty_dict() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post(IMPORT).mock(return_value=httpx.Response(200))

    async with make_client(router) as client:
        assert await client.import_project("p1", b"PK\x03\x04") == {}


@pytest.mark.anyio
async def test_import_refuses_empty_zip_before_sending() -> None:
    router = respx.MockRouter(base_url=TENANT, assert_all_called=False)
    route = router.post(IMPORT).mock(return_value=httpx.Response(200, json={}))

    async with make_client(router) as client:
        with pytest.raises(ValueError, match="zip_bytes"):
            await client.import_project("p1", b"")

    assert route.call_count == 0
