"""Who may call the emulated tenant: the API key, or bearer tokens issued by `POST /oauth/token`.

Secrets are compared in constant time and never appear in reprs, logs or snapshots.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from . import timings

DEFAULT_API_KEY = "qdi-demo-key"  # documented in the README: the demo tenant's key
DEFAULT_OAUTH_CLIENT_ID = "qdi-demo-client"
DEFAULT_OAUTH_CLIENT_SECRET = "qdi-demo-secret"  # noqa: S105 - the demo tenant's published secret


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    expires_at: float


class Authenticator:
    def __init__(
        self,
        api_key: str,
        oauth_clients: dict[str, str],
        *,
        token_lifetime: float = timings.OAUTH_TOKEN_LIFETIME_SECONDS,
    ) -> None:
        if not api_key:
            raise ValueError("the emulator needs a non-empty API key")
        self._api_key = api_key
        self._clients = dict(oauth_clients)
        self._tokens: dict[str, IssuedToken] = {}
        self.token_lifetime = token_lifetime

    def __repr__(self) -> str:
        return f"Authenticator(api_key=<redacted>, oauth_clients={sorted(self._clients)})"

    def caller(self, authorization: str | None, now: float) -> str | None:
        """The caller's identity (for rate limits) when the Authorization header is valid, else None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if hmac.compare_digest(token.encode(), self._api_key.encode()):
            return "api-key"
        issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= now:
            return None
        return f"oauth:{issued.client_id}"

    def issue_token(self, client_id: str, client_secret: str, now: float) -> str | None:
        expected = self._clients.get(client_id)
        if expected is None or not hmac.compare_digest(client_secret.encode(), expected.encode()):
            return None
        for stale in [t for t, issued in self._tokens.items() if issued.expires_at <= now]:
            del self._tokens[stale]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = IssuedToken(client_id, now + self.token_lifetime)
        return token
