"""Where calls go: a real Qlik tenant, or the embedded emulator in this process (`--demo`).

Part of the CLI layer: it is the only place outside tests that wires the emulator to the API client, so the
server and the tools never know which back end they talk to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from qdi_mcp.api import ApiKeyAuth, Auth, InvalidTenantUrl, OAuthClientCredentials, QlikClient, validate_tenant_url
from qdi_mcp.settings import Settings, SettingsError

# The in-process emulator is reached through its own transport; the URL is only used to build request URLs,
# and loopback is the one kind of http URL the client accepts.
DEMO_TENANT_URL = "http://127.0.0.1:8765"
# The in-process demo never leaves this process, so a fixed key is no secret; it matches the emulator's default.
DEMO_API_KEY = "qdi-demo-key"  # noqa: S105


def check_backend(settings: Settings) -> None:
    """Fail before any start-up work when the back end is not usable: no tenant, no credentials, a bad URL.

    Raises SettingsError with one line naming the variable to set or fix (the CLI prints it and exits 2).
    """
    if settings.demo:
        return
    settings.require_tenant()
    try:
        validate_tenant_url(settings.tenant_url or "", allow_hosts=settings.allowed_hosts)
    except InvalidTenantUrl as exc:
        # The client speaks of `allow_hosts`; a person configures it through the environment.
        message = str(exc).replace("list it in allow_hosts", "list it in QDI_MCP_ALLOWED_HOSTS")
        raise SettingsError(f"QLIK_TENANT_URL: {message}") from None


def auth_from_settings(settings: Settings) -> Auth:
    if settings.api_key:
        return ApiKeyAuth(settings.api_key)
    assert settings.client_id and settings.client_secret  # require_tenant() checked this
    return OAuthClientCredentials(settings.client_id, settings.client_secret)


@asynccontextmanager
async def open_client(settings: Settings, *, emulator: Any | None = None) -> AsyncIterator[QlikClient]:
    """A QlikClient for `settings`: the demo emulator when `settings.demo`, else the configured tenant."""
    if settings.demo:
        if emulator is None:
            emulator = make_demo_emulator(settings)
        client = QlikClient(DEMO_TENANT_URL, auth=ApiKeyAuth(DEMO_API_KEY), transport=emulator.transport())
    else:
        settings.require_tenant()
        client = QlikClient(
            settings.tenant_url or "",
            auth=auth_from_settings(settings),
            allow_hosts=settings.allowed_hosts,
        )
    async with client:
        yield client


def make_demo_emulator(settings: Settings) -> Any:
    # Imported here: the emulator (and its YAML/zip machinery) costs start-up time a real tenant never needs.
    from qdi_mcp.emulator import Emulator, SpeedClock

    return Emulator(api_key=DEMO_API_KEY, clock=SpeedClock(settings.emulator_speed))
