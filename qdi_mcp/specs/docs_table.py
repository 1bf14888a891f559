"""The README's tools table, generated from `tool_specs/` so the README can never disagree with the specs.

python -m qdi_mcp.specs.docs_table            # print the table
python -m qdi_mcp.specs.docs_table --write    # rewrite it in README.md between the tools-table markers
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from qdi_mcp.settings.docs import replace_between_markers
from qdi_mcp.specs import ToolSpec, load_specs

START = "<!-- tools-table:start -->"
END = "<!-- tools-table:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"


def _first_sentence(text: str) -> str:
    # A sentence ends at ". " before a capital letter, so "e.g. a" does not cut it short.
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]
    return sentence.replace("|", "\\|").replace("*", "\\*")


def _safety(spec: ToolSpec) -> str:
    if spec.destructive_when:
        when = ", ".join(
            f"`{c.argument}: {str(c.equals).lower() if isinstance(c.equals, bool) else c.equals}`"
            for c in spec.destructive_when
        )
        return f"{spec.safety}; destructive with {when}"
    return spec.safety


def tools_markdown(specs: tuple[ToolSpec, ...] | None = None) -> str:
    specs = specs if specs is not None else load_specs()
    order = ("projects", "tasks", "actions", "runtime", "workflows")
    rows = ["| tool | toolset | safety | what it does |", "| --- | --- | --- | --- |"]
    for spec in sorted(specs, key=lambda s: (order.index(s.toolset), s.name)):
        rows.append(f"| `{spec.name}` | {spec.toolset} | {_safety(spec)} | {_first_sentence(spec.description)} |")
    return "\n".join(rows)


def replace_table(readme: str, table: str) -> str:
    return replace_between_markers(readme, table, start=START, end=END)


def main(argv: list[str]) -> int:
    table = tools_markdown()
    if "--write" in argv:
        README.write_text(replace_table(README.read_text(encoding="utf-8"), table), encoding="utf-8")
    else:
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
