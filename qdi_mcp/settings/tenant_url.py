"""Validation of the tenant URL the client talks to.

The client sends credentials to this URL on every request, so it must be exactly a Qlik Cloud tenant
origin (or a loopback emulator, or a host the operator named), never something an agent talked us into.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

QLIK_CLOUD_SUFFIX = ".qlikcloud.com"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_FORBIDDEN_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")


class InvalidTenantUrl(ValueError):
    """The tenant URL is not one the client will send credentials to."""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_tenant_url(url: str, *, allow_hosts: Iterable[str] = ()) -> str:
    """Return the tenant origin (`scheme://host[:port]`, no trailing slash) or raise InvalidTenantUrl."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidTenantUrl("tenant URL is empty; expected e.g. https://acme.eu.qlikcloud.com")
    if _FORBIDDEN_CHARACTERS.search(url):
        raise InvalidTenantUrl("tenant URL contains whitespace, a backslash or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        got = f"got scheme {parts.scheme!r}" if parts.scheme else "it has none"
        raise InvalidTenantUrl(f"tenant URL must start with https:// ({got}), e.g. https://acme.eu.qlikcloud.com")
    if "@" in parts.netloc:
        raise InvalidTenantUrl("tenant URL must not contain a user name or password")
    if parts.path not in {"", "/"}:
        raise InvalidTenantUrl(
            f"tenant URL must not have a path (got {parts.path!r}); use only https://<tenant>.<region>.qlikcloud.com"
        )
    if parts.query or "?" in url:
        raise InvalidTenantUrl("tenant URL must not have a query string")
    if parts.fragment or "#" in url:
        raise InvalidTenantUrl("tenant URL must not have a fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidTenantUrl("tenant URL has no host name")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidTenantUrl("tenant URL has an invalid port") from exc
    loopback = is_loopback_host(host)
    if not loopback and not _HOSTNAME.match(host):
        raise InvalidTenantUrl(f"tenant URL host {host!r} is not a valid host name")
    if scheme == "http" and not loopback:
        raise InvalidTenantUrl(
            f"tenant URL must use https (plain http is only allowed for loopback hosts, not {host!r})"
        )
    allowed = {name.strip().lower().rstrip(".") for name in allow_hosts if name.strip()}
    is_qlik_cloud = host.endswith(QLIK_CLOUD_SUFFIX) and len(host) > len(QLIK_CLOUD_SUFFIX)
    if not (is_qlik_cloud or loopback or host in allowed):
        raise InvalidTenantUrl(
            f"tenant URL host {host!r} is not a Qlik Cloud tenant (*{QLIK_CLOUD_SUFFIX}); "
            "list it in allow_hosts if you really mean it"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}"
