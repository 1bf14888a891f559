"""Expectations and `where` are checked against the tools' output schemas before any step runs: an unknown
field or operator makes the runbook invalid, naming the step, the path and what exists there."""

from __future__ import annotations

import textwrap

import pytest

from qdi_mcp.runbook import RunbookError, parse_runbook

PID = "6650f0c1a2b3c4d5e6f70001"


def runbook(tool: str, expect: str, *, args: str = f"{{project_id: {PID}, task_id: t1}}") -> str:
    return textwrap.dedent(
        f"""
        name: t
        steps:
          - name: check
            tool: {tool}
            args: {args}
            expect: {expect}
        """
    )


def problems_of(text: str) -> list[str]:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(text, source="rb.yaml")
    return [str(problem) for problem in caught.value.problems]


STATUS_ARGS = f"{{project_id: {PID}}}"


@pytest.mark.parametrize(
    ("tool", "expect", "args", "problem"),
    [
        (
            "qdi_get_task_state",
            "{stat: {ne: FAILED}}",
            None,
            "step 1 (check).expect.stat: no field 'stat' in the result of qdi_get_task_state (its fields: last_run, "
            "name, project_id, readiness, readiness_message, state, task_id, type); did you mean state?",
        ),
        (
            "qdi_get_project_status",
            "{tasks: {all: {datasets_in_eror: {not_in: [1, 2, 3]}}}}",
            STATUS_ARGS,
            "step 1 (check).expect.tasks.all.datasets_in_eror: no field 'datasets_in_eror' in the items of tasks "
            "(its fields: datasets, datasets_in_error, failed_run_id, name, readiness, stage, state, status, task_id, "
            "type, upstream); did you mean datasets_in_error?",
        ),
        (
            "qdi_get_task_state",
            "{state: {neq: FAILED}}",
            None,
            "step 1 (check).expect.state: unknown operator 'neq'; did you mean ne? (state is null or text, so 'neq' "
            "cannot be one of its fields; the operators are all, any,",
        ),
        (
            "qdi_get_project_status",
            "{tasks: {any: {state: {not: {eqq: FAILED}}}}}",
            STATUS_ARGS,
            "step 1 (check).expect.tasks.any.state.not: unknown operator 'eqq'; did you mean eq?",
        ),
        (
            "qdi_get_project_status",
            "{tasks: {length: {gtt: 0}}}",
            STATUS_ARGS,
            "step 1 (check).expect.tasks.length: unknown operator 'gtt'; did you mean gt?",
        ),
        (
            "qdi_get_project_status",
            "{tasks.0.stat: COMPLETED}",
            STATUS_ARGS,
            "step 1 (check).expect.tasks.0.stat: no field 'stat' in tasks.0 (its fields: datasets,",
        ),
        (
            "qdi_get_project_status",
            "{tasks.first.state: COMPLETED}",
            STATUS_ARGS,
            "step 1 (check).expect.tasks.first.state: tasks is a list: 'first' is not an item number",
        ),
        (
            "qdi_get_project_status",
            "{tasks.0.state.code: 0}",
            STATUS_ARGS,
            "step 1 (check).expect.tasks.0.state.code: tasks.0.state is null or text, so it has no field 'code'",
        ),
        (
            "qdi_get_task_state",
            "{last_run: {stat: FAILED}}",
            None,
            "step 1 (check).expect.last_run.stat: no field 'stat' in last_run (its fields: cdc_status, duration,",
        ),
        (
            "qdi_get_project_status",
            "{summary: {all: {state: FAILED}}}",
            STATUS_ARGS,
            "step 1 (check).expect.summary.all: 'all' needs a list, but summary is text",
        ),
        (
            "qdi_get_project_status",
            "{counts: {faild: 0, ne: 1}}",
            STATUS_ARGS,
            "step 1 (check).expect.counts: mixes operators (ne) with other keys (faild)",
        ),
        (
            "qdi_import_project",
            "{stats: imported}",
            f"{{project_id: {PID}, path: a.zip}}",
            # A destructive tool's result may be the import, a confirmation request or a refusal: all their fields.
            "step 1 (check).expect.stats: no field 'stats' in the result of qdi_import_project (its fields: "
            "action_id, backup, changes, confirmation_token, endpoint, expires_at, format, message, path, preview, "
            "project_id, "
            "status, tasks); did you mean status?",
        ),
        (
            "qdi_list_projects",
            "{ne: 0}",
            "{}",
            "step 1 (check).expect.ne: no field 'ne' in the result of qdi_list_projects (its fields: count, projects); "
            "did you mean the operator ne, as in {ne: ...}?",
        ),
    ],
)
def test_an_expectation_on_a_field_or_operator_that_does_not_exist_is_invalid(
    tool: str, expect: str, args: str | None, problem: str
) -> None:
    text = runbook(tool, expect) if args is None else runbook(tool, expect, args=args)
    found = problems_of(text)
    assert any(p.startswith(problem) for p in found), found


