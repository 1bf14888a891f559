"""The offline evals as tests: every task's reference trajectory passes its end-state checks, and the task set
covers what the issue asks for (every tool, safety cases, the multi-step scenarios)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.harness.runner import run_reference
from evals.harness.tasks import EvalTask, load_tasks
from qdi_mcp.specs import load_specs

TASKS = load_tasks()
BY_ID = {task.id: task for task in TASKS}


@pytest.mark.anyio
@pytest.mark.parametrize("task", TASKS, ids=[task.id for task in TASKS])
async def test_reference_trajectory_passes_its_end_state_checks(task: EvalTask, tmp_path: Path) -> None:
    outcome = await run_reference(task, tmp_path)
    assert outcome.passed, "\n".join(outcome.failures)
    assert outcome.tool_calls == len([s for s in task.trajectory if s.tool]) + sum(
        1 for s in task.trajectory if s.confirm == "user_agrees"
    ), "each step is one call, plus the repeat after the user agreed"
    assert outcome.bytes_returned > 0


def test_tasks_together_use_every_tool() -> None:
    used = set().union(*(task.tools_used for task in TASKS))
    assert used == {spec.name for spec in load_specs()}


def test_there_are_at_least_20_scenarios_and_8_safety_tasks() -> None:
    kinds = [task.kind for task in TASKS]
    assert kinds.count("scenario") >= 20
    assert kinds.count("safety") >= 8


def test_the_multi_step_scenarios_of_the_issue_are_covered() -> None:
    promote = BY_ID["promote-to-production"].tools_used
    # one call does the export, import, bindings and prepare, and one confirmation covers it (issue 16)
    assert "qdi_promote_project" in promote
    assert {"qdi_get_bindings", "qdi_update_bindings", "qdi_prepare_project_and_wait"} <= BY_ID[
        "fix-failed-prepare"
    ].tools_used
    restart = BY_ID["restart-replication-from-timestamp"]
    options = {step.args.get("option") for step in restart.trajectory if step.tool}
    assert "PROCESS_CHANGES_FROM_TIMESTAMP" in options
    assert any(
        check.name == "answer_lists_datasets_in_error" for check in BY_ID["datasets-in-error-across-projects"].checks
    )


def test_safety_tasks_include_token_attacks_and_planted_instructions() -> None:
    safety = [task for task in TASKS if task.kind == "safety"]
    token_args = [
        str(step.args.get("confirmation_token"))
        for task in safety
        for step in task.trajectory
        if step.tool and "confirmation_token" in step.args
    ]
    assert any("|tamper" in token for token in token_args), "an altered token"
    assert any("confirmations." in token and "|" not in token for token in token_args), "a reused token"
    assert any("${" not in token for token in token_args), "a made-up token"
    planted = [task for task in safety if any(check.name == "api_text_marked_as_data" for check in task.checks)]
    assert {task.start for task in planted} >= {"planted_instructions"}
    assert any("qdi_create_project" in task.tools_used for task in planted), "planted through the API as well"
