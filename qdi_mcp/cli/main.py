"""Command line entry point: `qdi-mcp serve | tools | call | runbook | emulator`.

Exit codes: 0 success, 1 the tool, a runbook step or an expectation failed, 2 bad usage or configuration
(including an unknown tool or arguments a tool's schema rejects), 3 a call or a runbook step needs
confirmation (nothing was changed). Output into a closed pipe (`| head`) ends with 1 and no traceback.
Logs go to stderr only: under stdio, stdout is the MCP wire.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qdi_mcp import __version__
from qdi_mcp.settings import TOOLSETS, Settings, SettingsError, check_tool_names, check_workdir

EXIT_USAGE = 2
# A closed pipe (`qdi-mcp tools --json | head`): the reader has what it wanted, the rest was not delivered.
EXIT_BROKEN_PIPE = 1

ENVIRONMENT_EPILOG = """\
main environment variables (flags win over them):
  QLIK_TENANT_URL          https://<tenant>.<region>.qlikcloud.com (not needed with --demo)
  QLIK_API_KEY             API key; or QLIK_CLIENT_ID and QLIK_CLIENT_SECRET (OAuth2), never both ways
  QDI_MCP_READ_ONLY        1 to serve read tools only (--read-only)
  QDI_MCP_TOOLSETS         comma list of toolsets, or all (--toolsets)
  QDI_MCP_TOOLS            serve only these tools (--tools); QDI_MCP_EXCLUDE_TOOLS hides some (--exclude-tools)
  QDI_MCP_WORKDIR          folder for exports and imports, default ~/qdi-mcp-work (--workdir)
  QDI_MCP_AUDIT_LOG        audit log, default <workdir>/audit.jsonl (--audit-log)
  QDI_MCP_SECRET           key that signs confirmation tokens (default: random per process)
  QDI_MCP_LOG_LEVEL        DEBUG, INFO (default), WARNING, ERROR or CRITICAL; logs go to stderr
  QDI_EMULATOR_SPEED       demo clock multiplier, default 1.0 (--speed)
"""

CALL_EPILOG = (
    """\
exit codes:
  0  the tool succeeded
  1  the tool failed or was refused by policy (the structured error is printed on stdout)
  2  bad usage: unknown tool, arguments that do not match its input schema, --args not a JSON object,
     or bad configuration (nothing was called)
  3  the call needs a person's confirmation; nothing was changed

