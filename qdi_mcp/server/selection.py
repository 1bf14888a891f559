"""Which tools a server serves, from the settings: toolsets, --tools / --exclude-tools, read-only mode."""

from __future__ import annotations

from collections.abc import Iterable

from qdi_mcp.settings import Settings
from qdi_mcp.specs import ToolSpec


def select_specs(settings: Settings, specs: Iterable[ToolSpec]) -> tuple[list[ToolSpec], dict[str, str]]:
    """The tools to serve, and for every tool left out, why (so a call by name gets a precise refusal).

    Read-only mode wins over every other selection: it is applied last and cannot be widened.
    """
    served: list[ToolSpec] = []
    refused: dict[str, str] = {}
    for spec in specs:
        if settings.tools and spec.name not in settings.tools:
            refused[spec.name] = "not in the tools selected with --tools / QDI_MCP_TOOLS"
        elif spec.name in settings.exclude_tools:
            refused[spec.name] = "excluded with --exclude-tools / QDI_MCP_EXCLUDE_TOOLS"
        elif not settings.tools and spec.toolset not in settings.toolsets:
            refused[spec.name] = f"its toolset {spec.toolset!r} is not enabled (QDI_MCP_TOOLSETS)"
        else:
            served.append(spec)
    if settings.read_only:
        for spec in list(served):
            if spec.safety != "read":
                served.remove(spec)
                refused[spec.name] = "the server runs in read-only mode (QDI_MCP_READ_ONLY); it only reads"
    return served, refused
