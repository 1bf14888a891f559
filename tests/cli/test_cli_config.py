"""Configuration mistakes are refused at start, in process through `main()`: exit 2, one line on stderr naming the
flag or variable to fix, nothing served and no secret printed. Warnings that let the server run are here too."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import qdi_mcp.cli.serve as serve_command
from qdi_mcp.cli import main

API_KEY = "api-key-that-must-not-show-7f3e"
CLIENT_SECRET = "client-secret-that-must-not-show-91ab"


@pytest.fixture
def serve_runs(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Replaces the event loop part of `serve`: records the settings it would have served with."""
    served: list[object] = []

    async def fake_serve(settings: object, args: object, sock: object) -> None:
        served.append(settings)

    monkeypatch.setattr(serve_command, "_serve", fake_serve)
    return served


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    exit_code = main(list(argv))
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- tool names ---------------------------------------------------------------------------------------------


def test_tools_with_a_misspelt_tool_name_exits_2_suggesting_the_right_one(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = run(capsys, "tools", "--demo", "--tools", "qdi_list_project")

    assert (exit_code, out) == (2, "")
    line = one_line(err)
    assert line.startswith("qdi-mcp: --tools: unknown tool 'qdi_list_project'")
    assert "did you mean qdi_list_projects?" in line


def test_a_misspelt_exclusion_is_refused_so_the_guardrail_cannot_silently_go_off(
    capsys: pytest.CaptureFixture[str], serve_runs: list[object]
) -> None:
    exit_code, _, err = run(capsys, "serve", "--demo", "--exclude-tools", "qdi_stop_tsk")

    assert (exit_code, serve_runs) == (2, [])
    line = one_line(err)
    assert "--exclude-tools" in line and "'qdi_stop_tsk'" in line and "did you mean qdi_stop_task?" in line


def test_every_unknown_name_is_listed_and_one_without_a_close_match_gets_no_guess(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_code, _, err = run(capsys, "tools", "--exclude-tools", "qdi_stop_task,qdi_stop_tsk,zzzz")

    assert exit_code == 2
    line = one_line(err)
    assert "unknown tools 'qdi_stop_tsk' (did you mean qdi_stop_task?), 'zzzz';" in line
    assert "'qdi_stop_task'" not in line  # a real name is not reported


@pytest.mark.parametrize(
    ("variable", "command"),
    [("QDI_MCP_TOOLS", ["tools"]), ("QDI_MCP_EXCLUDE_TOOLS", ["call", "qdi_list_projects", "--demo"])],
)
def test_unknown_tool_names_from_the_environment_name_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str, command: list[str]
) -> None:
    monkeypatch.setenv(variable, "qdi_get_task_stat")

    exit_code, out, err = run(capsys, *command)

    assert (exit_code, out) == (2, "")
    line = one_line(err)
    assert line.startswith(f"qdi-mcp: {variable}: unknown tool 'qdi_get_task_stat'")
    assert "did you mean qdi_get_task_state?" in line


def test_known_tool_names_are_served(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, _ = run(capsys, "tools", "--json", "--tools", "qdi_list_projects, qdi_get_project")

    assert exit_code == 0
    assert [row["name"] for row in json.loads(out)["tools"]] == ["qdi_get_project", "qdi_list_projects"]


# --- toolsets, speed, log level -------------------------------------------------------------------------------


def test_the_toolsets_flag_is_case_insensitive_like_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, _ = run(capsys, "tools", "--json", "--toolsets", "Projects,RUNTIME")

    assert exit_code == 0
    assert {row["toolset"] for row in json.loads(out)["tools"]} == {"projects", "runtime"}


def test_an_unknown_toolset_given_by_flag_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, _, err = run(capsys, "tools", "--toolsets", "projects,bogus")

    assert exit_code == 2
    assert one_line(err).startswith("qdi-mcp: --toolsets: unknown toolset 'bogus'")


def test_serve_accepts_the_speed_flag_for_the_demo_clock(
    capsys: pytest.CaptureFixture[str], serve_runs: list[object]
) -> None:
    exit_code, _, _ = run(capsys, "serve", "--demo", "--speed", "10")

    assert exit_code == 0
    assert [settings.emulator_speed for settings in serve_runs] == [10.0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("speed", ["0", "-3", "inf"])
def test_a_speed_flag_that_is_not_a_positive_number_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], serve_runs: list[object], speed: str
) -> None:
    exit_code, _, err = run(capsys, "serve", "--demo", f"--speed={speed}")

    assert (exit_code, serve_runs) == (2, [])
    assert "--speed" in one_line(err)


def test_an_unknown_log_level_exits_2_naming_the_allowed_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDI_MCP_LOG_LEVEL", "LOUD")

    exit_code, _, err = run(capsys, "tools")

    assert exit_code == 2
    line = one_line(err)
    assert "QDI_MCP_LOG_LEVEL" in line and "'LOUD'" in line
    assert all(level in line for level in ("DEBUG", "INFO", "WARNING", "ERROR"))


# --- credentials ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["serve"], ["call", "qdi_list_projects"], ["tools"]])
def test_both_an_api_key_and_oauth_credentials_exit_2_without_printing_either(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    serve_runs: list[object],
    command: list[str],
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "https://acme.eu.qlikcloud.com")
    monkeypatch.setenv("QLIK_API_KEY", API_KEY)
    monkeypatch.setenv("QLIK_CLIENT_ID", "ci-robot")
    monkeypatch.setenv("QLIK_CLIENT_SECRET", CLIENT_SECRET)

    exit_code, out, err = run(capsys, *command)

    assert (exit_code, out, serve_runs) == (2, "", [])
    line = one_line(err)
    assert "QLIK_API_KEY" in line and "QLIK_CLIENT_ID" in line and "one way" in line
    assert API_KEY not in err and CLIENT_SECRET not in err


def test_with_demo_unused_tenant_credentials_do_not_matter(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, serve_runs: list[object]
) -> None:
    monkeypatch.setenv("QLIK_API_KEY", API_KEY)
    monkeypatch.setenv("QLIK_CLIENT_ID", "ci-robot")

    exit_code, _, _ = run(capsys, "serve", "--demo")

    assert (exit_code, len(serve_runs)) == (0, 1)


# --- the work folder and the audit log ------------------------------------------------------------------------


def test_without_qdi_mcp_workdir_the_work_folder_is_in_the_home_folder_wherever_serve_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, serve_runs: list[object]
) -> None:
    monkeypatch.delenv("QDI_MCP_WORKDIR")
    start_folder = tmp_path / "where-the-host-starts"
    start_folder.mkdir()
    monkeypatch.chdir(start_folder)

    exit_code, _, err = run(capsys, "serve", "--demo")

    assert exit_code == 0
    (settings,) = serve_runs
    assert settings.workdir == tmp_path / "home" / "qdi-mcp-work"  # type: ignore[attr-defined]
    assert (tmp_path / "home" / "qdi-mcp-work").is_dir()  # checked, so created, at start
    assert list(start_folder.iterdir()) == []
    assert "WARNING" not in err


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_work_folder_that_is_a_file_exits_2_naming_where_it_was_set(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    serve_runs: list[object],
    how: str,
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    if how == "flag":
        exit_code, _, err = run(capsys, "serve", "--demo", "--workdir", str(a_file))
    else:
        monkeypatch.setenv("QDI_MCP_WORKDIR", str(a_file))
        exit_code, _, err = run(capsys, "serve", "--demo")

    assert (exit_code, serve_runs) == (2, [])
    line = one_line(err)
    assert line.startswith("qdi-mcp: --workdir:" if how == "flag" else "qdi-mcp: QDI_MCP_WORKDIR:")
    assert f"{a_file} is a file" in line


def test_a_default_work_folder_that_is_a_file_blames_the_default_not_a_variable_nobody_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, serve_runs: list[object]
) -> None:
    monkeypatch.delenv("QDI_MCP_WORKDIR")
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "qdi-mcp-work").write_text("a file, not a folder", encoding="utf-8")

    exit_code, _, err = run(capsys, "serve", "--demo")

    assert (exit_code, serve_runs) == (2, [])
    line = one_line(err)
    assert line.startswith("qdi-mcp: the default work folder:") and "set QDI_MCP_WORKDIR to a folder" in line
    assert "qdi-mcp: QDI_MCP_WORKDIR:" not in line