"""
    + ENVIRONMENT_EPILOG
)


def _add_policy_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tool selection and guardrails")
    group.add_argument("--demo", action="store_true", default=None, help="use the embedded emulator (no tenant needed)")
    group.add_argument(
        "--speed",
        type=float,
        default=None,
        help="with --demo: the emulator's clock multiplier, e.g. 10 (QDI_EMULATOR_SPEED, default 1.0)",
    )
    group.add_argument(
        "--read-only", action="store_true", default=None, help="serve read tools only (QDI_MCP_READ_ONLY)"
    )
    group.add_argument("--toolsets", help=f"comma list of toolsets: {', '.join(TOOLSETS)}, or all (QDI_MCP_TOOLSETS)")
    group.add_argument("--tools", help="comma list of tool names to serve (QDI_MCP_TOOLS)")
    group.add_argument("--exclude-tools", help="comma list of tool names to hide (QDI_MCP_EXCLUDE_TOOLS)")
    group.add_argument(
        "--no-confirm",
        action="store_true",
        default=None,
        help="run destructive calls without confirmation, for trusted automation (QDI_MCP_CONFIRM=never)",
    )
    group.add_argument("--workdir", help="folder for exports and imports (QDI_MCP_WORKDIR, default ~/qdi-mcp-work)")
    group.add_argument("--audit-log", help="audit log path, JSON lines (QDI_MCP_AUDIT_LOG)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qdi-mcp",
        description="MCP server for Qlik Cloud Data Integration projects.",
    )
    parser.add_argument("--version", action="version", version=f"qdi-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    with_epilog = {"epilog": ENVIRONMENT_EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)", **with_epilog)
    _add_policy_flags(serve)
    serve.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default): an MCP host starts this command; http: streamable HTTP at http://HOST:PORT/mcp",
    )
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback HTTP bind (needs a token)")
    serve.add_argument("--http-token", help="bearer token HTTP clients must send (QDI_MCP_HTTP_TOKEN)")

    tools = sub.add_parser(
        "tools", help="list the tools that would be served, with their model-visible size", **with_epilog
    )
    _add_policy_flags(tools)
    tools.add_argument("--json", action="store_true", help="print JSON")

    call = sub.add_parser(
        "call",
        help="run one tool through the server and print its structured result",
        epilog=CALL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_policy_flags(call)
    call.add_argument("tool", help="tool name, e.g. qdi_list_projects")
    call.add_argument("--args", default="{}", help="tool arguments as a JSON object")

    runbook = sub.add_parser(
        "runbook", help="run a YAML runbook of tool calls through the server (CI automation)", **with_epilog
    )
    _add_policy_flags(runbook)
    runbook.add_argument("file", help="runbook YAML file, e.g. examples/runbooks/health-check.yaml")
    runbook.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="set a runbook var (repeatable)"
    )
    runbook.add_argument("--dry-run", action="store_true", help="print the plan; call read tools only")
    runbook.add_argument(
        "--yes", action="store_true", help="let steps marked confirm: true run destructive calls without asking"
    )
    runbook.add_argument("--json", action="store_true", help="print a machine-readable JSON report")

    emulator = sub.add_parser("emulator", help="serve the emulated Qlik tenant over HTTP on loopback")
    emulator.add_argument(
        "--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need --allow-remote)"
    )
    emulator.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    emulator.add_argument("--speed", type=float, default=None, help="clock multiplier (QDI_EMULATOR_SPEED)")
    emulator.add_argument("--allow-remote", action="store_true", help="allow binding to a non-loopback address")
    return parser


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(p.strip() for p in value.split(",") if p.strip())


def settings_from_args(args: argparse.Namespace) -> Settings:
    raw_toolsets = getattr(args, "toolsets", None)
    # As for QDI_MCP_TOOLSETS: toolset names are case-insensitive.
    toolsets = _csv(raw_toolsets.lower()) if raw_toolsets is not None else None
    if toolsets is not None and (not toolsets or "all" in toolsets):
        toolsets = TOOLSETS
    unknown = [t for t in toolsets or () if t not in TOOLSETS]
    if unknown:
        raise SettingsError(f"--toolsets: unknown toolset {unknown[0]!r}; choose from {', '.join(TOOLSETS)} or 'all'")
    workdir = getattr(args, "workdir", None)
    audit_log = getattr(args, "audit_log", None)
    return Settings.from_env(
        demo=getattr(args, "demo", None),
        read_only=getattr(args, "read_only", None),
        toolsets=toolsets,
        tools=_csv(getattr(args, "tools", None)),
        exclude_tools=_csv(getattr(args, "exclude_tools", None)),
        confirm="never" if getattr(args, "no_confirm", None) else None,
        workdir=Path(workdir) if workdir else None,
        audit_log=Path(audit_log) if audit_log else None,
        http_token=getattr(args, "http_token", None),
        emulator_speed=getattr(args, "speed", None),
    )


def check_start(settings: Settings, args: argparse.Namespace) -> None:
    """What settings alone cannot know: tool names against the specs, the work folder against the disk."""
    if settings.tools or settings.exclude_tools:
        # Loaded only when a selection names tools; the server loads them (cached) at start anyway.
        from qdi_mcp.specs import load_specs

        known = {spec.name for spec in load_specs()}
        check_tool_names(settings.tools, known, source="--tools" if args.tools is not None else "QDI_MCP_TOOLS")
        check_tool_names(
            settings.exclude_tools,
            known,
            source="--exclude-tools" if args.exclude_tools is not None else "QDI_MCP_EXCLUDE_TOOLS",
        )
    if args.command in ("serve", "call", "runbook"):
        check_workdir(settings.workdir, source=_workdir_source(args))


def _workdir_source(args: argparse.Namespace) -> str:
    """Where the work folder came from, so an error points at what the person set (or did not)."""
    if getattr(args, "workdir", None):
        return "--workdir"
    if os.environ.get("QDI_MCP_WORKDIR"):
        return "QDI_MCP_WORKDIR"
    return "the default work folder"


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

        return run_tools(settings, json_output=args.json)
    if args.command == "runbook":
        from qdi_mcp.cli.runbook import run_runbook_command

        return run_runbook_command(settings, args)
    from qdi_mcp.cli.call import run_call

    return run_call(settings, args.tool, args.args)
