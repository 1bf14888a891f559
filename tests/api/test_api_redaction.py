"""Secrets (API keys, client secrets, access tokens) never reach logs, messages or reprs."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import (
    ApiKeyAuth,
    OAuthClientCredentials,
    QdiApiError,
    QlikClient,
)

TENANT = "https://acme.eu.qlikcloud.com"
PROJECT = "/api/v1/di-projects/p1"
API_KEY = "eyJhbGciOiJFUzM4NCJ9.api-key-SECRET"
CLIENT_SECRET = "client-secret-SECRET-42"
ACCESS_TOKEN = "access-token-SECRET-77"


def make_client(router: respx.MockRouter, auth: ApiKeyAuth | OAuthClientCredentials) -> QlikClient:
    return respx_client(router, tenant=TENANT, auth=auth)


def assert_secrets_absent(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.mark.anyio
async def test_api_key_never_in_logs_or_error_even_when_the_service_echoes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    router = respx.MockRouter(base_url=TENANT)
    echo = f"<html><body>Rejected header Authorization: {API_KEY} for key {API_KEY}</body></html>"
    router.get(PROJECT).mock(side_effect=[httpx.Response(503), httpx.Response(401, content=echo.encode())])
    client = make_client(router, ApiKeyAuth(API_KEY))

    async with client:
        with pytest.raises(QdiApiError) as caught:
            await client.get_project("p1")

    error = caught.value
    assert error.status == 401
    assert "***" in str(error)  # the echoed key was scrubbed, not silently dropped
    assert_secrets_absent([caplog.text, str(error), repr(error), repr(client)], [API_KEY])
    # one DEBUG line per request, with what an operator needs
    request_lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "qdi_mcp.api" and record.levelno == logging.DEBUG
    ]
    assert request_lines == [
        f"GET {PROJECT} -> 503 in 0.0 ms (attempt 1)",
        f"GET {PROJECT} -> 401 in 0.0 ms (attempt 2)",
    ]


@pytest.mark.anyio
async def test_oauth_secret_and_tokens_never_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    router = respx.MockRouter(base_url=TENANT)
    router.post("/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": ACCESS_TOKEN, "expires_in": 3600})
    )
    router.get(PROJECT).mock(
        return_value=httpx.Response(
            400,
            json={"errors": [{"code": "HTTP-400", "detail": f"bad token {ACCESS_TOKEN}"}], "traceId": "t-1"},
        )
    )
    auth = OAuthClientCredentials("client-id", CLIENT_SECRET)

    async with make_client(router, auth) as client:
        with pytest.raises(QdiApiError) as caught:
            await client.get_project("p1")

    error = caught.value
    assert error.status == 400 and "bad token ***" in str(error)
    assert_secrets_absent([caplog.text, str(error), repr(error), repr(auth)], [CLIENT_SECRET, ACCESS_TOKEN])


@pytest.mark.anyio
async def test_transport_failure_message_has_no_url_or_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    router = respx.MockRouter(base_url=TENANT)
    router.get(PROJECT).mock(side_effect=httpx.ConnectError(f"failed for {TENANT} with {API_KEY}"))

    async with make_client(router, ApiKeyAuth(API_KEY)) as client:
        with pytest.raises(QdiApiError) as caught:
            await client.get_project("p1")

    error = caught.value
    assert "ConnectError" in str(error)
    assert_secrets_absent([caplog.text, str(error), repr(error)], [API_KEY, "acme.eu.qlikcloud.com"])