def test_a_work_folder_below_a_file_exits_2_naming_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")

    exit_code, out, err = run(capsys, "call", "qdi_list_projects", "--demo", "--workdir", str(a_file / "exports"))

    assert (exit_code, out) == (2, "")
    assert f"cannot be created: {a_file} is a file" in one_line(err)


def test_an_audit_log_that_cannot_be_written_is_one_warning_and_serve_still_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, serve_runs: list[object]
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")

    exit_code, _, err = run(capsys, "serve", "--demo", "--audit-log", str(a_file / "audit.jsonl"))

    assert (exit_code, len(serve_runs)) == (0, 1)  # reads still work: no exit
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, err
    assert "QDI_MCP_AUDIT_LOG" in warnings[0]
    assert f"{a_file} is a file" in warnings[0]  # the reason, not just "cannot"
    assert "audit_unavailable" in warnings[0]


def test_storage_problem_names_both_variables_when_the_default_audit_log_is_in_an_unusable_work_folder(
    tmp_path: Path,
) -> None:
    from qdi_mcp.settings import Settings

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder", encoding="utf-8")

    problem = serve_command.storage_problem(Settings(demo=True, workdir=a_file / "work"))

    assert problem is not None
    assert problem.startswith(f"the work folder {a_file / 'work'} cannot be written ({a_file} is a file)")
    assert "QDI_MCP_WORKDIR" in problem and "QDI_MCP_AUDIT_LOG" in problem
    assert "\n" not in problem


