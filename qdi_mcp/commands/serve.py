"""`qdi-mcp serve`: the MCP server over stdio (default) or streamable HTTP."""

from __future__ import annotations

import argparse
import logging
import sys

import anyio

from qdi_mcp.backend import open_client
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings, SettingsError
from qdi_mcp.transports import TransportConfigError, check_bind, run_http, run_stdio

logger = logging.getLogger("qdi_mcp.serve")


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if not settings.demo:
            settings.require_tenant()
        if args.transport == "http":
            check_bind(args.host, allow_remote=args.allow_remote, token=settings.http_token)
    except (SettingsError, TransportConfigError) as exc:
        print(f"qdi-mcp: {exc}", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        print(connection_help(settings, args), file=sys.stderr)
    try:
        anyio.run(_serve, settings, args)
    except KeyboardInterrupt:
        return 0
    return 0


async def _serve(settings: Settings, args: argparse.Namespace) -> None:
    async with open_client(settings) as client:
        server = build_server(settings, client)
        backend = "the embedded demo emulator" if settings.demo else "the configured Qlik tenant"
        logger.info("qdi-mcp serving %d tools against %s", len(server.qdi.specs), backend)
        if args.transport == "http":
            await run_http(
                server, host=args.host, port=args.port, token=settings.http_token, allow_remote=args.allow_remote
            )
        else:
            await run_stdio(server)


def connection_help(settings: Settings, args: argparse.Namespace) -> str:
    demo = " --demo" if settings.demo else ""
    if args.transport == "http":
        return (
            f"qdi-mcp: streamable HTTP at http://{args.host}:{args.port}/mcp\n"
            f"  Claude Code:  claude mcp add --transport http qdi http://{args.host}:{args.port}/mcp\n"
            "  Press Ctrl+C to stop."
        )
    desktop_args = '["serve", "--demo"]' if settings.demo else '["serve"]'
    return (
        "qdi-mcp: speaking MCP over stdio; an MCP client should start this command, not a person.\n"
        f"  Claude Code:     claude mcp add qdi -- qdi-mcp serve{demo}\n"
        f'  Claude Desktop:  {{"mcpServers": {{"qdi": {{"command": "qdi-mcp", "args": {desktop_args}}}}}}}\n'
        "  Try it here:     qdi-mcp call qdi_list_projects --demo\n"
        "  Press Ctrl+C to stop."
    )
