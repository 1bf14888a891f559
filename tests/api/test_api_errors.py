"""How error answers become exceptions a caller can act on."""

from __future__ import annotations

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import (
    ApiStatusError,
    AuthError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    QdiApiError,
    QlikClient,
    RateLimitedError,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from qdi_mcp.api.errors import sanitised_excerpt

TENANT = "https://acme.eu.qlikcloud.com"
PROJECT = "/api/v1/di-projects/p1"
START = PROJECT + "/di-tasks/t1/runtime/actions/start"

HTML_PAGE = b"""<!DOCTYPE html><html><head><title>502 Bad Gateway</title>
<style>body { color: red; }</style><script>var secret = 1;</script></head>
<body><h1>Bad   Gateway</h1><p>The upstream server &amp; proxy failed.</p></body></html>"""


def make_client(router: respx.MockRouter) -> QlikClient:
    return respx_client(router, tenant=TENANT, retry=RetryPolicy(max_attempts=1, jitter=False))


def test_hierarchy_matches_the_documented_tree() -> None:
    for status_error in (
        BadRequestError,
        AuthError,
        NotFoundError,
        ConflictError,
        RateLimitedError,
        ServerError,
    ):
        assert issubclass(status_error, ApiStatusError)
    for error in (ApiStatusError, TransportError, OutcomeUnknownError, ResponseFormatError):
        assert issubclass(error, QdiApiError)
    assert not issubclass(OutcomeUnknownError, ApiStatusError)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error_class", "retryable"),
    [
        (400, BadRequestError, False),
        (401, AuthError, False),
        (403, AuthError, False),
        (404, NotFoundError, False),
        (409, ConflictError, False),
        (418, ApiStatusError, False),
        (429, RateLimitedError, True),
        (500, ServerError, True),
        (503, ServerError, True),
    ],
)
async def test_status_maps_to_error_class(status: int, error_class: type, retryable: bool) -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(return_value=httpx.Response(status, json={"errors": [], "traceId": "t-2"}))

    async with make_client(router) as client:
        with pytest.raises(QdiApiError) as caught:
            await client.get_project("p1")

    assert type(caught.value) is error_class
    assert (caught.value.status, caught.value.trace_id, caught.value.retryable) == (status, "t-2", retryable)


@pytest.mark.anyio
async def test_conflict_message_carries_first_detail_and_trace_id() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post(START).mock(
        return_value=httpx.Response(
            409,
            json={
                "errors": [
                    {
                        "code": "DI-409",
                        "title": "Conflict",
                        "detail": "task is already running",
                        "status": 409,
                    },
                    {"code": "DI-410", "detail": "second problem"},
                ],
                "traceId": "abc",
            },
        )
    )

    async with make_client(router) as client:
        with pytest.raises(ConflictError) as caught:
            await client.start_task("p1", "t1")

    error = caught.value
    assert str(error) == f"POST {START} → 409 Conflict: task is already running (traceId abc)"
    assert [item.code for item in error.errors] == ["DI-409", "DI-410"]
    assert error.code == "DI-409"
    assert repr(error).startswith("ConflictError(status=409, code='DI-409'")


@pytest.mark.anyio
async def test_html_error_page_gives_status_and_sanitised_excerpt() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(return_value=httpx.Response(502, content=HTML_PAGE, headers={"Content-Type": "text/html"}))

    async with make_client(router) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_project("p1")

    message = str(caught.value)
    assert caught.value.status == 502
    assert caught.value.errors == []
    assert message.startswith(f"GET {PROJECT} → 502 Bad Gateway: 502 Bad Gateway Bad Gateway The upstream")
    assert "server & proxy failed." in message
    for leftover in ("<", ">", "color: red", "var secret"):
        assert leftover not in message


def test_excerpt_is_short_single_line_and_hides_bearer_tokens() -> None:
    body = b"<p>Authorization: Bearer eyJhbGciOi.secret.token</p>\n" + b"x" * 1000
    excerpt = sanitised_excerpt(body)
    assert len(excerpt) <= 200
    assert "\n" not in excerpt
    assert "eyJhbGciOi" not in excerpt and "Bearer [redacted]" in excerpt


@pytest.mark.anyio
async def test_redirect_is_not_followed_and_is_an_error() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(
        return_value=httpx.Response(302, headers={"Location": "https://evil.example/steal"})
    )

    async with make_client(router) as client:
        with pytest.raises(ApiStatusError) as caught:
            await client.get_project("p1")

    assert caught.value.status == 302
    assert "redirects are not followed" in str(caught.value)
    assert "evil.example" not in str(caught.value)
    assert route.call_count == 1


@pytest.mark.anyio
async def test_non_json_success_is_response_format_error() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(return_value=httpx.Response(200, content=b"<html>login</html>"))

    async with make_client(router) as client:
        with pytest.raises(ResponseFormatError, match="not JSON") as caught:
            await client.get_project("p1")

    assert caught.value.status == 200


@pytest.mark.anyio
async def test_answer_without_action_id_is_response_format_error() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post(PROJECT + "/actions/validate").mock(return_value=httpx.Response(202, json={"id": "x"}))

    async with make_client(router) as client:
        with pytest.raises(ResponseFormatError, match="ActionRef: actionId"):
            await client.validate_project("p1")


@pytest.mark.anyio
async def test_list_answer_of_wrong_shape_is_response_format_error() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get("/api/v1/di-projects").mock(return_value=httpx.Response(200, json={"projects": "nope"}))

    async with make_client(router) as client:
        with pytest.raises(ResponseFormatError, match="projects"):
            await client.list_projects()


@pytest.mark.anyio
async def test_malformed_envelope_items_do_not_hide_the_good_ones() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(
        return_value=httpx.Response(404, json={"errors": ["junk", {"code": "HTTP-404", "detail": "gone"}]})
    )

    async with make_client(router) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_project("p1")

    assert caught.value.code == "HTTP-404"
    assert str(caught.value).endswith("404 Not Found: gone")


@pytest.mark.anyio
async def test_error_without_body_still_names_status() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(return_value=httpx.Response(404))

    async with make_client(router) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_project("p1")

    assert str(caught.value) == f"GET {PROJECT} → 404 Not Found"
    assert caught.value.code is None and caught.value.trace_id is None
