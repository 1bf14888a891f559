"""The tools layer: handlers for every tool, guardrail primitives, previews and failures.

Reading any public name of this package (`from qdi_mcp.tools import HANDLERS`) registers every handler in
`HANDLERS` (one module per resource). The names load on first use, not on import: guardrail modules such as
`qdi_mcp.tools.redact` are needed at start-up (logging, the audit log), and importing them must not drag in
the handlers, the API client, httpx and the API models, which only the first tool call needs.
Nothing here imports MCP: the server binds progress reporting and turns `ToolResult`/`ToolFailure` into
MCP results.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qdi_mcp.tools.base import HANDLERS, ProgressFn, ToolContext, ToolResult
    from qdi_mcp.tools.errors import ToolFailure, failure_from_api_error
    from qdi_mcp.tools.previews import build_preview

__all__ = [
    "HANDLERS",
    "ProgressFn",
    "ToolContext",
    "ToolFailure",
    "ToolResult",
    "build_preview",
    "failure_from_api_error",
]

_HANDLER_MODULES = ("projects", "run_waits", "runtime", "status", "tasks", "workflows")
_HOMES = {
    "HANDLERS": "base",
    "ProgressFn": "base",
    "ToolContext": "base",
    "ToolResult": "base",
    "ToolFailure": "errors",
    "failure_from_api_error": "errors",
    "build_preview": "previews",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for module in _HANDLER_MODULES:  # registers every handler before anyone can read HANDLERS
        importlib.import_module(f"{__name__}.{module}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
