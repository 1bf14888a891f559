"""Authentication: API keys, OAuth2 client credentials, token caching, refresh and 401 recovery."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import (
    ApiKeyAuth,
    AuthError,
    OAuthClientCredentials,
    QlikClient,
    TransportError,
)
from qdi_mcp.clock import ManualClock

TENANT = "https://acme.eu.qlikcloud.com"
CLIENT_ID = "client-id-abc"
CLIENT_SECRET = "client-secret-XYZ-987"
PROJECT = "/api/v1/di-projects/p1"


def make_client(router: respx.MockRouter, auth: object, clock: ManualClock | None = None) -> QlikClient:
    return respx_client(router, tenant=TENANT, auth=auth, clock=clock)


def token_response(token: str, expires_in: float = 3600) -> httpx.Response:
    return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": expires_in})


def tokens_issued(*tokens: str, expires_in: float = 3600) -> list[httpx.Response]:
    return [token_response(token, expires_in) for token in tokens]


def bearer_of(route: respx.Route) -> list[str]:
    return [call.request.headers["Authorization"] for call in route.calls]


@pytest.mark.anyio
async def test_api_key_is_sent_as_bearer_header() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, ApiKeyAuth("my-api-key")) as client:
        await client.get_project("p1")

    assert bearer_of(route) == ["Bearer my-api-key"]


@pytest.mark.anyio
async def test_api_key_401_is_auth_error_without_retry() -> None:
    router = respx.MockRouter(base_url=TENANT)
    route = router.get(PROJECT).mock(return_value=httpx.Response(401, json={"errors": [{"code": "HTTP-401"}]}))

    async with make_client(router, ApiKeyAuth("my-api-key")) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_project("p1")

    assert caught.value.status == 401
    assert route.call_count == 1


@pytest.mark.parametrize("bad_key", ["", "   ", "key with space", "key\r\nX-Injected: 1"])
def test_api_key_with_whitespace_is_refused_without_echoing_it(bad_key: str) -> None:
    with pytest.raises(ValueError) as caught:
        ApiKeyAuth(bad_key)
    if bad_key.strip():
        assert bad_key not in str(caught.value)


@pytest.mark.anyio
async def test_oauth_fetches_token_with_client_credentials_and_uses_it() -> None:
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(return_value=token_response("tok-1"))
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        await client.get_project("p1")

    token_request = token_route.calls.last.request
    assert token_request.url == f"{TENANT}/oauth/token"
    assert token_request.headers["Content-Type"] == "application/json"
    assert json.loads(token_request.content) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "client_credentials",
        "scope": "user_default",
    }
    assert bearer_of(api_route) == ["Bearer tok-1"]


@pytest.mark.anyio
async def test_oauth_token_is_cached_across_calls() -> None:
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(side_effect=tokens_issued("tok-1", "tok-2"))
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        await client.get_project("p1")
        await client.get_project("p1")

    assert token_route.call_count == 1
    assert bearer_of(api_route) == ["Bearer tok-1", "Bearer tok-1"]


@pytest.mark.anyio
async def test_oauth_token_is_refreshed_a_minute_before_expiry() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(side_effect=tokens_issued("tok-1", "tok-2"))
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET), clock) as client:
        await client.get_project("p1")
        clock.advance(3600 - 61)  # still more than a minute left
        await client.get_project("p1")
        clock.advance(2)  # now inside the last minute
        await client.get_project("p1")

    assert token_route.call_count == 2
    assert bearer_of(api_route) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@pytest.mark.anyio
async def test_oauth_short_lived_token_is_refreshed_at_ninety_percent_of_lifetime() -> None:
    clock = ManualClock()
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(side_effect=tokens_issued("tok-1", "tok-2", expires_in=100))
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET), clock) as client:
        await client.get_project("p1")
        clock.advance(89)
        await client.get_project("p1")
        clock.advance(2)
        await client.get_project("p1")

    assert token_route.call_count == 2
    assert bearer_of(api_route) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@pytest.mark.anyio
async def test_oauth_401_refetches_token_and_retries_once() -> None:
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(side_effect=tokens_issued("tok-1", "tok-2"))
    api_route = router.get(PROJECT).mock(side_effect=[httpx.Response(401), httpx.Response(200, json={"id": "p1"})])

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        project = await client.get_project("p1")

    assert project.id == "p1"
    assert token_route.call_count == 2
    assert bearer_of(api_route) == ["Bearer tok-1", "Bearer tok-2"]


@pytest.mark.anyio
async def test_oauth_401_twice_gives_auth_error_after_one_retry() -> None:
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(side_effect=tokens_issued("tok-1", "tok-2", "tok-3"))
    api_route = router.post(PROJECT + "/di-tasks/t1/runtime/actions/stop").mock(
        return_value=httpx.Response(401, json={"errors": [{"code": "HTTP-401", "detail": "token expired"}]})
    )

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        with pytest.raises(AuthError) as caught:
            await client.stop_task("p1", "t1")

    assert caught.value.status == 401
    assert api_route.call_count == 2
    assert token_route.call_count == 2


@pytest.mark.anyio
async def test_oauth_403_is_not_cured_by_a_new_token() -> None:
    router = respx.MockRouter(base_url=TENANT)
    token_route = router.post("/oauth/token").mock(side_effect=tokens_issued("tok-1", "tok-2"))
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(403, json={"errors": [{"code": "HTTP-403"}]}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_project("p1")

    assert caught.value.status == 403
    assert (api_route.call_count, token_route.call_count) == (1, 1)


@pytest.mark.anyio
async def test_concurrent_callers_share_one_token_fetch() -> None:
    router = respx.MockRouter(base_url=TENANT)
    fetches = 0

    async def slow_token_endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        for _ in range(5):  # give the other callers every chance to start their own fetch
            await asyncio.sleep(0)
        return token_response(f"tok-{fetches}")

    router.post("/oauth/token").mock(side_effect=slow_token_endpoint)
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        await asyncio.gather(*(client.get_project("p1") for _ in range(8)))

    assert fetches == 1
    assert bearer_of(api_route) == ["Bearer tok-1"] * 8


@pytest.mark.anyio
async def test_token_endpoint_refusal_is_auth_error_naming_status_without_secret() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post("/oauth/token").mock(
        return_value=httpx.Response(
            401, json={"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"}
        )
    )
    api_route = router.get(PROJECT).mock(return_value=httpx.Response(200, json={"id": "p1"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_project("p1")

    error = caught.value
    assert error.status == 401
    assert "401" in str(error) and "invalid_client" in str(error)
    assert CLIENT_SECRET not in str(error) and CLIENT_SECRET not in repr(error)
    assert api_route.call_count == 0


@pytest.mark.anyio
async def test_token_answer_without_access_token_is_auth_error() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post("/oauth/token").mock(return_value=httpx.Response(200, json={"token_type": "bearer"}))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        with pytest.raises(AuthError, match="access_token"):
            await client.get_project("p1")


@pytest.mark.anyio
async def test_unreachable_token_endpoint_is_transport_error() -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.post("/oauth/token").mock(side_effect=httpx.ConnectError("connection refused"))

    async with make_client(router, OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_project("p1")

    assert caught.value.path == "/oauth/token"
    assert caught.value.retryable is True


def test_auth_reprs_redact_secrets() -> None:
    assert "my-api-key" not in repr(ApiKeyAuth("my-api-key"))
    oauth = OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(oauth) and CLIENT_SECRET not in str(oauth)
    assert CLIENT_ID in repr(oauth)
