"""`qdi-mcp tools`: what would be served, the safety class of each tool, and what it costs an agent to read."""

from __future__ import annotations

import json
from typing import Any

from qdi_mcp.server import select_specs
from qdi_mcp.settings import Settings
from qdi_mcp.specs import load_specs, model_visible_size


def run_tools(settings: Settings, *, json_output: bool) -> int:
    served, _ = select_specs(settings, load_specs())
    rows: list[dict[str, Any]] = [
        {
            "name": spec.name,
            "toolset": spec.toolset,
            "safety": spec.safety + (" (destructive for some arguments)" if spec.destructive_when else ""),
            "model_visible_bytes": model_visible_size(spec),
        }
        for spec in served
    ]
    total = sum(row["model_visible_bytes"] for row in rows)
    if json_output:
        print(json.dumps({"tools": rows, "count": len(rows), "total_model_visible_bytes": total}, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=10)
    print(f"{'tool':<{width}}  {'toolset':<9}  {'bytes':>5}  safety")
    for row in rows:
        print(f"{row['name']:<{width}}  {row['toolset']:<9}  {row['model_visible_bytes']:>5}  {row['safety']}")
    print(f"{len(rows)} tools, {total} model-visible bytes in total (name + description + input schema)")
    return 0
