"""The configuration options as people read them: the README's table and the environment part of `--help`.

python -m qdi_mcp.settings --markdown    # print the README's configuration table
python -m qdi_mcp.settings --write       # rewrite it in README.md between the settings-table markers
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from qdi_mcp.settings.declared import OPTIONS
from qdi_mcp.settings.options import Option

START = "<!-- settings-table:start -->"
END = "<!-- settings-table:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"
REGENERATE = "python -m qdi_mcp.settings --write"


def settings_markdown(options: Iterable[Option] = OPTIONS) -> str:
    rows = ["| variable | flag | default | meaning |", "| --- | --- | --- | --- |"]
    for option in options:
        cells = [
            f"`{option.env}`" if option.env else "",
            f"`{option.flag}`" if option.flag else "",
            f"`{option.default_text}`" if option.default_text else "",
            _cell(option.flag_help if option.flag_help and not option.env else option.help),
        ]
        if option.flag_help and option.env:
            cells[3] += f"; `{option.flag}`: {_cell(option.flag_help)}"
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    # Escaped so GitHub shows them as written: `<tenant>` is not an HTML tag, `*.qlikcloud.com` not emphasis.
    return text.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;").replace(">", "&gt;")


def environment_epilog(options: Iterable[Option], *, width: int = 100) -> str:
    """The variables a command reads that have no flag of its own (flags say their variable in their help)."""
    lines = ["environment variables without a flag (flags above name theirs; a flag wins over its variable):"]
    listed = [option for option in options if option.env is not None and not option.flag]
    # The name column fits the longest name, so a name never runs into its text.
    column = max((len(option.env or "") for option in listed), default=0) + 2
    for option in listed:
        text = option.help + (f" (default {option.default_text})" if option.default_text else "")
        indent = f"  {option.env:<{column}}"
        lines.append(textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=" " * len(indent)))
    return "\n".join(lines) + "\n"


def flag_help(option: Option) -> str:
    """A flag's help: what it does, the variable it stands for and the default, all from the declaration."""
    text = option.flag_help or option.help
    if option.env is None:
        return text
    if option.switch is not None:
        value = "1" if option.switch is True else str(option.switch)
        return f"{text} (same as {option.env}={value})"
    default = f", default {option.default_text}" if option.default_text else ""
    return f"{text} ({option.env}{default})"


def replace_table(readme: str, table: str) -> str:
    return replace_between_markers(readme, table, start=START, end=END)


def replace_between_markers(readme: str, table: str, *, start: str, end: str) -> str:
    """`readme` with what lies between the `start` and `end` markers replaced by `table` (the README's generated
    tables: this one, and the tool table of `qdi_mcp.specs.docs_table`)."""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(readme):
        raise ValueError(f"README has no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{table}\n{end}", readme)
