"""The embedded emulator: a stateful fake Qlik Cloud tenant serving the DI projects API.

    emu = Emulator(clock=ManualClock())   # qdi_mcp.clock.ManualClock
    async with httpx.AsyncClient(transport=emu.transport(), base_url="http://127.0.0.1:8765",
                                 headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}) as http:
        ...
        emu.clock.advance(5)      # state machines move only with the clock

Modules: `app` (routes), `gateway` (faults, auth, rate limits, accounting), `state` (tenant model),
`actions` (prepare/validate), `runtime` (task runs, datasets), `bindings`, `projects` (create, export,
import), `faults`, `ratelimit`, `transport`, `serve`, `timings` (every duration), `qlik_time` (Qlik's time
formats); content (project files, zip format, demo tenant) in `project_files` and `demo`. Time comes from
`qdi_mcp.clock`, the one module of the package the emulator imports.
"""

from __future__ import annotations

from .auth import DEFAULT_API_KEY, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET
from .emulator import Emulator
from .faults import FAULT_KINDS, Fault, FaultPlan
from .serve import check_bind_host, serve

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_OAUTH_CLIENT_ID",
    "DEFAULT_OAUTH_CLIENT_SECRET",
    "FAULT_KINDS",
    "Emulator",
    "Fault",
    "FaultPlan",
    "check_bind_host",
    "serve",
]
