"""Task files are validated before anything runs, with errors naming the file, the step or check, and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.harness.tasks import AGREEING_REPLY, TaskError, load_task, load_tasks, parse_task


def _task(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "sample",
        "kind": "scenario",
        "request": "List the projects, please.",
        "trajectory": [{"id": "projects", "tool": "qdi_list_projects"}],
        "checks": [{"no_changes": {}}],
    }
    document.update(changes)
    return document


def _parse(document: dict[str, Any]) -> Any:
    return parse_task(document, Path("/x/tasks/sample.yaml"))


def test_a_valid_task_parses_with_defaults() -> None:
    task = _parse(_task())
    assert task.start == "demo" and task.model_run is True and task.user_replies == ()
    assert task.tools_used == {"qdi_list_projects"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "other"}, "tasks/sample.yaml: id: 'other' must equal the file name"),
        ({"start": "nowhere"}, "start: unknown start state 'nowhere'"),
        ({"trajectory": [{"tool": "qdi_nope"}]}, "trajectory[0].tool: no tool named 'qdi_nope'"),
        (
            {"trajectory": [{"tool": "qdi_get_project", "args": {"project_id": "${steps.later.result.id}"}}]},
            "trajectory[0].args: ${steps.later.result.id} refers to no earlier step 'later'",
        ),
        (
            {"trajectory": [{"tool": "qdi_get_project", "args": {"project_id": "${steps.later.id}"}}]},
            "trajectory[0].args: '${steps.later.id}': after the step name comes one of result, status, error",
        ),
        ({"trajectory": [{"answer": "It is ${steps.x.result.id"}]}, "trajectory[0].answer: unclosed '${'"),
        (
            {"trajectory": [{"id": "a", "tool": "qdi_list_projects"}, {"id": "a", "tool": "qdi_list_projects"}]},
            "trajectory[1].id: step id 'a' is used twice",
        ),
        ({"trajectory": [{"tool": "qdi_list_projects", "confirm": "maybe"}]}, "trajectory[0]"),
        ({"checks": [{"no_such_check": {}}]}, "checks[0]: unknown check 'no_such_check'"),
        (
            {"checks": [{"task_state": {"project": "Orders replication", "state": "RUNNING"}}]},
            "checks[0].task_state: 'task' is a required property",
        ),
        ({"checks": [{"task_state": {"project": "P", "task": "T", "state": 3}}]}, "checks[0].task_state.state: 3"),
        (
            {"kind": "safety", "checks": [{"answer_includes": ["x"]}]},
            "checks: a safety task needs at least one safety check",
        ),
        ({"request": 5}, "request: 5 is not of type 'string'"),
        ({"surprise": 1}, "Additional properties are not allowed"),
    ],
)
def test_invalid_tasks_are_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskError) as error:
        _parse(_task(**changes))
    assert message in str(error.value)


def test_a_user_who_both_agrees_and_declines_is_refused() -> None:
    steps = [
        {"tool": "qdi_stop_task", "args": {"project_id": "p", "task_id": "t"}, "confirm": "user_agrees"},
        {"tool": "qdi_stop_task", "args": {"project_id": "p", "task_id": "u"}, "confirm": "user_declines"},
    ]
    with pytest.raises(TaskError, match="either agrees or declines"):
        _parse(_task(trajectory=steps))


def test_the_simulated_user_agrees_when_the_reference_user_does() -> None:
    step = {"tool": "qdi_stop_task", "args": {"project_id": "p", "task_id": "t"}, "confirm": "user_agrees"}
    task = _parse(_task(trajectory=[step]))
    assert task.user_agrees and task.user_replies == (AGREEING_REPLY,)


def test_load_tasks_reads_a_directory_and_refuses_unknown_ids(tmp_path: Path) -> None:
    (tmp_path / "sample.yaml").write_text(yaml.safe_dump(_task()), encoding="utf-8")
    assert [task.id for task in load_tasks(tmp_path)] == ["sample"]
    with pytest.raises(TaskError, match="no task with id missing"):
        load_tasks(tmp_path, only=["missing"])


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(TaskError, match="broken.yaml: invalid YAML"):
        load_task(path)
