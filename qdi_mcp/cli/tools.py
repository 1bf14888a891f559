"""`qdi-mcp tools [NAME]`: what would be served, the safety class of each tool, and what it costs an agent to read;
with NAME, one tool's description and arguments (what `call --args` accepts)."""

from __future__ import annotations

import difflib
import json
import sys
from typing import Any

from qdi_mcp.server import select_specs
from qdi_mcp.settings import Settings
from qdi_mcp.specs import ToolSpec, load_specs, model_visible_size

EXIT_OK = 0
EXIT_USAGE = 2


def run_tools(settings: Settings, *, json_output: bool, name: str | None = None) -> int:
    specs = load_specs()
    served, _ = select_specs(settings, specs)
    if name is not None:
        return _one_tool(name, {spec.name: spec for spec in specs}, served, json_output=json_output)
    rows = [_row(spec) for spec in served]
    total = sum(row["model_visible_bytes"] for row in rows)
    if json_output:
        # What an agent reads (description and input schema) too, so a script can discover the tools from the shell.
        detailed = [
            {**row, "description": spec.description, "input_schema": spec.input_schema}
            for row, spec in zip(rows, served, strict=True)
        ]
        print(json.dumps({"tools": detailed, "count": len(rows), "total_model_visible_bytes": total}, indent=2))
        return EXIT_OK
    width = max((len(r["name"]) for r in rows), default=10)
    print(f"{'tool':<{width}}  {'toolset':<9}  {'bytes':>5}  safety")
    for row in rows:
        print(f"{row['name']:<{width}}  {row['toolset']:<9}  {row['model_visible_bytes']:>5}  {row['safety']}")
    print(
        f"{len(rows)} tools, {total} model-visible bytes in total (name + description + input schema); "
        "`qdi-mcp tools NAME` shows one tool's arguments"
    )
    return EXIT_OK


def _row(spec: ToolSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "toolset": spec.toolset,
        "safety": spec.safety + (" (destructive for some arguments)" if spec.destructive_when else ""),
        "model_visible_bytes": model_visible_size(spec),
    }


def _one_tool(name: str, specs: dict[str, ToolSpec], served: list[ToolSpec], *, json_output: bool) -> int:
    spec = specs.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, sorted(specs), n=1)
        suggestion = f"; did you mean {close[0]}?" if close else "; `qdi-mcp tools` lists the names"
        print(f"qdi-mcp: unknown tool {name!r}{suggestion}", file=sys.stderr)
        return EXIT_USAGE
    is_served = name in {other.name for other in served}
    if json_output:
        print(
            json.dumps(
                {
                    **_row(spec),
                    "title": spec.title,
                    "description": spec.description,
                    "input_schema": spec.input_schema,
                    "served": is_served,
                },
                indent=2,
            )
        )
        return EXIT_OK
    row = _row(spec)
    print(f"{spec.name}: {spec.title} ({row['toolset']}, {row['safety']})")
    print(spec.description)
    if not is_served:
        print("(not served with the current settings: see --toolsets, --tools, --exclude-tools, --read-only)")
    print()
    print("arguments:" if _arguments(spec) else "arguments: none")
    for line in _arguments(spec):
        print(line)
    return EXIT_OK


def _arguments(spec: ToolSpec) -> list[str]:
    """One line per argument: name, type, required or its default, and the schema's description."""
    schema = spec.input_schema
    required = set(schema.get("required", ()))
    properties: dict[str, Any] = schema.get("properties", {})
    width = max((len(name) for name in properties), default=0)
    lines = []
    for name, prop in properties.items():
        facts = [_type_of(prop)]
        if name in required:
            facts.append("required")
        elif "default" in prop:
            facts.append(f"default {json.dumps(prop['default'])}")
        description = prop.get("description", "")
        lines.append(f"  {name:<{width}}  {', '.join(facts)}" + (f": {description}" if description else ""))
    return lines


def _type_of(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + "|".join(str(value) for value in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_type_of(prop.get('items', {}))}"
    return "|".join(kind) if isinstance(kind, list) else str(kind)
