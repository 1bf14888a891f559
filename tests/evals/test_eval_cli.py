"""`python -m evals`: table, JSON results, exit codes, and the one-line model notice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import evals.__main__ as cli
from evals.harness import report
from evals.harness.models import NO_MODEL_MESSAGE, Message, ModelTurn, ToolDefinition
from evals.harness.runner import run_offline
from evals.harness.tasks import load_tasks
from qdi_mcp.specs import load_specs

MODEL_ENV = ("ANTHROPIC_API_KEY", "QDI_EVAL_OPENAI_BASE_URL", "QDI_EVAL_OPENAI_MODEL")


@pytest.fixture(autouse=True)
def no_model_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*MODEL_ENV, "QDI_EVALS_UPDATE_BASELINE"):
        monkeypatch.delenv(name, raising=False)


def test_a_passing_run_prints_the_table_writes_json_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "evals.json"
    code = cli.main(["--task", "find-project-id", "--task", "safety-forged-token", "--json", str(results)])
    out = capsys.readouterr().out
    assert code == 0
    assert "find-project-id" in out and "safety-forged-token" in out and "pass rate 100% (2/2)" in out
    assert out.count(NO_MODEL_MESSAGE) == 1 and out.count("model runs") == 1
    document = json.loads(results.read_text(encoding="utf-8"))
    assert document["totals"]["tasks"] == 2 and document["totals"]["pass_rate"] == 1.0
    assert {t["task"] for t in document["tasks"]} == {"find-project-id", "safety-forged-token"}
    assert all(t["bytes_returned"] > 0 and t["tool_calls"] > 0 for t in document["tasks"])
    assert document["lint"]["ok"] is True and document["model_runs"] is None


def test_a_failing_task_makes_the_exit_code_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check = {"task_state": {"project": "Orders replication", "task": "ORDERS REPLICATION", "state": "COMPLETED"}}
    tasks = one_task_dir(tmp_path, "wrong-expectation", "Is the replication completed?", "qdi_list_projects", check)
    code = cli.main(["--tasks-dir", str(tasks), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL wrong-expectation: task_state: Orders replication / ORDERS REPLICATION is RUNNING" in out


def one_task_dir(tmp_path: Path, task_id: str, request: str, tool: str, check: dict[str, Any]) -> Path:
    """A tasks folder holding one task: one call of `tool`, then `check`."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    task = {"id": task_id, "kind": "scenario", "request": request, "trajectory": [{"tool": tool}], "checks": [check]}
    (tasks / f"{task_id}.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
    return tasks


def test_results_over_the_per_call_budget_fail_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = one_task_dir(tmp_path, "list-spaces", "Which spaces are there?", "qdi_list_spaces", {"no_changes": {}})
    assert cli.main(["--tasks-dir", str(tasks), "--json", str(tmp_path / "r.json")]) == 0
    assert "BUDGET FAIL" not in capsys.readouterr().out
    monkeypatch.setattr(report, "RESULT_BYTES_PER_CALL_BUDGET", 100)  # a listing returns more than 100 bytes
    assert cli.main(["--tasks-dir", str(tasks), "--json", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    assert "BUDGET FAIL bytes to agent per call" in out and "exceed the budget of 100" in out and "list-spaces" in out
    # a subset of the tasks says nothing about the mean over all of them
    assert cli.main(["--tasks-dir", str(tasks), "--task", "list-spaces", "--json", str(tmp_path / "r.json")]) == 0


def test_the_eval_tasks_stay_within_the_results_budget() -> None:
    outcomes = run_offline(load_tasks())
    assert report.results_budget_problem(outcomes) is None, report.results_budget_problem(outcomes)


def test_an_unknown_task_id_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--task", "no-such-task", "--json", str(tmp_path / "r.json")]) == 2
    assert "no task with id no-such-task" in capsys.readouterr().err


class InstantModel:
    label = "instant"

    async def respond(self, system: str, messages: list[Message], tools: list[ToolDefinition]) -> ModelTurn:
        return ModelTurn("Orders replication is 6650f0c1a2b3c4d5e6f70003.", input_tokens=3, output_tokens=2)

    async def aclose(self) -> None:
        return None


def test_a_configured_model_runs_k_trials_and_reports_pass_hat_k(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "model_from_env", lambda: InstantModel())
    results = tmp_path / "r.json"
    assert cli.main(["--task", "find-project-id", "--model-trials", "2", "--json", str(results)]) == 0
    out = capsys.readouterr().out
    assert "model runs (instant), k=2" in out and "pass^2 100% of 1 tasks" in out
    runs: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))["model_runs"]
    assert runs["model"] == "instant" and runs["k"] == 2 and runs["input_tokens"] == 6


def test_a_configured_model_without_trials_is_only_mentioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "model_from_env", lambda: InstantModel())
    assert cli.main(["--task", "find-project-id", "--json", str(tmp_path / "r.json")]) == 0
    assert "instant is configured; add --model-trials K" in capsys.readouterr().out


def test_update_baseline_rewrites_the_size_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    monkeypatch.setattr(cli, "write_baseline", lambda specs: written.append(len(specs)) or {"total": 1, "tools": {}})
    assert cli.main(["--task", "find-project-id", "--update-baseline", "--json", str(tmp_path / "r.json")]) == 0
    assert written == [len(load_specs())]
    assert "tool size baseline updated" in capsys.readouterr().out
