"""Tenant URL validation: credentials only ever go to a Qlik Cloud origin, loopback, or a named host."""

from __future__ import annotations

import pytest

from qdi_mcp.api import ApiKeyAuth, InvalidTenantUrl, QlikClient, validate_tenant_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.eu.qlikcloud.com", "https://acme.eu.qlikcloud.com"),
        ("https://acme.eu.qlikcloud.com/", "https://acme.eu.qlikcloud.com"),
        ("HTTPS://Acme.EU.QlikCloud.com", "https://acme.eu.qlikcloud.com"),
        ("https://acme.us.qlikcloud.com:443", "https://acme.us.qlikcloud.com:443"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.5.6.7", "http://127.5.6.7"),
        ("http://localhost:9000/", "http://localhost:9000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://localhost", "https://localhost"),
    ],
)
def test_accepted_tenant_urls_are_normalised(url: str, expected: str) -> None:
    assert validate_tenant_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        ("acme.eu.qlikcloud.com", "https://"),
        ("ftp://acme.eu.qlikcloud.com", "https://"),
        ("http://acme.eu.qlikcloud.com", "https"),
        ("https://user:pw@acme.eu.qlikcloud.com", "user name or password"),
        ("https://acme.eu.qlikcloud.com@evil.example", "user name or password"),
        ("https://acme.eu.qlikcloud.com/api/v1", "path"),
        ("https://acme.eu.qlikcloud.com/..", "path"),
        ("https://acme.eu.qlikcloud.com?x=1", "query"),
        ("https://acme.eu.qlikcloud.com/?", "query"),
        ("https://acme.eu.qlikcloud.com#frag", "fragment"),
        ("https://evil.example", "not a Qlik Cloud tenant"),
        ("https://qlikcloud.com", "not a Qlik Cloud tenant"),
        ("https://acme.qlikcloud.com.evil.example", "not a Qlik Cloud tenant"),
        ("https://evilqlikcloud.com", "not a Qlik Cloud tenant"),
        ("https://acme.eu.qlik-stage.com", "not a Qlik Cloud tenant"),
        ("http://10.0.0.5", "https"),
        ("https://acme.eu.qlikcloud.com:99999", "port"),
        ("https://acme eu.qlikcloud.com", "whitespace"),
        ("https://evil.example\\.qlikcloud.com", "backslash"),
        ("https://acme_x.eu.qlikcloud.com", "not a valid host name"),
    ],
)
def test_rejected_tenant_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(InvalidTenantUrl) as caught:
        validate_tenant_url(url)
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_allow_hosts_admits_a_named_host_only() -> None:
    assert validate_tenant_url("https://qlik.internal.example", allow_hosts=["QLIK.internal.example"]) == (
        "https://qlik.internal.example"
    )
    with pytest.raises(InvalidTenantUrl):
        validate_tenant_url("https://other.internal.example", allow_hosts=["qlik.internal.example"])


def test_allow_hosts_does_not_permit_plain_http() -> None:
    with pytest.raises(InvalidTenantUrl, match="https"):
        validate_tenant_url("http://qlik.internal.example", allow_hosts=["qlik.internal.example"])


def test_client_refuses_invalid_tenant_url_before_any_request() -> None:
    with pytest.raises(InvalidTenantUrl):
        QlikClient("https://evil.example", auth=ApiKeyAuth("key"))
