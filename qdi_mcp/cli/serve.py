"""`qdi-mcp serve`: the MCP server over stdio (default) or streamable HTTP.

Everything that can be wrong with the configuration is checked before the event loop starts, so a bad
setup exits at once with code 2 and one line saying what to set; for HTTP that includes binding the port.
A work folder or audit log that cannot be written is only a warning: reads still work, and every write is
refused (audit_unavailable) rather than run unrecorded.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

import anyio

from qdi_mcp.cli.backend import check_backend, client_on_demand
from qdi_mcp.server.transports import (
    TransportConfigError,
    bind_socket,
    check_bind,
    is_loopback,
    run_http,
    run_stdio,
    url_host,
)
from qdi_mcp.settings import Settings, SettingsError

logger = logging.getLogger("qdi_mcp.serve")


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    sock: socket.socket | None = None
    try:
        check_backend(settings)
        if args.transport == "http":
            check_bind(
                args.host,
                allow_remote=args.allow_remote,
                token=settings.http_token,
                token_set_by=settings.source_of("http_token") or "QDI_MCP_HTTP_TOKEN",
            )
            sock = bind_socket(args.host, args.port)
    except (SettingsError, TransportConfigError) as exc:
        print(f"qdi-mcp: {exc}", file=sys.stderr)
        return 2
    problem = storage_problem(settings)
    if problem is not None:
        logger.warning("%s", problem)
    port = sock.getsockname()[1] if sock is not None else args.port
    if args.transport == "http":
        unreachable = remote_bind_problem(args.host, port, settings.http_allowed_hosts)
        if unreachable is not None:
            logger.warning("%s", unreachable)
    if sys.stdin.isatty():
        print(connection_help(settings, args, port=port), file=sys.stderr)
    try:
        anyio.run(_serve, settings, args, sock)
    except KeyboardInterrupt:
        return 0
    finally:
        if sock is not None:
            sock.close()
    return 0


async def _serve(settings: Settings, args: argparse.Namespace, sock: socket.socket | None) -> None:
    # Imported only once the configuration checked out: a bad setup exits without loading the MCP SDK.
    from qdi_mcp.server import build_server

    # The API client (and the demo tenant) opens at the first tool call: a host's start only lists tools.
    async with client_on_demand(settings) as clients:
        server = build_server(settings, None, connect=clients.get)
        backend = "the embedded demo emulator" if settings.demo else "the configured Qlik tenant"
        served = len(server.qdi.specs)
        logger.info("qdi-mcp serving %d tools against %s", served, backend)
        if args.transport == "http":
            await run_http(
                server,
                host=args.host,
                port=args.port,
                token=settings.http_token,
                allow_remote=args.allow_remote,
                sock=sock,
                # A remote bind is reached by the machine's name or address, which DNS-rebinding protection
                # would otherwise refuse (421).
                allowed_hosts=list(settings.http_allowed_hosts),
                allowed_origins=list(settings.http_allowed_origins),
                max_sessions=settings.http_max_sessions,
                session_idle_seconds=settings.http_session_idle_seconds,
            )
        else:
            await run_stdio(server)


def remote_bind_problem(host: str, port: int, allowed_hosts: tuple[str, ...]) -> str | None:
    """One line when an HTTP bind beyond loopback lists no allowed hosts, so that nearly every request gets 421.

    Only loopback names and the bind address itself are accepted as Host; clients reach a remote server by a DNS
    name (and nobody by 0.0.0.0), which DNS-rebinding protection refuses with 421 Misdirected Request."""
    if is_loopback(host) or allowed_hosts:
        return None
    return (
        f"listening on {url_host(host)}:{port} without QDI_MCP_HTTP_ALLOWED_HOSTS: only requests whose Host header is "
        f"{url_host(host)}:{port} or a loopback name are served, every other one is answered 421 Misdirected "
        f"Request; set QDI_MCP_HTTP_ALLOWED_HOSTS to the names clients use (e.g. mcp.example.com:{port})"
    )


def storage_problem(settings: Settings) -> str | None:
    """One line saying what cannot be written and why, or None when the work folder and audit log both work.

    Checked at start because a desktop host gives no sign of it until the first write fails. The work folder is
    created (the first export would create it anyway); a missing audit log is not, only its folder is tried.
    """
    workdir = settings.workdir.expanduser()
    audit_log = settings.audit_log_path.expanduser()
    workdir_reason = _unwritable_folder(workdir)
    if workdir_reason is not None and settings.audit_log is None:
        return (
            f"the work folder {workdir} cannot be written ({workdir_reason}): exports fail, and every write or "
            "destructive tool will be refused with audit_unavailable (the audit log is kept there) until "
            "QDI_MCP_WORKDIR (--workdir) names a writable folder or QDI_MCP_AUDIT_LOG (--audit-log) a writable "
            "file; reads still work"
        )
    audit_reason = _unappendable_file(audit_log)
    if audit_reason is not None:
        also = ""
        if workdir_reason is not None:
            also = f"; the work folder {workdir} cannot be written either ({workdir_reason}): set QDI_MCP_WORKDIR"
        return (
            f"the audit log {audit_log} cannot be written ({audit_reason}): every write or destructive tool will be "
            "refused with audit_unavailable until QDI_MCP_AUDIT_LOG (--audit-log) names a writable file; reads "
            f"still work{also}"
        )
    if workdir_reason is not None:
        # With a shared secret, confirmation tokens record their use in the work folder (single use among
        # processes), so confirmations fail there too.
        confirmations = (
            ", and so will confirmations by token (QDI_MCP_SECRET records their use there)" if settings.secret else ""
        )
        return (
            f"the work folder {workdir} cannot be written ({workdir_reason}): exports and imports will fail"
            f"{confirmations} until QDI_MCP_WORKDIR (--workdir) names a writable folder; other tools still work"
        )
    return None


def _unwritable_folder(folder: Path) -> str | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A real file, not os.access: the OS reason (read-only file system, permission, quota) is what helps.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        return f"{blocker} is a file"
    except OSError as exc:
        return _reason(exc)
    return None


def _unappendable_file(path: Path) -> str | None:
    if not path.exists():
        return _unwritable_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        return _reason(exc)
    os.close(fd)
    return None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def connection_help(settings: Settings, args: argparse.Namespace, *, port: int | None = None) -> str:
    demo = " --demo" if settings.demo else ""
    if args.transport == "http":
        url = f"http://{url_host(args.host)}:{port if port is not None else args.port}/mcp"
        return (
            f"qdi-mcp: streamable HTTP at {url}\n"
            f"  Claude Code:  claude mcp add --transport http qdi {url}\n"
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
