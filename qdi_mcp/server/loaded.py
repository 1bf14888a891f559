"""Everything a tool call needs that listing tools does not: the handlers (and with them the API client's models
and httpx), the previews, jsonschema. The server imports this module once, at the first tool call (the one
deferred import of the package), so an MCP host that starts the server to list its tools pays for none of it.
"""

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from qdi_mcp.api import ChangeTraces, QdiApiError, recording_changes
from qdi_mcp.guard.previews import build_preview
from qdi_mcp.tools import HANDLERS, ToolContext, failure_from_api_error, forget_lineage
from qdi_mcp.tools.backups import discard_backup, prune_backups, take_backup
from qdi_mcp.tools.base import PRECONDITIONS

__all__ = [
    "HANDLERS",
    "ChangeTraces",
    "PRECONDITIONS",
    "Draft202012Validator",
    "QdiApiError",
    "ToolContext",
    "ValidationError",
    "build_preview",
    "discard_backup",
    "failure_from_api_error",
    "forget_lineage",
    "prune_backups",
    "recording_changes",
    "take_backup",
]
