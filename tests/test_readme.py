"""The README's promises that code can check: the Quick start, and the tools table generated from the specs."""

from __future__ import annotations

import re
from pathlib import Path

from qdi_mcp.specs import load_specs
from qdi_mcp.specs.docs_table import END, START, replace_table, tools_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_tools_table_is_the_one_generated_from_the_specs() -> None:
    assert replace_table(README, tools_markdown()) == README, "run: python -m qdi_mcp.specs.docs_table --write"
    table = README.split(START, 1)[1].split(END, 1)[0]
    assert sorted(re.findall(r"^\| `(qdi_\w+)`", table, re.M)) == sorted(spec.name for spec in load_specs())


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    intro = quick_start.split("Try a tool", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", intro)
    assert len(commands) == 2
    assert "qdi-mcp serve --demo" in commands[0] and commands[0].startswith("pip install")
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_replace_table_refuses_a_readme_without_markers() -> None:
    import pytest

    with pytest.raises(ValueError, match="markers"):
        replace_table("no markers here", "x")
    assert START in README and END in README
