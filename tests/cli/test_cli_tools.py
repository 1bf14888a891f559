"""`qdi-mcp tools` and `qdi-mcp --help`, run in process through `qdi_mcp.cli.main` (one subprocess checks the
installed console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from qdi_mcp.cli import main
from qdi_mcp.specs import MODEL_VISIBLE_BUDGET

REPO = Path(__file__).resolve().parents[2]
BUDGET_BYTES = MODEL_VISIBLE_BUDGET
COMMANDS = ("serve", "tools", "call", "emulator")


def spec_files() -> list[dict[str, Any]]:
    """The specs read straight from YAML, so the expectations do not come from the code under test."""
    paths = sorted((REPO / "tool_specs").glob("qdi_*.yaml"))
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in paths]


def tools_json(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    exit_code = main(["tools", "--json", *flags])
    out = capsys.readouterr().out
    assert exit_code == 0
    return json.loads(out)


def test_tools_json_lists_every_tool_with_safety_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    listing = tools_json(capsys)

    expected_names = {spec["name"] for spec in spec_files()}
    names = [row["name"] for row in listing["tools"]]
    assert listing["count"] == len(expected_names) > 0
    assert sorted(names) == sorted(expected_names)
    for row in listing["tools"]:
        assert row["safety"].split(" ")[0] in {"read", "write", "destructive"}
        assert isinstance(row["model_visible_bytes"], int) and row["model_visible_bytes"] > 0
    assert listing["total_model_visible_bytes"] == sum(row["model_visible_bytes"] for row in listing["tools"])
    assert listing["total_model_visible_bytes"] <= BUDGET_BYTES


def test_tools_json_sizes_are_the_bytes_of_name_description_and_compact_input_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listing = {row["name"]: row for row in tools_json(capsys)["tools"]}

    # The served schema is the spec's, with $shared references resolved: measure what tools/list would carry.
    from qdi_mcp.specs import load_specs

    for spec in load_specs():
        schema = json.dumps(spec.input_schema, separators=(",", ":"))
        expected = len(spec.name.encode()) + len(spec.description.encode()) + len(schema.encode())
        assert listing[spec.name]["model_visible_bytes"] == expected, spec.name


def test_tools_json_marks_tools_that_are_destructive_only_for_some_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listing = {row["name"]: row for row in tools_json(capsys)["tools"]}

    assert listing["qdi_stop_task"]["safety"] == "destructive"
    assert listing["qdi_list_projects"]["safety"] == "read"
    assert listing["qdi_prepare_project"]["safety"].startswith("write")
    assert "destructive" in listing["qdi_prepare_project"]["safety"]


def test_tools_read_only_lists_only_the_read_tools(capsys: pytest.CaptureFixture[str]) -> None:
    listing = tools_json(capsys, "--read-only")

    expected = {spec["name"] for spec in spec_files() if spec["safety"] == "read"}
    assert {row["name"] for row in listing["tools"]} == expected
    assert all(row["safety"] == "read" for row in listing["tools"])
    assert "qdi_stop_task" not in expected and listing["count"] == len(expected) < len(spec_files())


def test_tools_read_only_from_the_environment_also_applies(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDI_MCP_READ_ONLY", "1")

    listing = tools_json(capsys)

    assert listing["tools"] and all(row["safety"] == "read" for row in listing["tools"])


def test_tools_toolsets_runtime_lists_only_that_toolset(capsys: pytest.CaptureFixture[str]) -> None:
    listing = tools_json(capsys, "--toolsets", "runtime")

    expected = {spec["name"] for spec in spec_files() if spec["toolset"] == "runtime"}
    assert expected and {row["name"] for row in listing["tools"]} == expected
    assert {row["toolset"] for row in listing["tools"]} == {"runtime"}


def test_tools_read_only_wins_over_toolsets(capsys: pytest.CaptureFixture[str]) -> None:
    listing = tools_json(capsys, "--toolsets", "runtime", "--read-only")

    expected = {s["name"] for s in spec_files() if s["toolset"] == "runtime" and s["safety"] == "read"}
    assert {row["name"] for row in listing["tools"]} == expected
    assert "qdi_start_task" not in expected


def test_tools_with_an_unknown_toolset_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["tools", "--toolsets", "runtime,nonsense"])

    captured = capsys.readouterr()
    assert exit_code == 2
    assert captured.out == ""
    assert "nonsense" in captured.err


def test_tools_table_ends_with_the_same_total_as_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    total = tools_json(capsys)["total_model_visible_bytes"]

    exit_code = main(["tools"])
    lines = capsys.readouterr().out.splitlines()

    assert exit_code == 0
    assert lines[-1].startswith(f"{len(spec_files())} tools, {total} model-visible bytes")
    assert any(line.startswith("qdi_stop_task ") and line.endswith("destructive") for line in lines)


@pytest.mark.parametrize("argv", [["--help"], ["call", "--help"], ["serve", "--help"]])
def test_help_prints_usage_and_exits_0(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)

    assert stopped.value.code == 0
    assert "usage: qdi-mcp" in capsys.readouterr().out


def test_top_level_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    out = capsys.readouterr().out
    assert all(command in out for command in COMMANDS)


def test_no_command_prints_help_to_stderr_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main([])

    captured = capsys.readouterr()
    assert exit_code == 2
    assert captured.out == ""
    assert "usage: qdi-mcp" in captured.err


def test_installed_console_script_shows_help() -> None:
    script = Path(sys.executable).with_name("qdi-mcp")

    completed = subprocess.run(  # noqa: S603 - the console script of this venv
        [str(script), "--help"], capture_output=True, text=True, timeout=20, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert all(command in completed.stdout for command in COMMANDS)


def test_tools_json_carries_each_tool_s_description_and_input_schema(capsys: pytest.CaptureFixture[str]) -> None:
    listing = {row["name"]: row for row in tools_json(capsys)["tools"]}

    for spec in spec_files():
        row = listing[spec["name"]]
        assert row["description"] == " ".join(spec["description"].split())
        assert set(row["input_schema"]["properties"]) >= set(spec["input_schema"].get("properties", {}))
        assert row["input_schema"].get("required", []) == spec["input_schema"].get("required", [])


def test_tools_name_prints_one_tool_s_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["tools", "qdi_start_task_and_wait"])
    out = capsys.readouterr().out

    assert exit_code == 0
    assert out.startswith("qdi_start_task_and_wait: Start a data task and wait (workflows, write)")
    arguments = {line.split()[0]: line for line in out.split("arguments:\n", 1)[1].splitlines()}
    assert arguments["project_id"].split(None, 1)[1] == "string, required: Project id."
    assert "integer, default 300" in arguments["timeout_seconds"]
    assert "one of auto|running|finished" in arguments["wait_until"]


def test_tools_name_json_is_the_tool_s_schema(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["tools", "qdi_list_tasks", "--json"])
    tool = json.loads(capsys.readouterr().out)

    assert exit_code == 0
    assert (tool["name"], tool["served"]) == ("qdi_list_tasks", True)
    assert tool["input_schema"]["required"] == ["project_id"]


def test_tools_with_an_unknown_name_exits_2_suggesting_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["tools", "qdi_list_task"])
    captured = capsys.readouterr()

    assert exit_code == 2
    assert captured.out == ""
    assert captured.err.splitlines() == ["qdi-mcp: unknown tool 'qdi_list_task'; did you mean qdi_list_tasks?"]


def test_tools_name_says_when_the_settings_do_not_serve_it(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["tools", "qdi_stop_task", "--read-only"])

    assert exit_code == 0
    assert "not served with the current settings" in capsys.readouterr().out
