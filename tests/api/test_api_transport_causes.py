"""A tenant that cannot be reached is reported with its URL and the cause a person can act on (refused, DNS,
TLS, timeout), never with the exception's own text (issue 19, defect 10)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from qdi_mcp.api import ApiKeyAuth, QlikClient, RetryPolicy
from qdi_mcp.api.errors import TransportError
from qdi_mcp.api.retry import (
    CAUSE_DNS,
    CAUSE_NETWORK,
    CAUSE_REFUSED,
    CAUSE_RESET,
    CAUSE_TIMEOUT,
    CAUSE_TLS,
    transport_failure_cause,
)
from qdi_mcp.specs import specs_by_name
from qdi_mcp.tools.errors import failure_from_api_error

TENANT = "https://acme.eu.qlikcloud.com"
PROJECT = "/api/v1/di-projects/p1"


def wrapped(low: BaseException, message: str = "connect failed") -> httpx.ConnectError:
    """As httpx raises it: its own error, raised from the socket's (through httpcore's)."""
    try:
        try:
            raise low
        except BaseException as exc:
            raise httpx.ConnectError(message) from exc
    except httpx.ConnectError as outer:
        return outer


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        (wrapped(ConnectionRefusedError(111, "Connection refused")), CAUSE_REFUSED),
        (wrapped(socket.gaierror(-2, "Name or service not known")), CAUSE_DNS),
        (wrapped(ssl.SSLCertVerificationError(1, "certificate verify failed")), CAUSE_TLS),
        (wrapped(TimeoutError()), CAUSE_TIMEOUT),
        (wrapped(ConnectionResetError(104, "Connection reset by peer")), CAUSE_RESET),
        (httpx.ConnectTimeout("slow"), CAUSE_TIMEOUT),
        (httpx.ReadTimeout("slow"), CAUSE_TIMEOUT),
        # Without a typed error behind it, the words decide (the Windows wording too).
        (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), CAUSE_DNS),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), CAUSE_TLS),
        (httpx.ConnectError("[WinError 10061] the target machine actively refused it"), CAUSE_REFUSED),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), CAUSE_RESET),
        (httpx.ConnectError("something else"), CAUSE_NETWORK),
    ],
)
def test_each_transport_failure_gets_its_cause(failure: httpx.HTTPError, cause: str) -> None:
    assert transport_failure_cause(failure) == cause


@pytest.mark.anyio
async def test_the_client_error_carries_cause_and_tenant_but_its_text_names_no_host() -> None:
    def no_such_host(request: httpx.Request) -> httpx.Response:
        raise wrapped(socket.gaierror(-2, "Name or service not known"))

    # httpx's own MockTransport: respx re-raises side effects from its own error, which hides the socket's.
    transport = httpx.MockTransport(no_such_host)
    async with QlikClient(
        TENANT, auth=ApiKeyAuth("key"), transport=transport, retry=RetryPolicy(max_attempts=1)
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_project("p1")

    error = caught.value
    assert (error.cause, error.tenant) == (CAUSE_DNS, TENANT)
    assert CAUSE_DNS in str(error)
    assert "acme.eu.qlikcloud.com" not in str(error) + repr(error)


@pytest.mark.anyio
async def test_a_closed_port_is_reported_as_refused_by_the_real_stack() -> None:
    with socket.socket() as probe:  # a free loopback port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tenant = f"http://127.0.0.1:{port}"

    async with QlikClient(tenant, auth=ApiKeyAuth("key"), retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_project("p1")

    assert (caught.value.cause, caught.value.tenant) == (CAUSE_REFUSED, tenant)


def test_the_tool_failure_names_the_tenant_url_and_the_cause() -> None:
    error = TransportError("GET /api/v1/di-projects: could not connect", cause=CAUSE_DNS, tenant=TENANT, retryable=True)

    failure = failure_from_api_error(error, specs_by_name()["qdi_list_projects"], {})

    assert failure.code == "unreachable"
    assert failure.message == f"Could not reach the Qlik tenant at {TENANT}: {CAUSE_DNS}."
    assert "host name in QLIK_TENANT_URL" in (failure.hint or "")
