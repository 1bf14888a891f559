"""`qdi-mcp call TOOL --args JSON`: one tool call through the same server and policy an agent gets."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, MCPError

from qdi_mcp import __version__
from qdi_mcp.backend import check_backend, open_client
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings, SettingsError

# As for runbooks: the call asked for a person's confirmation and changed nothing.
EXIT_CONFIRMATION_NEEDED = 3


def run_call(settings: Settings, tool: str, raw_args: str) -> int:
    try:
        arguments = json.loads(raw_args)
    except json.JSONDecodeError as exc:
        print(f"qdi-mcp: --args is not valid JSON: {exc.msg} at position {exc.pos}", file=sys.stderr)
        return 2
    if not isinstance(arguments, dict):
        print('qdi-mcp: --args must be a JSON object, e.g. \'{"project_id": "..."}\'', file=sys.stderr)
        return 2
    try:
        check_backend(settings)
    except SettingsError as exc:
        print(f"qdi-mcp: {exc}", file=sys.stderr)
        return 2
    try:
        structured, is_error = anyio.run(_call, settings, tool, arguments)
    except MCPError as exc:
        # A protocol-level error (a bug in the server, not a tool failure): one line, no traceback.
        print(f"qdi-mcp: the server failed to run {tool}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(structured, indent=2, ensure_ascii=False))
    if isinstance(structured, dict) and structured.get("status") == "confirmation_required":
        if not settings.secret:
            # Each `call` is a new server with its own random signing key: the token dies with this process.
            print(
                "qdi-mcp: nothing was done. To confirm from the shell, set QDI_MCP_SECRET (the same value for both "
                "calls) and call again with the confirmation_token, or use a runbook step with confirm: true and "
                "--yes.",
                file=sys.stderr,
            )
        return EXIT_CONFIRMATION_NEEDED
    return 1 if is_error else 0


async def _call(settings: Settings, tool: str, arguments: dict[str, Any]) -> tuple[Any, bool]:
    async with open_client(settings) as client:
        server = build_server(settings, client)
        # Named, so the audit log tells a `qdi-mcp call` from an agent's.
        info = types.Implementation(name="qdi-mcp call", version=__version__)
        async with Client(server, client_info=info) as mcp_client:
            spec = server.qdi.specs.get(tool)  # type: ignore[attr-defined]
            # Workflow tools wait: on a terminal show them moving (on stderr: stdout carries the JSON result).
            if spec is not None and spec.kind == "workflow" and sys.stderr.isatty():
                result = await _call_with_progress(mcp_client, tool, arguments)
            else:
                result = await mcp_client.call_tool(tool, arguments)
    structured = result.structured_content
    if structured is None:
        # Every qdi tool returns structured content; keep whatever text came back rather than print null.
        structured = {"text": "\n".join(getattr(block, "text", "") for block in result.content)}
    return structured, bool(result.is_error)


async def _call_with_progress(mcp_client: Any, tool: str, arguments: dict[str, Any]) -> Any:
    """The call with a live spinner/bar fed by the tool's MCP progress notifications."""
    from rich.console import Console

    from qdi_mcp.runbook.progress import ToolProgress

    with ToolProgress(Console(stderr=True)) as display:
        display.begin(tool)
        return await mcp_client.call_tool(tool, arguments, progress_callback=display.update)
