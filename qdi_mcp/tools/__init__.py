"""The tools layer: handlers for every tool, guardrail primitives, previews and failures.

Importing this package registers every handler in `HANDLERS` (one module per resource). Nothing here imports
MCP: the server binds progress reporting and turns `ToolResult`/`ToolFailure` into MCP results.
"""

from qdi_mcp.tools import projects, run_waits, runtime, status, tasks, workflows  # noqa: F401  (registers handlers)
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
