"""The lint of what agents read back: hints name our tools and arguments, never Qlik's wire; a result says each
sentence once. It runs on every result of the reference trajectories (tests/evals/test_eval_tasks.py); here each
rule is shown to fail on the result issue 17 found, and to pass on the same facts said once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.harness import runner
from evals.harness.result_lint import lint_result
from evals.harness.tasks import load_tasks
from evals.harness.transcript import CallRecord
from evals.harness.wire_names import wire_names
from qdi_mcp.failures import ToolFailure
from qdi_mcp.guard.fence import render_text
from qdi_mcp.tenant_text import tenant

QLIK_SAYS = (
    "The datasets of task 'ERP STORAGE' changed since it was last prepared, so its existing tables must be "
    "recreated (their data is dropped). Prepare again with allowRecreate=true, or use recreate-datasets."
)


def record(summary: str, structured: dict[str, Any]) -> CallRecord:
    """A result as the server renders it (summary line and data fence), as the evals record it."""
    return CallRecord("qdi_prepare_project_and_wait", {}, False, structured, render_text(summary, structured), 0)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Prepare again with allowRecreate=true, or use recreate-datasets.", ["allowRecreate", "recreate-datasets"]),
        ("fix them with PUT .../bindings", ["PUT ..."]),
        ("call qdi_prepare_project_and_wait again with allow_recreate: true", []),
        ("a non-default mode; the name-to-id map of di tasks", []),
    ],
)
def test_wire_names_are_qliks_fields_paths_and_endpoints_not_our_arguments(text: str, names: list[str]) -> None:
    assert wire_names(text) == names


def test_the_failed_prepare_of_issue_17_fails_both_rules() -> None:
    task = {"task_id": "erp_storage-r0l0", "name": "ERP STORAGE", "state": "FAILED", "error_message": QLIK_SAYS}
    hint = f"task ERP STORAGE failed: {QLIK_SAYS} Check the project's bindings (qdi_get_bindings)"
    structured = {
        "state": "FAILED",
        "tasks": [task],
        "error": {"message": QLIK_SAYS, "details": QLIK_SAYS},
        "hint": hint,
    }
    findings = lint_result(record(f"Prepare FAILED. {hint}", structured))
    assert any(f.startswith("[wire_name] hint names allowRecreate, recreate-datasets") for f in findings), findings
    repeated = [f for f in findings if f.startswith("[repeated]")]
    # The fence leaves out what the summary line says (guard.fence); structuredContent repeats Qlik's words in the
    # task, twice in the action's error, and in the hint.
    assert any("structured.tasks[0].error_message" in f for f in repeated), repeated
    assert any("structured.error.details" in f for f in repeated), repeated


def test_the_same_facts_said_once_pass() -> None:
    task = {"task_id": "erp_storage-r0l0", "name": "ERP STORAGE", "state": "FAILED", "error_message": QLIK_SAYS}
    hint = "call qdi_prepare_project_and_wait again with allow_recreate: true"
    structured = {"state": "FAILED", "tasks": [task], "error": {"code": "RECREATE_REQUIRED"}, "hint": hint}
    assert lint_result(record(f"Prepare FAILED: 0/1 tasks completed. {hint}", structured)) == []


def test_a_long_name_quoted_by_the_summary_is_data_not_a_repeat_but_a_repeated_sentence_still_fails() -> None:
    name = "Validate task DEV_SPACE.Customer 360.CUSTOMER TRANSFORM"
    structured = {"action_id": "a1", "name": name, "state": "COMPLETED"}
    assert lint_result(record(f"Action a1 ({tenant(name)}): COMPLETED.", structured)) == []
    said_twice = {"action_id": "a1", "message": name, "state": "COMPLETED"}  # a sentence key, not found in the line
    assert lint_result(record("Action a1 COMPLETED.", said_twice | {"hint": f"{name} needs a look"})) != []


def test_an_error_result_says_its_message_and_hint_once_in_the_text() -> None:
    failure = ToolFailure(
        "not_found",
        f"No project {tenant('Sales QVD (old)')} in this tenant.",
        hint="call qdi_list_projects to see project ids",
    )
    error = failure.to_dict()
    call = CallRecord(
        "qdi_get_project", {}, True, {"error": error}, render_text(failure.summary(), {"error": error}), 0
    )
    assert lint_result(call) == []
    assert call.text.count("qdi_list_projects") == 1


@pytest.mark.anyio
async def test_a_task_whose_result_breaks_the_lint_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (task,) = load_tasks(only=["find-project-id"])
    monkeypatch.setattr(runner, "lint_result", lambda call: ["[repeated] summary says again what fence.hint says"])
    outcome = await runner.run_reference(task, tmp_path)
    assert not outcome.passed
    assert (
        outcome.failures[0]
        == "result lint: call 1 (qdi_list_projects) [repeated] summary says again what fence.hint says"
    )
