"""import-async and validate-project-definitions against Qlik's documented answers (qlik.dev di-projects reference,
stored doc 68598814407): 202 `{actionId}`, 200 `{reports}`, and the error statuses each one lists."""

from __future__ import annotations

import httpx
import pytest
import respx
from qdi_data import FIXTURE_ZIP
from qdi_testkit import respx_client

from qdi_mcp.api import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    QlikClient,
    ServerError,
)

TENANT = "https://acme.eu.qlikcloud.com"
IMPORT_ASYNC = "/api/v1/di-projects/p1/actions/import-async"
VALIDATE = "/api/v1/di-projects/utils/actions/validate-project-definitions"


def make_client(router: respx.MockRouter) -> QlikClient:
    return respx_client(router, tenant=TENANT)


def envelope(status: int, title: str) -> httpx.Response:
    body = {"errors": [{"code": f"HTTP-{status}", "title": title, "detail": "d", "status": status}], "traceId": "t-9"}
    return httpx.Response(status, json=body)


@pytest.mark.anyio
async def test_import_async_uploads_the_zip_field_and_reads_the_documented_202() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(IMPORT_ASYNC).mock(return_value=httpx.Response(202, json={"actionId": "action-123456"}))
    async with make_client(router) as client:
        ref = await client.import_project_async("p1", FIXTURE_ZIP.read_bytes(), filename="churn.zip")
    assert ref.action_id == "action-123456"
    request = route.calls.last.request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="zip"; filename="churn.zip"' in request.content


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "title", "error"),
    [(400, "Bad Request", BadRequestError), (404, "Not Found", NotFoundError), (409, "Conflict", ConflictError)],
)
async def test_import_async_errors_carry_status_and_trace_id(status: int, title: str, error: type) -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(IMPORT_ASYNC).mock(return_value=envelope(status, title))
    async with make_client(router) as client:
        with pytest.raises(error) as caught:
            await client.import_project_async("p1", b"PK\x03\x04zip")
    assert (caught.value.status, caught.value.trace_id) == (status, "t-9")
    assert route.call_count == 1  # an import is never sent twice on its own


@pytest.mark.anyio
async def test_import_async_500_is_an_unknown_outcome_not_a_retry() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.post(IMPORT_ASYNC).mock(return_value=envelope(500, "Internal Server Error"))
    async with make_client(router) as client:
        with pytest.raises((OutcomeUnknownError, ServerError)) as caught:
            await client.import_project_async("p1", b"PK\x03\x04zip")
    assert caught.value.status == 500
    assert route.call_count == 1


@pytest.mark.anyio
async def test_validate_project_definitions_reads_the_documented_reports() -> None:
    router = respx.MockRouter(base_url=TENANT)
    example = {
        "reports": [
            {"level": "ERROR", "path": "qtcp_tasks/task-1/task.yaml", "reason": "Property 'settings' is missing."}
        ]
    }
    router.post(VALIDATE).mock(return_value=httpx.Response(200, json=example))
    async with make_client(router) as client:
        reports = await client.validate_project_definitions(FIXTURE_ZIP.read_bytes())
    assert [(r.path, r.level, r.reason) for r in reports] == [
        ("qtcp_tasks/task-1/task.yaml", "ERROR", "Property 'settings' is missing.")
    ]


@pytest.mark.anyio
async def test_validate_project_definitions_no_findings_is_an_empty_list() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post(VALIDATE).mock(return_value=httpx.Response(200, json={"reports": []}))
    async with make_client(router) as client:
        assert await client.validate_project_definitions(b"PK\x03\x04zip") == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "title", "error"),
    [
        (400, "Bad Request", BadRequestError),
        (404, "Not Found", NotFoundError),
        (500, "Internal Server Error", ServerError),
    ],
)
async def test_validate_project_definitions_errors(status: int, title: str, error: type) -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post(VALIDATE).mock(return_value=envelope(status, title))
    async with make_client(router) as client:
        with pytest.raises(error) as caught:
            await client.validate_project_definitions(b"PK\x03\x04zip")
    assert caught.value.status == status


@pytest.mark.anyio
@pytest.mark.parametrize("bad", [b"", "text"])
async def test_an_empty_or_non_bytes_zip_is_refused_before_any_request(bad: object) -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.route().mock(return_value=httpx.Response(202, json={"actionId": "a"}))
    async with make_client(router) as client:
        with pytest.raises(ValueError, match="zip_bytes"):
            await client.import_project_async("p1", bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="zip_bytes"):
            await client.validate_project_definitions(bad)  # type: ignore[arg-type]
    assert route.call_count == 0
