"""`qdi-mcp call TOOL --args JSON`: one tool call through the same server and policy an agent gets.

Exit codes (`CALL_EXIT_CODES` in main.py lists them for `--help`): 0 the tool succeeded, 1 it failed, the policy
refused it, or the workflow it ran ended FAILED, 2 bad usage (an unknown tool, arguments its input schema rejects,
--args not a JSON object, bad configuration), 3 it needs a person's confirmation and changed nothing, 4 a workflow's
wait ran out of time (the action goes on; resume it). The structured result, or a structured error, goes to
stdout whatever the outcome; a usage error also gets the same cause as one line on stderr.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, MCPError

from qdi_mcp import __version__
from qdi_mcp.cli.backend import check_backend, open_client
from qdi_mcp.failures import ToolFailure
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings, SettingsError
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT, specs_by_name

EXIT_OK = 0
EXIT_TOOL_FAILED = 1
EXIT_USAGE = 2
# As for runbooks: the call asked for a person's confirmation and changed nothing.
EXIT_CONFIRMATION_NEEDED = 3
# Not a failure: the action goes on in the tenant and can be waited for again (the result names how).
EXIT_TIMED_OUT = 4
# Error codes that mean the command line was wrong, not the tool: fixing the call, not retrying it, helps.
USAGE_ERROR_CODES = frozenset({"unknown_tool", "invalid_arguments"})
# The final states of a waited action or run that mean the work did not succeed although the tool did its job.
FAILED_STATES = frozenset({"FAILED"})
# Each `call` is a new server with its own random signing key unless QDI_MCP_SECRET is set: a token dies with the
# process that issued it. This is the one way through from the shell, said wherever the person meets the problem.
CONFIRM_FROM_THE_SHELL = (
    "each qdi-mcp call signs its tokens with a key of its own: set QDI_MCP_SECRET (at least 32 random characters, the "
    f"same value for both calls) and call again without {CONFIRMATION_TOKEN_ARGUMENT} to get a token that the next "
    "call accepts, or run the call as a runbook step with confirm: true and `qdi-mcp runbook --yes`"
)

ARGS_HINT = 'give a JSON object inline, as @file.json or as - (read from stdin), e.g. --args \'{"project_id": "..."}\''


class ArgsError(ValueError):
    """--args could not be read as a JSON object (the message names what to change)."""


def run_call(settings: Settings, tool: str, raw_args: str) -> int:
    try:
        arguments = read_arguments(raw_args)
    except ArgsError as exc:
        return _usage_error(ToolFailure("invalid_arguments", str(exc), field="--args", hint=ARGS_HINT))
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
    if isinstance(structured, dict) and structured.get("status") == "confirmation_required":
        if not settings.secret:
            structured = {**structured, "hint": CONFIRM_FROM_THE_SHELL}
            print(f"qdi-mcp: nothing was done; {CONFIRM_FROM_THE_SHELL}.", file=sys.stderr)
        _print_json(structured)
        return EXIT_CONFIRMATION_NEEDED
    if not is_error:
        _print_json(structured)
        return outcome_exit_code(tool, structured)
    code = _error_code(structured)
    if code in USAGE_ERROR_CODES:
        problem, field = usage_problem(tool, arguments, structured["error"], specs_by_name())
        # One cause on both channels: the schema's first complaint is often not the person's mistake.
        error = {**structured["error"], "message": problem}
        if field is not None:
            error["field"] = field
        _print_json({**structured, "error": error})
        print(f"qdi-mcp: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if code == "confirmation_invalid" and not settings.secret and _has_token(arguments):
        # Without a shared secret no token from another process can ever pass: say why, not "signature mismatch".
        error = {
            **structured["error"],
            "message": "nothing was done: this confirmation token came from another qdi-mcp call, whose key is gone",
            "hint": CONFIRM_FROM_THE_SHELL,
        }
        structured = {**structured, "error": error}
        print(f"qdi-mcp: nothing was done; {CONFIRM_FROM_THE_SHELL}.", file=sys.stderr)
    _print_json(structured)
    return EXIT_TOOL_FAILED


def read_arguments(raw: str) -> dict[str, Any]:
    """--args: inline JSON, `@path` (a file holding the JSON) or `-` (stdin). No JSON text starts with @ or is
    a lone -, so neither form can shadow an inline value."""
    where = "--args"
    if raw == "-":
        text, where = sys.stdin.read(), "--args - (stdin)"
    elif raw.startswith("@"):
        path = Path(raw[1:]).expanduser()
        where = f"--args {raw}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ArgsError(f"{where}: cannot read {path}: {reason}") from None
    else:
        text = raw
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgsError(f"{where} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(arguments, dict):
        raise ArgsError(f"{where} must be a JSON object, not {type(arguments).__name__}")
    return arguments


def _usage_error(failure: ToolFailure) -> int:
    _print_json({"error": failure.to_dict()})
    print(f"qdi-mcp: {failure.message}", file=sys.stderr)
    return EXIT_USAGE


def _print_json(structured: Any) -> None:
    print(json.dumps(structured, indent=2, ensure_ascii=False))


def _has_token(arguments: Mapping[str, Any]) -> bool:
    token = arguments.get(CONFIRMATION_TOKEN_ARGUMENT)
    return isinstance(token, str) and bool(token.strip())


def outcome_exit_code(tool: str, structured: Any) -> int:
    """A workflow that waited reports a FAILED action or a timeout as its result, not as an error: the exit code
    must still tell a script that the work did not succeed."""
    spec = specs_by_name().get(tool)
    if spec is None or spec.kind != "workflow" or not isinstance(structured, dict):
        return EXIT_OK
    if structured.get("timed_out") is True:
        print(f"qdi-mcp: {tool} timed out; {structured.get('hint') or 'the action goes on'}", file=sys.stderr)
        return EXIT_TIMED_OUT
    if str(structured.get("state")).upper() in FAILED_STATES:  # a pipeline run's states are lower case
        print(
            f"qdi-mcp: {tool} ended {structured['state']}; {structured.get('hint') or ''}".rstrip("; "), file=sys.stderr
        )
        return EXIT_TOOL_FAILED
    return EXIT_OK


def _error_code(structured: Any) -> str | None:
    error = structured.get("error") if isinstance(structured, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def usage_problem(
    tool: str, arguments: Mapping[str, Any], error: Mapping[str, Any], specs: Mapping[str, Any]
) -> tuple[str, str | None]:
    """For a person at the shell: what was wrong with the call, the names that would have worked, and the
    argument at fault (None when the schema's own field stands)."""
    spec = specs.get(tool)
    if error.get("code") == "unknown_tool" or spec is None:
        close = difflib.get_close_matches(tool, sorted(specs), n=1)
        suggestion = f"; did you mean {close[0]}?" if close else "; `qdi-mcp tools` lists the names"
        return f"unknown tool {tool!r}{suggestion}", None
    properties = spec.input_schema.get("properties", {})
    required = set(spec.input_schema.get("required", ()))
    accepted = ", ".join(f"{name} (required)" if name in required else name for name in properties) or "(none)"
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        # A misspelt name is the cause; the schema also reports the required name as missing, and its wording
        # ("Additional properties are not allowed ...") reads like a stack trace.
        noun = "argument" if len(unknown) == 1 else "arguments"
        names = ", ".join(repr(name) for name in unknown)
        close = difflib.get_close_matches(unknown[0], list(properties), n=1)
        suggestion = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown {noun} {names} for {tool}{suggestion}; arguments: {accepted}", unknown[0]
    message = str(error.get("message") or f"invalid arguments for {tool}").rstrip(".")
    return f"{message}; arguments: {accepted}", None


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
