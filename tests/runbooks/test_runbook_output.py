"""What people and CI see: plain lines off a terminal, a live display and a summary table on one, the --json
report, and the progress display `qdi-mcp call` shares."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, open_stack
from rich.console import Console

from qdi_mcp.cli import main
from qdi_mcp.cli.call import _call_with_progress
from qdi_mcp.runbook import ToolProgress, make_reporter
from qdi_mcp.tools.polling import PollSchedule

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runbooks"
HEALTH_CHECK = str(EXAMPLES / "health-check.yaml")
PROMOTE = str(EXAMPLES / "promote-project.yaml")


def cli(tmp_path: Path, *args: str) -> list[str]:
    return ["runbook", *args, "--demo", "--workdir", str(tmp_path / "work"), "--audit-log", str(tmp_path / "a.jsonl")]


def test_off_a_terminal_each_call_start_and_each_step_is_one_plain_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(cli(tmp_path, HEALTH_CHECK))
    lines = capsys.readouterr().out.splitlines()

    assert code == 1
    assert lines[0] == "runbook health-check: 2 steps"
    assert lines[1] == "start   [1/2] list projects (qdi_list_projects)"
    assert lines[2].startswith("ok      [1/2] list projects (qdi_list_projects)")
    starts = [line for line in lines[3:-2] if line.startswith("start   [2/2] project status · ")]
    assert len(starts) == len(lines) - 5 and starts  # one per project the for_each step looks at
    assert lines[-2].startswith("FAIL    [2/2] project status (qdi_get_project_status)")
    assert "CRM STORAGE" in lines[-2]
    assert lines[-1].startswith("failed: 1 passed, 1 failed (") and lines[-1].endswith("s, exit 1)")
    assert "\x1b[" not in "".join(lines)  # no colour codes in CI logs


def test_the_json_report_has_steps_statuses_durations_and_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(cli(tmp_path, HEALTH_CHECK, "--json", "--var", "projects=Orders*"))
    report = json.loads(capsys.readouterr().out)

    assert code == 0
    assert report["version"] == 1
    assert report["runbook"] == "health-check" and report["file"] == HEALTH_CHECK
    assert (report["status"], report["exit_code"], report["dry_run"]) == ("passed", 0, False)
    assert report["vars"] == {"projects": ["Orders*"]}
    assert report["counts"] == {"passed": 2}
    assert report["problems"] == []
    assert isinstance(report["duration_seconds"], float) and report["started_at"].endswith("Z")
    status_step = report["steps"][1]
    assert {"index", "name", "tool", "safety", "status", "message", "duration_seconds", "for_each", "calls"} <= set(
        status_step
    )
    assert status_step["for_each"] is True and status_step["safety"] == "read"
    assert (status_step["index"], status_step["number"]) == (1, 2)
    (call,) = status_step["calls"]
    assert call["item"] == "Orders replication" and call["status"] == "passed"
    assert call["summary"].startswith("<qlik-data>Orders replication</qlik-data>: 1 task")
    assert call["result"]["counts"] == {"running": 1}
    assert call["arguments"] == {"project_id": "6650f0c1a2b3c4d5e6f70003"}


def test_a_run_stopped_for_confirmation_exits_3_in_the_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(cli(tmp_path, PROMOTE, "--json"))
    report = json.loads(capsys.readouterr().out)

    assert code == 3
    assert report["status"] == "needs_confirmation" and report["exit_code"] == 3
    assert [s["name"] for s in report["steps"] if s["status"] == "needs_confirmation"] == ["promote"]
    assert {s["status"] for s in report["steps"]} == {"needs_confirmation", "not_run"}


def test_on_a_terminal_a_summary_table_follows_the_steps(tmp_path: Path) -> None:
    import anyio

    from qdi_mcp.cli.runbook import run_runbook_file
    from qdi_mcp.settings import Settings

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=140, color_system=None)
    reporter = make_reporter(json_output=False, stream=buffer, is_terminal=True, console=console)
    settings = Settings.from_env({}, demo=True, workdir=tmp_path / "work", audit_log=tmp_path / "a.jsonl")

    code = anyio.run(lambda: run_runbook_file(Path(HEALTH_CHECK), settings, reporter=reporter, stdout=buffer))
    text = buffer.getvalue()

    assert code == 1
    assert "step" in text and "status" in text and "details" in text  # the table header
    assert "1. list projects" in text and "2. project status" in text
    assert "qdi_get_project_status" in text
    assert "failed: 1 passed, 1 failed" in text


@pytest.mark.anyio
async def test_the_progress_display_is_fed_by_the_tools_progress_notifications(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        console = Console(file=io.StringIO(), force_terminal=True, width=100)
        with ToolProgress(console) as display:
            display.begin("validate")
            result = await stack.mcp.call_tool(
                "qdi_validate_project_and_wait",
                {"project_id": stack.project_id(CUSTOMER_360)},
                progress_callback=display.update,
            )

        assert not result.is_error
        assert display.updates >= 2


@pytest.mark.anyio
async def test_call_shows_progress_for_workflow_tools_and_returns_their_result(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await _call_with_progress(
            stack.mcp, "qdi_prepare_project_and_wait", {"project_id": stack.project_id(CUSTOMER_360)}
        )

        assert not result.is_error
        assert result.structured_content["state"] == "COMPLETED"


def test_steps_not_run_because_the_run_was_refused_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(cli(tmp_path, PROMOTE))
    lines = capsys.readouterr().out.splitlines()

    assert code == 3
    skipped = [line for line in lines if line.startswith("skip")]
    assert skipped and all(
        line.endswith("not run: the run was refused before any step (nothing ran)") for line in skipped
    ), skipped
    assert not any("stopped earlier" in line for line in lines)
    # One numbering for people: "[2/7]" and "step 2" are the same step.
    assert any(line.startswith("CONFIRM [2/3] promote") for line in lines)
    assert "'promote' (step 2, qdi_promote_project)" in lines[-1]
    assert "steps[" not in "\n".join(lines)


def test_steps_after_a_failed_step_name_where_the_run_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(
        "name: stop early\nsteps:\n"
        "  - {name: get, tool: qdi_get_project, args: {project_id: 6650f0c1a2b3c4d5e6f7ffff}}\n"
        "  - {name: list, tool: qdi_list_projects}\n"
    )
    code = main(cli(tmp_path, str(path)))
    lines = capsys.readouterr().out.splitlines()

    assert code == 1
    assert lines[0] == "runbook stop early: 2 steps"
    assert lines[1] == "start   [1/2] get (qdi_get_project)"
    assert lines[3].startswith("skip    [2/2] list (qdi_list_projects)")
    assert lines[3].endswith("not run: the run stopped at step 1 (get), which failed")


def test_a_one_step_runbook_says_1_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text("name: t\nsteps: [{name: list, tool: qdi_list_projects}]\n")
    code = main(cli(tmp_path, str(path)))
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert lines[0] == "runbook t: 1 step"


# --- heartbeats in plain mode (issue 19, defect 7: CI ends a job that prints nothing for 10 minutes) ----------


class SteppingClock:
    """A monotonic clock that moves `step` seconds at every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.anyio
