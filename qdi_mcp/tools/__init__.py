"""The tools layer: one handler module per toolset (`projects`, `tasks`, `actions`, `runtime`, `workflows`), the
waits they share (`waits`, `polling`), the translation of API errors into failures (`errors`), and the pure diff
engine of export zips (`project_design` reads them, `project_diff` compares designs and bindings), `changes`,
which exports what a diff needs (`diff_against`: the diff tool, the import previews and results use it), a
project's lineage from its design (`lineage`), running a project in that order (`pipeline`) and the preview
checks that name what a destructive call touches (`impact`).

Importing this package registers every handler in `HANDLERS`. The server imports it once, at the first tool call
(`qdi_mcp.server.loaded`), so a start that only lists tools never loads the handlers, the API client or its models.
Nothing here imports MCP or the guard: the server binds progress reporting, hands every call its work folder, and
turns `ToolResult`/`ToolFailure` into MCP results.
"""

from qdi_mcp.tools import (  # noqa: F401 - each registers its handlers
    actions,
    changes,
    impact,
    imports,
    pipeline,
    preconditions,
    projects,
    promote,
    runtime,
    tasks,
    workflows,
)
from qdi_mcp.tools.base import HANDLERS, ProgressFn, ToolContext, ToolResult
from qdi_mcp.tools.errors import failure_from_api_error
from qdi_mcp.tools.lineage import forget as forget_lineage

__all__ = ["HANDLERS", "ProgressFn", "ToolContext", "ToolResult", "failure_from_api_error", "forget_lineage"]
