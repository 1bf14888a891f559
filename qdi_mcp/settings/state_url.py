"""The URL of the state that replicas share (`QDI_MCP_STATE_URL`): a Redis server.

Parsed and checked at start-up so a typo is refused with its reason before any call, and kept as a `StateUrl`
whose text never shows the password (settings are logged; an error quoting the URL must not leak it). The
password may be in the URL (`redis://:pw@host:6379/0`) or in `QDI_MCP_STATE_PASSWORD`; the variable wins, so a
compose file can keep the URL in plain configuration and the password in a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379
_FORBIDDEN_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")


@dataclass(frozen=True)
class StateUrl:
    scheme: str  # redis, or rediss (TLS)
    host: str
    port: int
    db: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def with_password(self, password: str | None) -> StateUrl:
        return StateUrl(self.scheme, self.host, self.port, self.db, self.username, password or self.password)

    @property
    def shown(self) -> str:
        """The URL as logs and messages show it: the password replaced by ***."""
        who = ""
        if self.username or self.password:
            who = f"{self.username or ''}{':***' if self.password else ''}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{who}{host}:{self.port}/{self.db}"

    def __str__(self) -> str:
        return self.shown


def parse_state_url(raw: str, name: str = "QDI_MCP_STATE_URL") -> StateUrl:
    """`redis://[user[:password]@]host[:port][/db]` or `rediss://…`; raises ValueError naming what is wrong and
    never quoting the text after the scheme (it may hold a password)."""
    text = raw.strip()
    if _FORBIDDEN_CHARACTERS.search(text):
        raise ValueError(f"{name} contains whitespace, a backslash or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(
            f"{name} is not a URL of the form redis://host:6379/0 (its port or host is malformed)"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = scheme or "none"
        raise ValueError(f"{name} must start with redis:// or rediss:// (TLS), not {shown}://")
    if not parts.hostname:
        raise ValueError(f"{name} names no host; expected e.g. redis://127.0.0.1:6379/0")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} takes no query or fragment; set the password with QDI_MCP_STATE_PASSWORD")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"{name}: the path must be a database number (e.g. /0), not /{path}")
    return StateUrl(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        db=int(path or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
