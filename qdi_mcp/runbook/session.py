"""The runner's way to the tools: the same MCP server an agent gets, through an in-memory `mcp.Client`.

So read-only mode, toolsets, confirmation and the audit log apply to every step exactly as they apply to an
agent; the runner never calls a handler or the API client directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.shared.dispatcher import ProgressFnT

from qdi_mcp import __version__
from qdi_mcp.api import QlikClient
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.specs import ToolSpec

# (progress, total, message), as the SDK calls it
ProgressCallback = ProgressFnT


@dataclass
class ToolSession:
    client: Client
    served: Mapping[str, ToolSpec]  # the tools this server offers under its policy
    refused: Mapping[str, str]  # tool name -> why the policy leaves it out
    # False under QDI_MCP_CONFIRM=never: the server would run a destructive call without returning
    # confirmation_required, so the runner must apply its confirm-and-yes rule before calling.
    server_asks_first: bool = True

    @classmethod
    def for_server(cls, client: Client, server: Any) -> ToolSession:
        """`server` is what build_server returned (or its `.qdi`)."""
        qdi = getattr(server, "qdi", server)
        return cls(client, qdi.specs, qdi.refused, server_asks_first=qdi.settings.confirm != "never")

    async def call(self, tool: str, arguments: dict[str, Any], progress: ProgressCallback | None = None) -> Any:
        return await self.client.call_tool(tool, arguments, progress_callback=progress)


@asynccontextmanager
async def open_session(
    settings: Settings, client: QlikClient, *, context_options: dict[str, Any] | None = None
) -> AsyncIterator[ToolSession]:
    """A session on the server `settings` describe, calling Qlik through `client` (the CLI opens it for the back
    end the settings choose). Tests and rehearsals pass `context_options` (the waits' clock and poll schedule),
    so a runbook with long waits runs on a virtual clock."""
    server = build_server(settings, client, context_options=context_options)
    # Named, so the audit log tells a runbook's calls from an agent's.
    info = types.Implementation(name="qdi-mcp runbook", version=__version__)
    async with Client(server, client_info=info) as mcp_client:
        yield ToolSession.for_server(mcp_client, server)
