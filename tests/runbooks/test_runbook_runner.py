"""The runner against the real server stack (emulator on a virtual clock): confirmation, failures, policy,
for_each, progress and audit."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, SALES_QVD, Stack, open_stack

from qdi_mcp.runbook import RunOptions, RunReport, SilentReporter, ToolSession, parse_runbook, run_runbook

pytestmark = pytest.mark.anyio


async def run(stack: Stack, text: str, *, reporter: Any = None, **flags: Any) -> RunReport:
    runbook = parse_runbook(textwrap.dedent(text), source="test.yaml")
    variables = runbook.resolve_vars(flags.pop("var_overrides", {}))
    session = ToolSession.for_server(stack.mcp, stack.qdi)
    return await run_runbook(runbook, session, options=RunOptions(variables, **flags), reporter=reporter)


def statuses(report: RunReport) -> list[str]:
    return [step.status for step in report.steps]


async def test_a_step_that_becomes_destructive_at_run_time_stops_before_it_runs(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        report = await run(
            stack,
            f"""
            name: recreate from a result
            steps:
              - name: export
                tool: qdi_export_project
                args: {{project_id: {stack.project_id(CUSTOMER_360)}, include_bindings: true}}
              - name: prepare
                tool: qdi_prepare_project_and_wait
                confirm: true
                args:
                  project_id: {stack.project_id(CUSTOMER_360)}
                  allow_recreate: "${{steps.export.result.include_bindings}}"
              - name: after
                tool: qdi_list_projects
            """,
        )

        assert report.exit_code == 3
        assert statuses(report) == ["passed", "needs_confirmation", "not_run"]
        assert stack.emulator.counters["prepare_project"] == 0
        assert report.steps[1].calls[0].preview["action"].startswith("prepare project")
        assert "--yes was not given" in report.message


async def test_a_destructive_step_without_confirm_true_does_not_run_even_with_yes(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        orders, task = stack.project_id(ORDERS), stack.task_id(ORDERS, "ORDERS REPLICATION")
        report = await run(
            stack,
            f"""
            name: stop
            steps:
              - name: stop replication
                tool: qdi_stop_task_and_wait
                args: {{project_id: {orders}, task_id: {task}}}
            """,
            yes=True,
        )

        assert report.exit_code == 3
        assert "mark it confirm: true" in report.message
        assert stack.emulator.task_run_state(orders, task) == "RUNNING"
        assert stack.emulator.counters["stop_task"] == 0


async def test_a_confirmed_destructive_step_runs_with_yes_and_reports_its_preview(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        orders, task = stack.project_id(ORDERS), stack.task_id(ORDERS, "ORDERS REPLICATION")
        report = await run(
            stack,
            f"""
            name: stop
            steps:
              - name: stop replication
                tool: qdi_stop_task_and_wait
                confirm: true
                args: {{project_id: {orders}, task_id: {task}}}
                expect: {{state: CANCELED}}
            """,
            yes=True,
        )

        assert report.exit_code == 0, report.to_json()
        call = report.steps[0].calls[0]
        assert call.confirmed and "ORDERS REPLICATION" in str(call.preview)
        assert stack.emulator.task_run_state(orders, task) == "CANCELED"
        assert "confirmation_token" not in str(report.to_json())
        executed = [r for r in stack.audit if r["tool"] == "qdi_stop_task_and_wait" and r["outcome"] == "executed"]
        assert executed and executed[0]["confirmed_by"] == "token"


FAILING_PREPARE = """
name: prepare sales
steps:
  - name: prepare
    tool: qdi_prepare_project_and_wait
    args: {{project_id: {project}}}
    expect: {{state: COMPLETED}}
    on_failure: {on_failure}
  - name: list
    tool: qdi_list_projects
