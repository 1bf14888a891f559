"""Command line entry point: `qdi-mcp serve | tools | call | runbook | emulator`.

Exit codes: 0 success, 1 the tool, a runbook step or an expectation failed (for `call`, also a workflow that
ended FAILED), 2 bad usage or configuration (including an unknown tool or arguments a tool's schema rejects), 3 a
call or a runbook step needs confirmation (nothing was changed), 4 a `call`'s workflow timed out.
Output into a closed pipe (`| head`) ends with 1 and no traceback.
Logs go to stderr only: under stdio, stdout is the MCP wire.
"""

from __future__ import annotations

import argparse
import os
import sys

from qdi_mcp import __version__
from qdi_mcp.cli.flags import add_setting_flags, epilog_for, flag_values
from qdi_mcp.cli.help_texts import REMOTE_BIND_HELP, RUNBOOK_EXIT_CODES
from qdi_mcp.settings import OPTIONS, Settings, SettingsError, check_tool_names, check_workdir

EXIT_USAGE = 2
# A closed pipe (`qdi-mcp tools --json | head`): the reader has what it wanted, the rest was not delivered.
EXIT_BROKEN_PIPE = 1

CALL_EXIT_CODES = """\
exit codes:
  0  the tool succeeded
  1  the tool failed or was refused by policy (the structured error is printed on stdout),
     or the workflow it ran ended FAILED
  2  bad usage: unknown tool, arguments that do not match its input schema, --args not a JSON object,
     or bad configuration (nothing was called)
  3  the call needs a person's confirmation; nothing was changed
  4  a workflow's wait timed out: the action goes on (resume it with the tool the result names)

"""
SETTINGS_TITLE = "settings (a flag wins over its environment variable)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qdi-mcp",
        description="MCP server for Qlik Cloud Data Integration projects.",
    )
    parser.add_argument("--version", action="version", version=f"qdi-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="run the MCP server (stdio by default)", **epilog_for("serve", before=REMOTE_BIND_HELP)
    )
    add_setting_flags(serve, "serve", title=SETTINGS_TITLE)
    serve.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default): an MCP host starts this command; http: streamable HTTP at http://HOST:PORT/mcp",
    )
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback HTTP bind (needs a token and QDI_MCP_HTTP_ALLOWED_HOSTS)",
    )

    tools = sub.add_parser(
        "tools", help="list the tools that would be served, with their model-visible size", **epilog_for("tools")
    )
    add_setting_flags(tools, "tools", title=SETTINGS_TITLE)
    tools.add_argument("name", nargs="?", metavar="NAME", help="one tool: its description and arguments")
    tools.add_argument("--json", action="store_true", help="print JSON (with descriptions and input schemas)")

    call = sub.add_parser(
        "call",
        help="run one tool through the server and print its structured result",
        **epilog_for("call", before=CALL_EXIT_CODES),
    )
    add_setting_flags(call, "call", title=SETTINGS_TITLE)
    call.add_argument("tool", help="tool name, e.g. qdi_list_projects")
    call.add_argument(
        "--args",
        default="{}",
        help="tool arguments as a JSON object: inline, @FILE (read from a file) or - (read from stdin)",
    )

    runbook = sub.add_parser(
        "runbook",
        help="run a YAML runbook of tool calls through the server (CI automation)",
        **epilog_for("runbook", before=RUNBOOK_EXIT_CODES),
    )
    add_setting_flags(runbook, "runbook", title=SETTINGS_TITLE)
    runbook.add_argument("file", help="runbook YAML file, e.g. examples/runbooks/health-check.yaml")
    runbook.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set a runbook var (repeatable)"
    )
    runbook.add_argument("--dry-run", action="store_true", help="print the plan; call read tools only")
    runbook.add_argument(
        "--yes", action="store_true", help="let steps marked confirm: true run destructive calls without asking"
    )
    runbook.add_argument("--json", action="store_true", help="print a machine-readable JSON report")

    emulator = sub.add_parser(
        "emulator", help="serve the emulated Qlik tenant over HTTP on loopback", **epilog_for("emulator")
    )
    emulator.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --allow-remote)"
    )
    emulator.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    emulator.add_argument("--allow-remote", action="store_true", help="allow binding to a non-loopback address")
    add_setting_flags(emulator, "emulator", title=SETTINGS_TITLE)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(flags=flag_values(args, OPTIONS))


def check_start(settings: Settings, args: argparse.Namespace) -> None:
    """What settings alone cannot know: tool names against the specs, the work folder against the disk."""
    if settings.tools or settings.exclude_tools:
        # Loaded only when a selection names tools; the server loads them (cached) at start anyway.
        from qdi_mcp.specs import load_specs

        known = {spec.name for spec in load_specs()}
        check_tool_names(settings.tools, known, source=settings.source_of("tools") or "QDI_MCP_TOOLS")
        check_tool_names(
            settings.exclude_tools, known, source=settings.source_of("exclude_tools") or "QDI_MCP_EXCLUDE_TOOLS"
        )
    if args.command in ("serve", "call", "runbook"):
        # Where the work folder came from, so an error points at what the person set (or did not).
        check_workdir(settings.workdir, source=settings.source_of("workdir") or "the default work folder")


def main(argv: list[str] | None = None) -> int:
    try:
        exit_code = _main(argv)
        # Flushed here, not at interpreter exit, so a closed pipe is caught below instead of printed as a traceback.
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except BaseExceptionGroup as group:
        # Written from inside a task group (a runbook's progress), the closed pipe arrives wrapped.
        closed_pipe, anything_else = group.split(BrokenPipeError)
        if closed_pipe is None or anything_else is not None:
            raise
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return exit_code


def _silence_stdout() -> None:
    # The standard idiom: point stdout at devnull so the interpreter's final flush cannot fail again.
    try:
        stdout_fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real descriptor behind stdout: nothing left to flush
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stdout_fd)
    finally:
        os.close(devnull)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from qdi_mcp.cli.logs import configure_logging

    try:
        if args.command == "emulator":
            from qdi_mcp.cli.emulator import run_emulator

            configure_logging("INFO", [])
            return run_emulator(args)
        settings = settings_from_args(args)
        check_start(settings, args)
    except SettingsError as exc:
        print(f"qdi-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.secrets())
    if args.command == "serve":
        from qdi_mcp.cli.serve import run_serve

        return run_serve(settings, args)
    if args.command == "tools":
        from qdi_mcp.cli.tools import run_tools

        return run_tools(settings, json_output=args.json, name=args.name)
    if args.command == "runbook":
        from qdi_mcp.cli.runbook import run_runbook_command

        return run_runbook_command(settings, args)
    from qdi_mcp.cli.call import run_call

    return run_call(settings, args.tool, args.args)
