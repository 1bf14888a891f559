"""The chain every server-level test builds on (STYLE.md):

    emulator (manual clock) → httpx transport → QlikClient → build_server(settings, client) → mcp.Client

The client's waits poll on the emulator's own `ManualClock` (one instance, shared), so a wait moves the
tenant's state machines, a 300 s prepare runs in milliseconds and nothing sleeps for real.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import Clock, ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.server import QdiServer, build_server
from qdi_mcp.settings import Settings
from qdi_mcp.tools.polling import PollSchedule

TENANT_URL = "http://127.0.0.1:8765"
CUSTOMER_360 = "Customer 360"
CUSTOMER_360_PROD = "Customer 360 (prod)"
ORDERS = "Orders replication"
SALES_QVD = "Sales QVD"


@dataclass
class Stack:
    mcp: Client
    emulator: Emulator
    qdi: QdiServer
    client: QlikClient
    clock: Clock

    @property
    def audit(self) -> list[dict[str, Any]]:
        return self.qdi.audit.records

    def project_id(self, name: str) -> str:
        return self.emulator.project_id(name)

    def task_id(self, project: str, task: str) -> str:
        return self.emulator.task_id(self.project_id(project), task)

    def reads_and_writes(self) -> int:
        """How many API requests reached the emulator so far (any operation)."""
        return sum(self.emulator.requests.values())


def put(tmp_path: Path, name: str, data: bytes) -> str:
    """Write `data` as `name` into the work folder `make_settings` gives a stack; the name tools take."""
    folder = tmp_path / "work"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return name


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"workdir": tmp_path / "work", "audit_log": tmp_path / "audit.jsonl", "demo": True}
    values.update(overrides)
    return Settings.from_env({}, **values)


@asynccontextmanager
async def open_stack(
    tmp_path: Path,
    *,
    emulator: Emulator | None = None,
    elicitation_callback: Any = None,
    mode: str = "auto",
    rate_limits: bool = False,
    client_info: Any = None,
    **settings_overrides: Any,
) -> AsyncIterator[Stack]:
    emulator = emulator or Emulator(clock=ManualClock(), rate_limits=rate_limits)
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    settings = make_settings(tmp_path, **settings_overrides)
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock)
    options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(7)}
    async with client:
        server = build_server(settings, client, context_options=options)
        async with Client(
            server, mode=mode, elicitation_callback=elicitation_callback, client_info=client_info
        ) as mcp_client:
            yield Stack(mcp_client, emulator, server.qdi, client, clock)


async def call_ok(stack: Stack, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call `tool` and return its structured result, after checking that it succeeded, fits the tool's output
    schema, and carries a short text for people."""
    import jsonschema

    from qdi_mcp.specs import get_spec

    result = await stack.mcp.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    structured = result.structured_content
    jsonschema.validate(structured, get_spec(tool).output_schema)
    assert result.content[0].text.strip(), "every result carries a short text for people"
    return structured


def respx_client(
    router: Any, *, tenant: str, auth: Any = None, clock: ManualClock | None = None, retry: Any = None, **options: Any
) -> QlikClient:
    """A QlikClient whose requests go to a respx router (the API tests): a manual clock and jitter-free retries,
    so retry and back-off tests never sleep and always see the same delays."""
    from qdi_mcp.api import RetryPolicy

    return QlikClient(
        tenant,
        auth=auth or ApiKeyAuth("key"),
        transport=httpx.MockTransport(router.async_handler),
        clock=clock or ManualClock(),
        retry=retry or RetryPolicy(jitter=False),
        **options,
    )
