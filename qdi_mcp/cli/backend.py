"""Where calls go: a real Qlik tenant, or the embedded emulator in this process (`--demo`).

Part of the CLI layer: it is the only place outside tests that wires the emulator to the API client, so the
server and the tools never know which back end they talk to.

Imports are lazy: `qdi-mcp serve` checks its configuration and lists tools without loading httpx, the API
models or the emulator; `ClientOnDemand` opens the client (and builds the demo tenant) at the first tool call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from qdi_mcp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from qdi_mcp.api import Auth, QlikClient, TierLimiter
    from qdi_mcp.shared_state import SharedDesignCache

logger = logging.getLogger("qdi_mcp")

# The in-process emulator is reached through its own transport; the URL is only used to build request URLs,
# and loopback is the one kind of http URL the client accepts.
DEMO_TENANT_URL = "http://127.0.0.1:8765"
# The in-process demo never leaves this process, so a fixed key is no secret; it matches the emulator's default.
DEMO_API_KEY = "qdi-demo-key"  # noqa: S105


def check_backend(settings: Settings) -> None:
    """Fail before any start-up work when the back end is not usable: no tenant, no credentials, a bad URL.

    Raises SettingsError with one line naming the variable to set or fix (the CLI prints it and exits 2).
    """
    check_shared_state(settings)
    if settings.demo:
        return
    from qdi_mcp.settings.tenant_url import InvalidTenantUrl, validate_tenant_url

    settings.require_tenant()
    try:
        validate_tenant_url(settings.tenant_url or "", allow_hosts=settings.allowed_hosts)
    except InvalidTenantUrl as exc:
        # The client speaks of `allow_hosts`; a person configures it through the environment.
        message = str(exc).replace("list it in allow_hosts", "list it in QDI_MCP_ALLOWED_HOSTS")
        raise SettingsError(f"QLIK_TENANT_URL: {message}") from None


def check_shared_state(settings: Settings) -> None:
    """A state URL that can never work (wrong password, not Redis) is refused at start; one that cannot be
    reached now is a warning: reads work, confirmations are refused until it answers."""
    url = settings.shared_state
    if url is None:
        return
    from qdi_mcp.shared_state import SharedStateError, check_state

    try:
        warning = check_state(url)
    except SharedStateError as exc:
        raise SettingsError(f"{settings.source_of('state_url') or 'QDI_MCP_STATE_URL'}: {exc}") from None
    if warning:
        logger.warning("%s", warning)
    else:
        logger.info("shared state: %s (single use of confirmations, rate-limit windows)", url.shown)


def auth_from_settings(settings: Settings) -> Auth:
    from qdi_mcp.api import ApiKeyAuth, OAuthClientCredentials

    if settings.api_key:
        return ApiKeyAuth(settings.api_key)
    assert settings.client_id and settings.client_secret  # require_tenant() checked this
    return OAuthClientCredentials(settings.client_id, settings.client_secret)


def new_client(settings: Settings, *, emulator: Any | None = None) -> QlikClient:
    """A QlikClient for `settings` (not yet entered): the demo emulator when `settings.demo`, else the tenant."""
    from qdi_mcp.api import ApiKeyAuth, QlikClient

    if settings.demo:
        if emulator is None:
            emulator = make_demo_emulator(settings)
        return QlikClient(DEMO_TENANT_URL, auth=ApiKeyAuth(DEMO_API_KEY), transport=emulator.transport())
    settings.require_tenant()
    return QlikClient(
        settings.tenant_url or "",
        auth=auth_from_settings(settings),
        allow_hosts=settings.allowed_hosts,
        limiter=shared_limiter(settings),
        design_cache=shared_design_cache(settings),
    )


def shared_design_cache(settings: Settings) -> SharedDesignCache | None:
    """Project designs kept in the shared state for every replica, or None: each process keeps its own."""
    url = settings.shared_state
    if url is None or not settings.tenant_url:
        return None
    from qdi_mcp.shared_state import Keyspace, SharedDesignCache

    return SharedDesignCache(url, Keyspace.for_tenant_url(settings.tenant_url))


def shared_limiter(settings: Settings) -> TierLimiter | None:
    """The tenant's rate-limit windows in the shared state, or None: the client's own per-process windows."""
    url = settings.shared_state
    if url is None or not settings.tenant_url:
        return None
    from qdi_mcp.api.shared_ratelimit import SharedTierLimiter
    from qdi_mcp.shared_state import Keyspace

    return SharedTierLimiter(url, Keyspace.for_tenant_url(settings.tenant_url))


@asynccontextmanager
async def open_client(settings: Settings, *, emulator: Any | None = None) -> AsyncIterator[QlikClient]:
    """A QlikClient for `settings`: the demo emulator when `settings.demo`, else the configured tenant."""
    async with new_client(settings, emulator=emulator) as client:
        yield client


class ClientOnDemand:
    """The back end's QlikClient, opened by the first tool call that needs it (`get`), closed by `aclose`.

    An MCP host starts the server and lists its tools every time a chat or an IDE window opens; listing needs
    neither the client nor the demo tenant, so neither costs that start anything.
    """

    def __init__(self, settings: Settings, *, emulator: Any | None = None) -> None:
        self.settings = settings
        self._emulator = emulator
        self._client: QlikClient | None = None

    @property
    def opened(self) -> bool:
        return self._client is not None

    async def get(self) -> QlikClient:
        # No await between the check and the assignment: concurrent first calls cannot open two clients.
        if self._client is None:
            self._client = new_client(self.settings, emulator=self._emulator)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


@asynccontextmanager
async def client_on_demand(settings: Settings, *, emulator: Any | None = None) -> AsyncIterator[ClientOnDemand]:
    """A `ClientOnDemand` for `settings`; the client, if a call opened it, is closed on exit."""
    clients = ClientOnDemand(settings, emulator=emulator)
    try:
        yield clients
    finally:
        await clients.aclose()


def make_demo_emulator(settings: Settings) -> Any:
    # Imported here: the emulator (and its YAML/zip machinery) costs start-up time a real tenant never needs.
    from qdi_mcp.clock import SpeedClock
    from qdi_mcp.emulator import Emulator

    return Emulator(api_key=DEMO_API_KEY, clock=SpeedClock(settings.emulator_speed))
