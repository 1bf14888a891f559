"""Command line entry point: `qdi-mcp serve | tools | call | runbook | emulator`.

Exit codes: 0 success, 1 the tool, a runbook step or an expectation failed, 2 bad usage or configuration,
3 a runbook step needs confirmation (nothing was changed).
Logs go to stderr only: under stdio, stdout is the MCP wire.
"""

from __future__ import annotations

import argparse
import sys

from qdi_mcp import __version__
from qdi_mcp.settings import TOOLSETS, Settings, SettingsError


def _add_policy_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tool selection and guardrails")
    group.add_argument("--demo", action="store_true", default=None, help="use the embedded emulator (no tenant needed)")
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
    group.add_argument("--workdir", help="folder for exports and imports (QDI_MCP_WORKDIR)")
    group.add_argument("--audit-log", help="audit log path, JSON lines (QDI_MCP_AUDIT_LOG)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qdi-mcp",
        description="MCP server for Qlik Cloud Data Integration projects.",
    )
    parser.add_argument("--version", action="version", version=f"qdi-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _add_policy_flags(serve)
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback HTTP bind (needs a token)")
    serve.add_argument("--http-token", help="bearer token HTTP clients must send (QDI_MCP_HTTP_TOKEN)")

    tools = sub.add_parser("tools", help="list the tools that would be served, with their model-visible size")
    _add_policy_flags(tools)
    tools.add_argument("--json", action="store_true", help="print JSON")

    call = sub.add_parser("call", help="run one tool through the server and print its structured result")
    _add_policy_flags(call)
    call.add_argument("tool", help="tool name, e.g. qdi_list_projects")
    call.add_argument("--args", default="{}", help="tool arguments as a JSON object")

    runbook = sub.add_parser("runbook", help="run a YAML runbook of tool calls through the server (CI automation)")
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
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--speed", type=float, default=None, help="clock multiplier (QDI_EMULATOR_SPEED)")
    emulator.add_argument("--allow-remote", action="store_true", help="allow binding to a non-loopback address")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    def csv(value: str | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(p.strip() for p in value.split(",") if p.strip())

    toolsets = csv(getattr(args, "toolsets", None))
    if toolsets is not None and (not toolsets or "all" in toolsets):
        toolsets = TOOLSETS
    workdir = getattr(args, "workdir", None)
    audit_log = getattr(args, "audit_log", None)
    from pathlib import Path

    return Settings.from_env(
        demo=getattr(args, "demo", None),
        read_only=getattr(args, "read_only", None),
        toolsets=toolsets,
        tools=csv(getattr(args, "tools", None)),
        exclude_tools=csv(getattr(args, "exclude_tools", None)),
        confirm="never" if getattr(args, "no_confirm", None) else None,
        workdir=Path(workdir) if workdir else None,
        audit_log=Path(audit_log) if audit_log else None,
        http_token=getattr(args, "http_token", None),
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from qdi_mcp.logs import configure_logging

    try:
        if args.command == "emulator":
            from qdi_mcp.commands.emulator import run_emulator

            configure_logging("INFO", [])
            return run_emulator(args)
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"qdi-mcp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.secrets())
    if args.command == "serve":
        from qdi_mcp.commands.serve import run_serve

        return run_serve(settings, args)
    if args.command == "tools":
        from qdi_mcp.commands.tools import run_tools

        return run_tools(settings, json_output=args.json)
    if args.command == "runbook":
        from qdi_mcp.commands.runbook import run_runbook_command

        return run_runbook_command(settings, args)
    from qdi_mcp.commands.call import run_call

    return run_call(settings, args.tool, args.args)
