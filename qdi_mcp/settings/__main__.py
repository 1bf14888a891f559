"""`python -m qdi_mcp.settings --markdown` prints the README's configuration table; `--write` updates README.md."""

from __future__ import annotations

import sys

from qdi_mcp.settings.docs import README, replace_table, settings_markdown


def main(argv: list[str]) -> int:
    table = settings_markdown()
    if "--write" in argv:
        README.write_text(replace_table(README.read_text(encoding="utf-8"), table), encoding="utf-8")
    elif "--markdown" in argv:
        print(table)
    else:
        print("usage: python -m qdi_mcp.settings --markdown | --write", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
