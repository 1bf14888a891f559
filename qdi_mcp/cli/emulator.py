"""`qdi-mcp emulator`: the emulated Qlik tenant over HTTP, for curl, other clients, and runbook rehearsals.

The port is bound before the banner is printed, so the banner (tenant URL and API key, on stderr) means
"ready": scripts can wait for it instead of polling. `--port 0` picks a free port and the banner shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

from qdi_mcp.cli.flags import flag_values
from qdi_mcp.server.transports import TransportConfigError, bind_socket
from qdi_mcp.settings import OPTIONS, EmulatorSettings, SettingsError


def run_emulator(args: argparse.Namespace) -> int:
    from qdi_mcp.emulator import DEFAULT_API_KEY, check_bind_host

    try:
        settings = EmulatorSettings.from_env(flags=flag_values(args, OPTIONS))
        try:
            check_bind_host(args.host, allow_remote=args.allow_remote)
        except ValueError:
            # The library's message names its Python keyword; a person at the shell needs the flag.
            raise SettingsError(
                f"refusing to serve the emulator on {args.host!r}: it is not a loopback address and the emulator "
                "accepts a published demo API key. Use 127.0.0.1, or pass --allow-remote."
            ) from None
        sock = bind_socket(args.host, args.port)
    except (ValueError, SettingsError, TransportConfigError) as exc:
        print(f"qdi-mcp emulator: {exc}", file=sys.stderr)
        return 2
    api_key = settings.emulator_api_key or DEFAULT_API_KEY
    try:
        asyncio.run(
            _serve(
                sock,
                args.host,
                speed=settings.emulator_speed,
                api_key=api_key,
                rate_limits=settings.emulator_rate_limits,
            )
        )
    except KeyboardInterrupt:
        return 0
    finally:
        sock.close()
    return 0


async def _serve(sock: socket.socket, host: str, *, speed: float, api_key: str, rate_limits: bool) -> None:
    import uvicorn

    from qdi_mcp.clock import SpeedClock
    from qdi_mcp.emulator import Emulator
    from qdi_mcp.emulator.serve import tenant_url

    emulator = Emulator(api_key=api_key, clock=SpeedClock(speed), rate_limits=rate_limits)
    port = sock.getsockname()[1]
    limits = ", Qlik's rate limits" if rate_limits else ""
    print(
        f"qdi-mcp emulator: tenant URL {tenant_url(host, port)}  API key: {api_key}  (speed x{speed}{limits})",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(emulator.app, host=host, port=port, log_level="warning", lifespan="off")
    await uvicorn.Server(config).serve(sockets=[sock])
