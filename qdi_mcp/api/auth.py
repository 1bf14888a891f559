"""Credentials for Qlik Cloud: an API key, or OAuth2 client credentials exchanged for access tokens.

Secrets live only in private attributes; reprs redact them, and `secrets()` lets the client scrub them
from anything it reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import httpx

from qdi_mcp.clock import Clock
from qdi_mcp.masking import RUNTIME_SECRETS

from .errors import AuthError, TransportError, format_message, parse_error_envelope, redact_items
from .retry import transport_failure_cause

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a password
# used when the token endpoint does not say how long its token lives; a 401 refetches anyway
DEFAULT_TOKEN_LIFETIME = 300.0
# refresh this long before expiry, or 10 % of the lifetime when that is shorter
REFRESH_MARGIN = 60.0
_RECENT_TOKENS_KEPT = 4
_UNSAFE_IN_HEADER = re.compile(r"[\s\x00-\x1f\x7f]")

logger = logging.getLogger("qdi_mcp.api")


@dataclass(frozen=True)
class AuthContext:
    """What an Auth needs from the client that uses it."""

    http: httpx.AsyncClient
    tenant_url: str
    clock: Clock


class Auth(ABC):
    """A source of `Authorization` header values for one client."""

    #: whether a 401 can be cured by `invalidate` and asking again (true for expiring tokens)
    refreshable: bool = False

    @abstractmethod
    async def authorization(self, context: AuthContext) -> str:
        """The `Authorization` header value for the next request."""

    def invalidate(self, authorization: str) -> None:  # noqa: B027 - optional hook, no-op by default
        """The service refused `authorization` with 401; stop using it."""

    @abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Every secret string this auth holds, so reports can scrub them."""


def _require_header_safe(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is empty")
    if _UNSAFE_IN_HEADER.search(value):
        # the value itself is never echoed: it is a secret
        raise ValueError(f"{what} contains whitespace or control characters")
    return value


class ApiKeyAuth(Auth):
    """A Qlik Cloud API key, sent as `Authorization: Bearer <key>`."""

    def __init__(self, api_key: str) -> None:
        self._api_key = _require_header_safe(api_key, "API key")

    async def authorization(self, context: AuthContext) -> str:
        return f"Bearer {self._api_key}"

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key='***')"


class OAuthClientCredentials(Auth):
    """OAuth2 client credentials, exchanged at `POST {tenant}/oauth/token` for cached access tokens."""

    refreshable = True

    def __init__(self, client_id: str, client_secret: str, *, scope: str = "user_default") -> None:
        self.client_id = _require_header_safe(client_id, "OAuth client id")
        self._client_secret = _require_header_safe(client_secret, "OAuth client secret")
        self.scope = scope
        self._token: str | None = None
        self._token_tenant: str | None = None
        self._refresh_at = 0.0
        self._recent_tokens: deque[str] = deque(maxlen=_RECENT_TOKENS_KEPT)
        # concurrent callers that find no valid token wait for one fetch instead of each starting their own
        self._fetch_lock = asyncio.Lock()

    async def authorization(self, context: AuthContext) -> str:
        token = self._valid_token(context)
        if token is None:
            async with self._fetch_lock:
                token = self._valid_token(context)
                if token is None:
                    token = await self._fetch_token(context)
        return f"Bearer {token}"

    def invalidate(self, authorization: str) -> None:
        # compare first: a 401 for a token that was already replaced must not throw away the new one
        if self._token is not None and authorization == f"Bearer {self._token}":
            self._token = None

    def secrets(self) -> tuple[str, ...]:
        return (self._client_secret, *self._recent_tokens)

    def _valid_token(self, context: AuthContext) -> str | None:
        if self._token is None or self._token_tenant != context.tenant_url:
            return None
        if context.clock.monotonic() >= self._refresh_at:
            return None
        return self._token

    async def _fetch_token(self, context: AuthContext) -> str:
        requested_at = context.clock.monotonic()
        body = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "grant_type": "client_credentials",
            "scope": self.scope,
        }
        try:
            response = await context.http.post(
                context.tenant_url + TOKEN_PATH, json=body, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            cause = transport_failure_cause(exc)
            raise TransportError(
                format_message(
                    "POST", TOKEN_PATH, None, f"token endpoint unreachable ({cause}: {type(exc).__name__})", None
                ),
                method="POST",
                path=TOKEN_PATH,
                retryable=True,
                cause=cause,
                tenant=context.tenant_url,
            ) from exc
        logger.debug("POST %s -> %s (token request)", TOKEN_PATH, response.status_code)
        if response.status_code != 200:
            raise self._refusal(response)
        token, lifetime = self._parse_token_response(response)
        self._token = token
        self._token_tenant = context.tenant_url
        self._recent_tokens.append(token)
        # Masked by value everywhere from now on (results, audit, logs), not only after the word "Bearer".
        RUNTIME_SECRETS.add(token)
        self._refresh_at = requested_at + lifetime - min(REFRESH_MARGIN, 0.1 * lifetime)
        return token

    def _refusal(self, response: httpx.Response) -> AuthError:
        envelope = parse_error_envelope(response.content)
        explanation = "could not obtain an access token with the OAuth client credentials"
        detail = _oauth_error_text(response.content)
        if detail is None and envelope is not None:
            detail = next((e.detail or e.title for e in envelope.errors if e.detail or e.title), None)
        if detail:
            explanation += f" ({self._scrub(detail)[:200]})"
        trace_id = envelope.trace_id if envelope else None
        return AuthError(
            format_message("POST", TOKEN_PATH, response.status_code, explanation, trace_id),
            status=response.status_code,
            errors=redact_items(envelope.errors, self._scrub) if envelope else (),
            trace_id=trace_id,
            method="POST",
            path=TOKEN_PATH,
        )

    def _parse_token_response(self, response: httpx.Response) -> tuple[str, float]:
        try:
            document = response.json()
        except (ValueError, UnicodeDecodeError):
            document = None
        token = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token or _UNSAFE_IN_HEADER.search(token):
            raise AuthError(
                format_message(
                    "POST", TOKEN_PATH, response.status_code, "the answer holds no usable access_token", None
                ),
                status=response.status_code,
                method="POST",
                path=TOKEN_PATH,
            )
        expires_in = document.get("expires_in") if isinstance(document, dict) else None
        lifetime = DEFAULT_TOKEN_LIFETIME
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
            lifetime = float(expires_in)
        return token, lifetime

    def _scrub(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"OAuthClientCredentials(client_id={self.client_id!r}, client_secret='***')"


def _oauth_error_text(body: bytes) -> str | None:
    """RFC 6749 error bodies: `{"error": "invalid_client", "error_description": "..."}`."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("error"), str):
        return None
    description = document.get("error_description")
    return f"{document['error']}: {description}" if isinstance(description, str) else document["error"]
