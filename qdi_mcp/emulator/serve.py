"""Serve the emulator over HTTP with uvicorn (for `qdi-mcp` run against a local fake tenant, or curl).

Binding to anything but loopback needs `allow_remote=True`: the emulator accepts a published demo key.
"""

from __future__ import annotations

import ipaddress
import sys

from qdi_mcp.clock import SpeedClock

from .auth import DEFAULT_API_KEY
from .emulator import Emulator


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_host(host: str, *, allow_remote: bool = False) -> None:
    """Refuse a non-loopback bind address unless explicitly allowed."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"refusing to serve the emulator on {host!r}: it is not a loopback address and the emulator "
            "accepts a published demo API key. Use 127.0.0.1, or pass allow_remote=True (--allow-remote)."
        )


def tenant_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


async def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    speed: float = 1.0,
    api_key: str = DEFAULT_API_KEY,
    allow_remote: bool = False,
    emulator: Emulator | None = None,
) -> None:
    """Run until cancelled. Prints (to stderr) the tenant URL and the API key to use."""
    import uvicorn

    check_bind_host(host, allow_remote=allow_remote)
    emulator = emulator or Emulator(api_key=api_key, clock=SpeedClock(speed))
    print(
        f"qdi-mcp emulator: tenant URL {tenant_url(host, port)}  API key: {api_key}  ({emulator.clock!r})",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(emulator.app, host=host, port=port, log_level="warning", lifespan="off")
    await uvicorn.Server(config).serve()