async def test_plain_output_prints_a_heartbeat_with_the_wait_s_progress_at_most_every_interval(
    tmp_path: Path,
) -> None:
    from qdi_mcp.runbook import PlainReporter, load_runbook, open_session, run_runbook
    from qdi_mcp.runbook.runner import RunOptions

    path = tmp_path / "prepare.yaml"
    path.write_text(
        "name: prepare\nsteps:\n"
        "  - {name: prepare, tool: qdi_prepare_project_and_wait, args: {project_id: 6650f0c1a2b3c4d5e6f70001}}\n"
    )
    runbook = load_runbook(path)
    # Each reading of the clock is 20 s later: with a 60 s interval, at most every third progress is a line.
    every_minute, often = io.StringIO(), io.StringIO()
    for stream, seconds in ((every_minute, 60.0), (often, 0.0)):
        async with open_stack(tmp_path / str(seconds)) as stack:
            reporter = PlainReporter(stream, heartbeat_seconds=seconds, clock=SteppingClock(20.0))
            waits_on_the_emulator_clock = {"clock": stack.clock, "schedule": PollSchedule()}
            async with open_session(stack.qdi.settings, stack.client, context_options=waits_on_the_emulator_clock) as s:
                report = await run_runbook(runbook, s, options=RunOptions({}), reporter=reporter)
            assert report.exit_code == 0, stream.getvalue()

    beats = [line for line in often.getvalue().splitlines() if line.startswith("wait    [1/1] prepare ")]
    assert len(beats) >= 3, often.getvalue()
    assert all("tasks done" in line for line in beats)  # the action's progress, as the server words it
    minute_beats = [line for line in every_minute.getvalue().splitlines() if line.startswith("wait ")]
    assert minute_beats and len(minute_beats) < len(beats)
    seconds = [int(line.split("] prepare ", 1)[1].split("s:", 1)[0]) for line in minute_beats]
    assert all(later - earlier >= 60 for earlier, later in zip(seconds, seconds[1:], strict=False)), seconds


def test_the_plain_heartbeat_interval_defaults_to_a_minute() -> None:
    from qdi_mcp.runbook import PlainReporter

    reporter = make_reporter(json_output=False, stream=io.StringIO(), is_terminal=False)
    assert isinstance(reporter, PlainReporter) and reporter.heartbeat_seconds == 60.0