def test_storage_problem_is_none_for_a_writable_folder_and_does_not_create_the_audit_log(tmp_path: Path) -> None:
    from qdi_mcp.settings import Settings

    settings = Settings(demo=True, workdir=tmp_path / "work")

    assert serve_command.storage_problem(settings) is None
    assert (tmp_path / "work").is_dir()
    assert not settings.audit_log_path.exists()


def test_an_audit_log_that_is_a_folder_is_reported_with_the_os_reason(tmp_path: Path) -> None:
    from qdi_mcp.settings import Settings

    (tmp_path / "audit.jsonl").mkdir()

    problem = serve_command.storage_problem(
        Settings(demo=True, workdir=tmp_path / "work", audit_log=tmp_path / "audit.jsonl")
    )

    assert problem is not None
    assert "QDI_MCP_AUDIT_LOG" in problem and "QDI_MCP_WORKDIR" not in problem
    assert "directory" in problem.lower()


@pytest.mark.parametrize("secret", [None, "s" * 40])
def test_an_unwritable_work_folder_with_the_audit_log_elsewhere_says_whether_confirmations_fail_too(
    tmp_path: Path, secret: str | None
) -> None:
    from qdi_mcp.settings import Settings

    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    settings = Settings(demo=True, workdir=a_file / "work", audit_log=tmp_path / "audit.jsonl", secret=secret)

    problem = serve_command.storage_problem(settings)

    assert problem is not None and "QDI_MCP_WORKDIR" in problem
    assert ("confirmations by token" in problem) is (secret is not None)


# --- help -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "call", "tools", "runbook"])
def test_help_of_every_serving_command_names_the_tenant_variables_and_speed(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])

    out = capsys.readouterr().out
    for name in ("QLIK_TENANT_URL", "QLIK_API_KEY", "QLIK_CLIENT_ID", "QDI_MCP_WORKDIR", "~/qdi-mcp-work", "--speed"):
        assert name in out, name


def test_serve_help_explains_the_transport(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])

    options = capsys.readouterr().out.split("options:", 1)[1]
    transport_help = options.split("--transport", 1)[1].split("--host", 1)[0]
    assert "stdio" in transport_help and "/mcp" in transport_help


def test_emulator_help_explains_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])

    options = capsys.readouterr().out.split("options:", 1)[1]
    host_help = options.split("--host HOST", 1)[1].split("--port", 1)[0]
    port_help = options.split("--port PORT", 1)[1].split("--speed", 1)[0]
    assert "127.0.0.1" in host_help and "--allow-remote" in host_help
    assert "8765" in port_help and "free" in port_help


def test_runbook_help_lists_every_exit_code_a_runbook_ends_with(capsys: pytest.CaptureFixture[str]) -> None:
    from qdi_mcp.runbook import EXIT_FAILED, EXIT_INVALID, EXIT_NEEDS_CONFIRMATION, EXIT_PASSED

    with pytest.raises(SystemExit):
        main(["runbook", "--help"])
    codes = capsys.readouterr().out.split("exit codes:", 1)[1].split("\n\n", 1)[0]
    listed = {int(line.split()[0]): line for line in codes.strip().splitlines() if line.strip()[:1].isdigit()}
    assert set(listed) == {EXIT_PASSED, EXIT_FAILED, EXIT_INVALID, EXIT_NEEDS_CONFIRMATION}
    assert "confirm" in listed[EXIT_NEEDS_CONFIRMATION] and "--yes" in listed[EXIT_NEEDS_CONFIRMATION]


def test_emulator_help_names_the_variable_of_the_api_key_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    out = capsys.readouterr().out
    assert "QDI_EMULATOR_API_KEY" in out and "qdi-demo-key" in out


# --- closed pipes ---------------------------------------------------------------------------------------------


class ClosedPipe:
    """A stdout whose reader has gone (`| head` that already exited)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_exits_1_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", ClosedPipe())

    assert main(["tools", "--json"]) == 1


def test_logging_is_configured_only_after_the_checks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refused start must not leave a stderr handler behind (the one line is printed, not logged).
    root = logging.getLogger()
    before = list(root.handlers)
    monkeypatch.setenv("QDI_MCP_TOOLS", "qdi_nope")

    assert main(["tools"]) == 2

    assert root.handlers == before
    assert one_line(capsys.readouterr().err).startswith("qdi-mcp: QDI_MCP_TOOLS")
