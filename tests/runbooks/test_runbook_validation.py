"""A runbook is checked as a whole before any step runs; each problem names the step and the field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from qdi_mcp.cli import main
from qdi_mcp.runbook import RunbookError, coerce_var, parse_runbook, parse_var_arguments

PID = "6650f0c1a2b3c4d5e6f70001"


def problems_of(text: str) -> list[str]:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(textwrap.dedent(text), source="rb.yaml")
    return [str(problem) for problem in caught.value.problems]


def runbook_with_step(step: str, *, vars_block: str = "vars: {project: p1}") -> str:
    return (
        f"name: t\n{vars_block}\nsteps:\n"
        f"  - name: list\n    tool: qdi_list_projects\n" + textwrap.indent(textwrap.dedent(step).strip(), "  ") + "\n"
    )


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            "- name: prepare prod\n  tool: qdi_prepare_project_and_wait\n  args: {projectid: x}",
            "step 2 (prepare prod).args: unknown argument 'projectid' for qdi_prepare_project_and_wait",
        ),
        (
            "- name: prepare prod\n  tool: qdi_prepare_project_and_wait\n  args: {allow_recreate: true}",
            "step 2 (prepare prod).args: missing required argument 'project_id' for qdi_prepare_project_and_wait",
        ),
        (
            "- name: prepare prod\n  tool: qdi_prepare_project_and_wait\n"
            "  args: {project_id: x, allow_recreate: 'yes'}",
            "step 2 (prepare prod).args: argument 'allow_recreate': 'yes' is not of type 'boolean'",
        ),
        (
            "- name: prep\n  tool: qdi_prepare_projects_and_wait\n  args: {project_id: x}",
            "step 2 (prep).tool: unknown tool 'qdi_prepare_projects_and_wait'; did you mean "
            "qdi_prepare_project_and_wait?",
        ),
        (
            "- name: imp\n  tool: qdi_import_project\n  args: {project_id: x, path: a.zip, confirmation_token: t}",
            "step 2 (imp).args: leave confirmation_token out",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: '${vars.projct}'}",
            "step 2 (get).args: ${vars.projct}: no var 'projct' is declared under vars (declared: project)",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: '${steps.later.result.id}'}\n"
            "- name: later\n  tool: qdi_list_projects",
            "step 2 (get).args: ${steps.later.result.id}: step 'later' runs later (step 3); a step can only "
            "use earlier steps' results",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: '${steps.get.result.id}'}",
            "step 2 (get).args: ${steps.get.result.id}: a step cannot use its own result",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: '${steps.nope.result.id}'}",
            "step 2 (get).args: ${steps.nope.result.id}: there is no step named 'nope' (steps: list)",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: '${item.id}'}",
            "step 2 (get).args: ${item.id}: 'item' is only available in the args and expect of a step with for_each",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: '${vars.project'}",
            "step 2 (get).args: unclosed '${'",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: x}\n  expect: {state: {in: COMPLETED}}",
            "step 2 (get).expect.state.in: takes a list",
        ),
        (
            "- name: get\n  tool: qdi_get_project\n  args: {project_id: x}\n  where: {name: x}",
            "step 2 (get).where: only makes sense with for_each",
        ),
        ("- name: list\n  tool: qdi_list_projects", "step 2 (list).name: duplicate step name (step 1 has it too)"),
        # Schema problems: found first, named the same way.
        ("- name: get\n  args: {project_id: x}", "step 2 (get): missing required field 'tool'"),
        ("- name: get\n  tool: qdi_get_project\n  retries: 3", "step 2 (get): unknown field 'retries'"),
        (
            "- name: get\n  tool: qdi_list_projects\n  on_failure: ignore",
            "step 2 (get).on_failure: 'ignore' is not one of stop, continue",
        ),
        ("- name: a.b\n  tool: qdi_list_projects", "step 2 (a.b).name: a step name cannot contain '.'"),
        ("- name: get\n  tool: qdi_list_projects\n  confirm: 'yes'", "step 2 (get).confirm: must be true or false"),
        ("- name: get\n  tool: qdi_list_projects\n  args: [1]", "step 2 (get).args: must be a mapping"),
    ],
)
def test_invalid_steps_are_reported_with_step_and_field(step: str, problem: str) -> None:
    found = problems_of(runbook_with_step(step))
    assert any(p.startswith(problem) for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(
        """
        name: t
        steps:
          - name: a
            tool: qdi_get_project
            args: {project: x}
          - name: b
            tool: qdi_nothing
        """
    )
    assert any(p.startswith("step 1 (a).args: unknown argument 'project'") for p in found)
    assert any(p.startswith("step 1 (a).args: missing required argument 'project_id'") for p in found)
    assert any(p.startswith("step 2 (b).tool: unknown tool 'qdi_nothing'") for p in found)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("steps: []", "missing required field 'name'"),
        ("name: t\nsteps: []", "steps: needs at least one item"),
        ("name: t\nvariables: {}\nsteps: [{name: a, tool: qdi_list_projects}]", "unknown field 'variables'"),
        ("- a list", "a runbook is a mapping"),
        ("name: t\nsteps: [\n", "line "),
    ],
)
def test_invalid_documents_are_rejected(text: str, problem: str) -> None:
    found = problems_of(text)
    assert any(problem in p for p in found), found


def test_a_valid_runbook_compiles_templates_and_keeps_var_defaults() -> None:
    runbook = parse_runbook(
        textwrap.dedent(
            """
            name: t
            vars: {project: p1, recreate: false}
            steps:
              - name: status
                tool: qdi_get_project_status
                args: {project_id: "${vars.project}"}
              - name: start
                tool: qdi_start_task_and_wait
                for_each: "${steps.status.result.tasks}"
                args: {project_id: "${vars.project}", task_id: "${item.task_id}"}
                expect: {state: {in: [COMPLETED, RUNNING]}}
            """
        )
    )
    assert [step.name for step in runbook.steps] == ["status", "start"]
    assert runbook.variables == {"project": "p1", "recreate": False}
    assert runbook.steps[1].for_each is not None and runbook.steps[1].on_failure == "stop"


def test_var_overrides_take_the_type_of_the_default() -> None:
    assert coerce_var("true", False) is True
    assert coerce_var("no", True) is False
    assert coerce_var("12", 3) == 12
    assert coerce_var("Sales*,Orders*", ["*"]) == ["Sales*", "Orders*"]
    assert coerce_var('["a, b", "c"]', []) == ["a, b", "c"]
    assert coerce_var('{"k": "v"}', {}) == {"k": "v"}
    assert coerce_var("123", "text") == "123"
    with pytest.raises(ValueError, match="expected a number"):
        coerce_var("many", 3)


def test_unknown_vars_and_malformed_var_arguments_are_refused() -> None:
    runbook = parse_runbook("name: t\nvars: {project: p}\nsteps: [{name: a, tool: qdi_list_projects}]", source="x")
    with pytest.raises(RunbookError, match="declares no var 'projects'"):
        runbook.resolve_vars({"projects": "a"})
    with pytest.raises(RunbookError, match="'project' is not name=value"):
        parse_var_arguments(["project"])
    assert parse_var_arguments(["q=a=b"]) == {"q": "a=b"}


def test_the_cli_exits_2_naming_step_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(runbook_with_step("- name: prepare prod\n  tool: qdi_prepare_project_and_wait\n  args: {}"))
    code = main(["runbook", str(path), "--demo", "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2
    assert "step 2 (prepare prod).args: missing required argument 'project_id'" in err


def test_the_cli_json_report_of_an_invalid_runbook_lists_the_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\nsteps: [{name: a, tool: qdi_list_projects, args: {x: 1}}]\n")
    code = main(["runbook", str(path), "--demo", "--json", "--workdir", str(tmp_path / "w")])
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert report["status"] == "invalid" and report["exit_code"] == 2
    assert report["problems"][0]["location"] == "step 1 (a).args"
    assert "unknown argument 'x'" in report["problems"][0]["message"]


def test_the_cli_exits_2_for_an_unknown_var_and_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(f"name: t\nvars: {{p: {PID}}}\nsteps: [{{name: a, tool: qdi_list_projects}}]\n")
    assert main(["runbook", str(path), "--demo", "--var", "q=1", "--workdir", str(tmp_path / "w")]) == 2
    assert "declares no var 'q'" in capsys.readouterr().err
    assert main(["runbook", str(tmp_path / "none.yaml"), "--demo"]) == 2
    assert "file not found" in capsys.readouterr().err
