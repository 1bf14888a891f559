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


# --- install and troubleshooting (issue 19, packaging and docs) ------------------------------------------------

# `pip install qdi-mcp` (optionally with a version or extras) installs by name from a package index, where the
# name is not ours: a squatted package would run with the tenant's secrets in reach.
REQUIREMENT_BY_NAME = re.compile(r"qdi-mcp(\[[\w,]+\])?([=<>~!].*)?")


def installs_by_name(text: str) -> list[str]:
    """The `pip install` commands in `text` that name qdi-mcp as a requirement (not a path or a URL)."""
    found = []
    for match in re.finditer(r"pip install ([^\n]*)", text):
        command = re.split(r"&&|;|\s#|\|", match.group(1))[0]
        if any(REQUIREMENT_BY_NAME.fullmatch(word.strip("\"'")) for word in command.split()):
            found.append(match.group(0))
    return found


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_nothing_shown_as_a_command_installs_qdi_mcp_by_name_from_an_index() -> None:
    shown = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", README, re.S))
    assert not installs_by_name(shown)
    for path in (ROOT / "deploy").iterdir():
        assert not installs_by_name(path.read_text(encoding="utf-8")), path.name
    # the check does find the mistake, and only the mistake
    assert installs_by_name("run: pip install qdi-mcp\n")
    assert installs_by_name('sh -c "pip install --no-cache-dir qdi-mcp==0.1.0 && qdi-mcp serve"')
    assert not installs_by_name("pip install . && qdi-mcp serve --demo  # installs qdi-mcp")


def test_the_github_actions_example_installs_from_the_repository_at_a_pinned_commit() -> None:
    workflow = README.split("# .github/workflows/qlik-di.yml", 1)[1].split("```", 1)[0]
    package = re.search(r'QDI_MCP_PACKAGE: "(git\+https://[^"]+)"', workflow)
    assert package and re.search(r"@<40-hex commit hash>$", package.group(1))
    installs = re.findall(r"- run: pip install (.+)", workflow)
    assert installs and set(installs) == {'"$QDI_MCP_PACKAGE"'}


def test_install_names_the_prerequisites_and_both_ways_to_install_from_a_clone() -> None:
    install = section("Install")
    assert "Python 3.11" in install and "python3 -m venv" in install
    assert "pip install ." in install and "uvx --from . qdi-mcp serve --demo" in install


def test_troubleshooting_covers_a_closed_connection_and_a_remote_bind_without_allowed_hosts() -> None:
    trouble = section("Troubleshooting")
    assert "Connection closed" in trouble and "by hand" in trouble and "stderr" in trouble
    assert "421" in trouble and "QDI_MCP_HTTP_ALLOWED_HOSTS" in trouble


def test_the_cache_folder_and_its_variable_are_explained() -> None:
    configuration = section("Configuration").split("<!-- settings-table:end -->", 1)[1]
    assert "QDI_MCP_CACHE_DIR" in configuration and "~/.cache/qdi-mcp" in configuration
    assert "QDI_MCP_CACHE_DIR=off" in configuration
