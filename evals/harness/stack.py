"""The in-process chain every eval runs on, with virtual time:

    emulator (manual clock) -> httpx transport -> QlikClient -> build_server(...) -> mcp.Client

A fresh emulator per task keeps tasks independent; the emulator and the client share one manual clock, so
a wait moves the tenant's state machines, a 300 s prepare takes milliseconds and every run is reproducible.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client

from evals.harness.fixtures import get_fixture
from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.guard.tokens import ConfirmationTokens
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.tools.polling import PollSchedule

# Only used to build request URLs: the emulator's transport answers in process.
TENANT_URL = "http://127.0.0.1:8765"
# Poll jitter is seeded so that byte counts and elapsed times are the same on every run.
POLL_JITTER_SEED = 7


@dataclass
class EvalStack:
    mcp: Client
    emulator: Emulator
    clock: ManualClock
    workdir: Path
    instructions: str

    def advance(self, seconds: float) -> None:
        """Time passes (the agent waits, the user takes a while to answer)."""
        self.clock.advance(seconds)


@asynccontextmanager
async def open_eval_stack(start: str, scratch: Path) -> AsyncIterator[EvalStack]:
    """A fresh tenant in the named start state, served through a real MCP client. `scratch` holds the
    server's work folder (exports, imports) and audit log."""
    fixture = get_fixture(start)
    clock = ManualClock()
    emulator = Emulator(clock=clock, demo=fixture.demo)
    workdir = scratch / "work"
    settings = Settings.from_env({}, workdir=workdir, audit_log=scratch / "audit.jsonl", demo=True)
    # Tokens expire in emulator time, so "the user answered ten minutes later" can be rehearsed.
    tokens = ConfirmationTokens(secrets.token_bytes(32), ttl_seconds=settings.confirm_ttl_seconds, clock=clock.now)
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock)
    options: dict[str, Any] = {
        "clock": clock,
        "schedule": PollSchedule(),
        "rng": random.Random(POLL_JITTER_SEED),  # noqa: S311 - jitter, not security
    }
    async with client:
        await fixture.setup(emulator, client)
        server = build_server(settings, client, tokens=tokens, context_options=options)
        async with Client(server) as mcp_client:
            instructions = getattr(server, "instructions", None) or ""
            yield EvalStack(mcp_client, emulator, clock, workdir, instructions)
