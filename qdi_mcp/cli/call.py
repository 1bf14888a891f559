"""`qdi-mcp call TOOL --args JSON`: one tool call through the same server and policy an agent gets.

Exit codes, as for runbooks: 0 the tool succeeded, 1 it failed or the policy refused it, 2 bad usage (an unknown
tool, arguments its input schema rejects, --args not a JSON object, bad configuration), 3 it needs a person's
confirmation and changed nothing. The structured result goes to stdout whatever the outcome; a usage error
also gets one line on stderr saying what to change.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, MCPError

from qdi_mcp import __version__
from qdi_mcp.cli.backend import check_backend, open_client
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings, SettingsError
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT, specs_by_name

EXIT_OK = 0
EXIT_TOOL_FAILED = 1
EXIT_USAGE = 2
# As for runbooks: the call asked for a person's confirmation and changed nothing.
EXIT_CONFIRMATION_NEEDED = 3
# Error codes that mean the command line was wrong, not the tool: fixing the call, not retrying it, helps.
USAGE_ERROR_CODES = frozenset({"unknown_tool", "invalid_arguments"})


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
                f"calls) and call again with the {CONFIRMATION_TOKEN_ARGUMENT}, or use a runbook step with "
                "confirm: true and --yes.",
                file=sys.stderr,
            )
        return EXIT_CONFIRMATION_NEEDED
    if not is_error:
        return EXIT_OK
    code = _error_code(structured)
    if code in USAGE_ERROR_CODES:
        print(f"qdi-mcp: {usage_problem(tool, arguments, structured['error'], specs_by_name())}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_TOOL_FAILED


def _error_code(structured: Any) -> str | None:
    error = structured.get("error") if isinstance(structured, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def usage_problem(tool: str, arguments: Mapping[str, Any], error: Mapping[str, Any], specs: Mapping[str, Any]) -> str:
    """One line for a person at the shell: what was wrong with the call, and the names that would have worked."""
    spec = specs.get(tool)
    if error.get("code") == "unknown_tool" or spec is None:
        close = difflib.get_close_matches(tool, sorted(specs), n=1)
        suggestion = f"; did you mean {close[0]}?" if close else "; `qdi-mcp tools` lists the names"
        return f"unknown tool {tool!r}{suggestion}"
    properties = spec.input_schema.get("properties", {})
    required = set(spec.input_schema.get("required", ()))
    accepted = ", ".join(f"{name} (required)" if name in required else name for name in properties) or "(none)"
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        # The schema's own wording ("Additional properties are not allowed ...") reads like a stack trace.
        noun = "argument" if len(unknown) == 1 else "arguments"
        names = ", ".join(repr(name) for name in unknown)
        return f"unknown {noun} {names} for {tool}; arguments: {accepted}"
    message = str(error.get("message") or f"invalid arguments for {tool}").rstrip(".")
    return f"{message}; arguments: {accepted}"


async def _call(settings: Settings, tool: str, arguments: dict[str, Any]) -> tuple[Any, bool]:
    async with open_client(settings) as client:
        server = build_server(settings, client)
        # Named, so the audit log tells a `qdi-mcp call` from an agent's.
        info = types.Implementation(name="qdi-mcp call", version=__version__)
        async with Client(server, client_info=info) as mcp_client:
            spec = server.qdi.specs.get(tool)
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