@pytest.mark.parametrize(
    ("tool", "expect", "args"),
    [
        ("qdi_get_task_state", "{state: {ne: FAILED}, readiness: {exists: true}}", None),
        # List items by position, from the end too; a map's keys (counts per state) are open.
        ("qdi_get_project_status", "{tasks.0.state: COMPLETED, tasks.-1.datasets_in_error: 0}", STATUS_ARGS),
        ("qdi_get_project_status", "{counts.failed: {exists: false}, counts: {completed: {gte: 1}}}", STATUS_ARGS),
        ("qdi_get_project_status", "{tasks: {all: {datasets: {all: {anything: 1}}}}}", STATUS_ARGS),
        # Binding names hold dots: the key is found whichever way the path splits.
        ("qdi_get_bindings", "{variables.task.crm_landing-xqm0.sourceConnection: {contains: PROD}}", STATUS_ARGS),
        ("qdi_get_bindings", "{name_to_id_map.anything: {exists: true}}", STATUS_ARGS),
        # An object whose schema lists no fields may have any.
        ("qdi_get_task_state", "{last_run.general.datasets_in_error_count: 0}", None),
        # Any branch of a destructive tool's result: the import, the confirmation request, the refusal.
        (
            "qdi_import_project",
            "{status: imported, tasks: {length: {gt: 0}}, preview.action: {exists: false}}",
            f"{{project_id: {PID}, path: a.zip}}",
        ),
        ("qdi_list_projects", "{count: '${vars.expected}'}", "{}"),
    ],
)
def test_expectations_on_fields_the_result_can_have_are_valid(tool: str, expect: str, args: str | None) -> None:
    text = runbook(tool, expect) if args is None else runbook(tool, expect, args=args)
    text = text.replace("name: t\n", "name: t\nvars: {expected: 4}\n")
    runbook_ = parse_runbook(text)
    assert runbook_.steps[0].expect is not None


FOR_EACH = """
name: t
steps:
  - name: list
    tool: qdi_list_projects
  - name: status
    tool: qdi_get_project_status
    for_each: "${{steps.list.result.projects}}"
    where: {where}
    args: {{project_id: "${{item.id}}"}}
  - name: again
    tool: qdi_get_project
    for_each: "${{steps.status.result}}"
    where: {again_where}
    args: {{project_id: "${{item.project.id}}"}}
"""


def test_where_is_checked_against_the_items_of_an_earlier_steps_result() -> None:
    found = problems_of(FOR_EACH.format(where="{nam: {glob: 'C*'}}", again_where="{summary: {matches: x}}"))

    assert found == [
        "step 2 (status).where.nam: no field 'nam' in a for_each item (its fields: description, id, name, "
        "owner_id, platform_type, space_id, space_name, type); did you mean name?"
    ]


def test_where_on_the_results_of_a_for_each_step_sees_one_tool_result_per_item() -> None:
    found = problems_of(FOR_EACH.format(where="{name: {glob: 'C*'}}", again_where="{summry: {matches: x}}"))

    assert len(found) == 1
    assert found[0].startswith("step 3 (again).where.summry: no field 'summry' in a for_each item (its fields: ")
    assert "did you mean summary?" in found[0]


def test_where_on_items_from_vars_is_left_to_run_time() -> None:
    text = textwrap.dedent(
        """
        name: t
        vars: {projects: [{id: a}]}
        steps:
          - name: status
            tool: qdi_get_project_status
            for_each: "${vars.projects}"
            where: {anything: {ne: x}}
            args: {project_id: "${item.id}"}
        """
    )
    assert parse_runbook(text).steps[0].where is not None
