"""Redis clients for the shared state, with every wait bounded, and the key names.

Nothing here may hang a call: every socket operation has `STATE_TIMEOUT_SECONDS`, and callers treat a timeout
like Redis being down (a confirmation is refused; a read falls back to the per-replica limiter). redis-py
reconnects by itself on the next command, so recovery needs no code of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from qdi_mcp.settings import StateUrl

if TYPE_CHECKING:
    import redis
    import redis.asyncio

# A healthy Redis on the same network answers in well under a millisecond; a second means it is not healthy.
STATE_TIMEOUT_SECONDS = 1.0
KEY_PREFIX = "qdi-mcp:v1"


class SharedStateError(RuntimeError):
    """The shared state cannot be used; the message names the URL without its password and the reason."""


@dataclass(frozen=True)
class Keyspace:
    """Key names of one tenant: `qdi-mcp:v1:<tenant host>:<kind>:<name>`."""

    tenant: str  # the tenant's host (port included when not the default)

    @classmethod
    def for_tenant_url(cls, tenant_url: str) -> Keyspace:
        parts = urlsplit(tenant_url)
        return cls(parts.netloc.lower() or tenant_url)

    def key(self, kind: str, name: str) -> str:
        return f"{KEY_PREFIX}:{self.tenant}:{kind}:{name}"


def _options(url: StateUrl) -> dict[str, Any]:
    return {
        "host": url.host,
        "port": url.port,
        "db": url.db,
        "username": url.username,
        "password": url.password,
        "ssl": url.scheme == "rediss",
        "socket_timeout": STATE_TIMEOUT_SECONDS,
        "socket_connect_timeout": STATE_TIMEOUT_SECONDS,
        "health_check_interval": 30,
    }


def sync_client(url: StateUrl) -> redis.Redis:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: redis-py's default retries (with backoff) turned a refused password into a 50-second start,
    # and would multiply the bound a caller waits; the caller decides what a failure means.
    return redis.Redis(**_options(url), retry=Retry(NoBackoff(), 0))


def async_client(url: StateUrl) -> redis.asyncio.Redis:
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis(**_options(url), retry=Retry(NoBackoff(), 0))


def check_state(url: StateUrl) -> str | None:
    """Try the shared state once at start-up: raises SharedStateError when it can never work (a wrong password,
    a server that is not Redis); returns a warning when it cannot be reached now (the server starts: reads work,
    confirmations are refused until it is back); None when it answers."""
    import redis

    client = sync_client(url)
    try:
        client.ping()
    except redis.AuthenticationError:
        if url.password is None:
            raise SharedStateError(
                f"{url.shown} asks for a password: set QDI_MCP_STATE_PASSWORD (or put it in the URL)"
            ) from None
        raise SharedStateError(f"{url.shown}: the password was refused") from None
    except redis.ResponseError as exc:
        # NOAUTH (a password is required) and the like: never going to work until the configuration changes.
        raise SharedStateError(f"{url.shown}: {_reason(exc)}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        return f"shared state {url.shown} cannot be reached now ({_reason(exc)}): confirmations are refused until it is"
    finally:
        client.close()
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