"""


async def test_an_expectation_that_does_not_hold_fails_the_step_and_stops_the_run(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        report = await run(stack, FAILING_PREPARE.format(project=stack.project_id(SALES_QVD), on_failure="stop"))

        assert report.exit_code == 1
        assert statuses(report) == ["failed", "not_run"]
        assert report.steps[0].calls[0].failures == ["state: expected COMPLETED, got FAILED"]


async def test_on_failure_continue_runs_the_next_steps_and_still_fails_the_run(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        report = await run(stack, FAILING_PREPARE.format(project=stack.project_id(SALES_QVD), on_failure="continue"))

        assert report.exit_code == 1
        assert statuses(report) == ["failed", "passed"]


async def test_a_tool_error_fails_the_step_with_the_servers_structured_error(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        report = await run(
            stack,
            """
            name: bad id
            steps:
              - name: get
                tool: qdi_get_project
                args: {project_id: 6650f0c1a2b3c4d5e6f7ffff}
            """,
        )

        assert report.exit_code == 1
        error = report.steps[0].calls[0].error
        assert error is not None and error["http_status"] == 404 and error["hint"]


async def test_read_only_mode_refuses_a_runbook_with_write_steps_before_running_any(tmp_path: Path) -> None:
    async with open_stack(tmp_path, read_only=True) as stack:
        report = await run(
            stack,
            f"""
            name: write
            steps:
              - name: list
                tool: qdi_list_projects
              - name: start
                tool: qdi_start_task
                args: {{project_id: {stack.project_id(CUSTOMER_360)}, task_id: x}}
            """,
        )

        assert report.exit_code == 2
        assert str(report.problems[0]).startswith("step 2 (start).tool: qdi_start_task is not available")
        assert "read-only" in str(report.problems[0])
        assert stack.reads_and_writes() == 0


async def test_for_each_with_where_calls_once_per_kept_item(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        project = stack.project_id(CUSTOMER_360)
        report = await run(
            stack,
            f"""
            name: landing states
            vars: {{pattern: "*LANDING"}}
            steps:
              - name: tasks
                tool: qdi_list_tasks
                args: {{project_id: {project}}}
              - name: states
                tool: qdi_get_task_state
                for_each: "${{steps.tasks.result.tasks}}"
                where: {{name: {{glob: "${{vars.pattern}}"}}}}
                args: {{project_id: {project}, task_id: "${{item.id}}"}}
                expect: {{task_id: "${{item.id}}", readiness: READY_TO_RUN}}
              - name: first landing
                tool: qdi_get_task
                args: {{project_id: {project}, task_id: "${{steps.states.result.0.task_id}}"}}
            """,
        )

        assert report.exit_code == 0, report.to_json()
        assert [call.item for call in report.steps[1].calls] == ["CRM LANDING", "ERP LANDING"]
        assert report.steps[2].calls[0].arguments["task_id"] == stack.task_id(CUSTOMER_360, "CRM LANDING")


async def test_a_reference_without_a_value_at_run_time_fails_the_step_saying_why(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        report = await run(
            stack,
            """
            name: typo in a path
            steps:
              - name: projects
                tool: qdi_list_projects
              - name: get
                tool: qdi_get_project
                args: {project_id: "${steps.projects.result.projects.0.identifier}"}
            """,
        )

        assert report.exit_code == 1
        message = report.steps[1].calls[0].error["message"]
        assert "no key 'identifier'" in message and "id" in message


class RecordingReporter(SilentReporter):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.updates: list[tuple[float, float | None, str | None]] = []

    def call_started(self, step: Any, item: str | None) -> None:
        self.calls.append((step.name, item))

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.append((progress, total, message))


async def test_progress_notifications_of_waiting_tools_reach_the_reporter(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        reporter = RecordingReporter()
        report = await run(
            stack,
            f"""
            name: validate
            steps:
              - name: validate
                tool: qdi_validate_project_and_wait
                args: {{project_id: {stack.project_id(CUSTOMER_360)}}}
                expect: {{state: COMPLETED}}
            """,
            reporter=reporter,
        )

        assert report.exit_code == 0
        assert reporter.calls == [("validate", None)]
        assert len(reporter.updates) >= 2
        values = [update[0] for update in reporter.updates]
        assert values == sorted(values) and reporter.updates[-1][1] == 6


async def test_writes_made_by_a_runbook_are_in_the_audit_log(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        project = stack.project_id(SALES_QVD)
        report = await run(
            stack,
            f"""
            name: bind
            vars: {{fix: {{"task.sales_landing-8mdj.sourceConnection": "{{{{id(connection, DEV_SPACE.MySQL_DEV)}}}}"}}}}
            steps:
              - name: read
                tool: qdi_get_bindings
                args: {{project_id: {project}}}
              - name: write
                tool: qdi_update_bindings
                args:
                  project_id: {project}
                  variables: {{$merge: ["${{steps.read.result.variables}}", "${{vars.fix}}"]}}
            """,
        )

        assert report.exit_code == 0, report.to_json()
        written = [r for r in stack.audit if r["tool"] == "qdi_update_bindings"]
        assert [r["outcome"] for r in written] == ["started", "executed"]
        assert stack.emulator.bindings(project)["task.sales_landing-8mdj.sourceConnection"].startswith("{{id(")


async def test_with_confirmation_off_a_step_destructive_at_run_time_still_needs_confirm_and_yes(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(CUSTOMER_360)
        task = stack.task_id(CUSTOMER_360, "CRM STORAGE")
        report = await run(
            stack,
            f"""
            name: reloads
            vars:
              strategies: [NONE, TRUNCATE]
            steps:
              - name: reload
                tool: qdi_request_task_reload
                for_each: "${{vars.strategies}}"
                args: {{project_id: {pid}, task_id: {task}, reload_strategy: "${{item}}"}}
            """,
        )
        assert report.exit_code == 3
        assert [call.status for call in report.steps[0].calls] == ["passed", "needs_confirmation"]
        assert stack.emulator.counters["request_task_reload"] == 1  # the NONE reload only
        assert "1 earlier call(s) of that step ran" in report.message
