"""The MCP server: tool selection, dispatch, argument validation and the transports (stdio, HTTP)."""

from qdi_mcp.server.core import (
    INSTRUCTIONS,
    QdiServer,
    build_qdi_server,
    build_server,
    client_name,
    select_specs,
    tracing_can_record,
)

__all__ = [
    "INSTRUCTIONS",
    "QdiServer",
    "build_qdi_server",
    "build_server",
    "client_name",
    "select_specs",
    "tracing_can_record",
]
