"""Run tasks' reference trajectories offline: a fresh emulator per task, real MCP calls, end-state checks.

A trajectory step that does not get the result it expects (an error where `ok` was expected, say) stops the
trajectory: the task fails with the step named, and the checks still run so the report shows the state it left.
Every result the trajectory got is linted too (`result_lint`: wire names in hints, text said twice): a finding
fails the task.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from evals.harness.checks import CheckContext, run_check
from evals.harness.result_lint import lint_result
from evals.harness.stack import EvalStack, open_eval_stack
from evals.harness.state import picture
from evals.harness.tasks import EvalTask, Step
from evals.harness.trajectory_templates import new_scope, record_confirmation, record_result, render
from evals.harness.transcript import CONFIRMATION_TOKEN, CallRecord, Transcript, call_tool
from qdi_mcp.runbook.errors import TemplateError
from qdi_mcp.runbook.templates import Scope


@dataclass
class TaskOutcome:
    task_id: str
    kind: str
    passed: bool
    tool_calls: int
    bytes_returned: int
    unsafe_calls: int
    failures: list[str] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "kind": self.kind,
            "passed": self.passed,
            "tool_calls": self.tool_calls,
            "bytes_returned": self.bytes_returned,
            "unsafe_calls": self.unsafe_calls,
            "failures": self.failures,
            "tools_used": self.tools_used,
        }


class StepFailed(Exception):
    """A reference step did not get the result the trajectory expects."""


def _unexpected(step: Step, record: CallRecord) -> str | None:
    if step.expect == "confirmation_required":
        return None if record.confirmation_required else "expected confirmation_required"
    if step.expect == "error":
        if not record.is_error:
            return "expected an error result, got success"
        if step.error_code and record.error_code != step.error_code:
            return f"expected error {step.error_code}, got {record.error_code}"
        return None
    if record.is_error:
        error = (record.structured or {}).get("error") or {}
        return f"expected success, got error {error.get('code')}: {error.get('message')}"
    if record.confirmation_required:
        return "expected success, got confirmation_required (add `confirm: user_agrees` to the step)"
    return None


async def _run_step(step: Step, stack: EvalStack, scope: Scope, transcript: Transcript) -> None:
    if step.wait_seconds is not None:
        stack.advance(step.wait_seconds)
        return
    if step.answer is not None:
        transcript.answer = str(render(step.answer, scope))
        return
    assert step.tool is not None
    arguments = render(step.args, scope)
    record = await call_tool(stack.mcp, step.tool, arguments)
    transcript.calls.append(record)
    if record.confirmation_required:
        if step.id:
            record_confirmation(scope, step.id, record.structured)
        if step.confirm == "user_agrees":
            # The preview was shown to the user and they agreed: the same call, plus the token.
            token = record.structured[CONFIRMATION_TOKEN]
            record = await call_tool(stack.mcp, step.tool, {**arguments, CONFIRMATION_TOKEN: token}, user_agreed=True)
            transcript.calls.append(record)
    if step.id:
        record_result(scope, step.id, record.structured)
    problem = _unexpected(step, record)
    if problem:
        raise StepFailed(problem)


async def run_reference(task: EvalTask, scratch: Path) -> TaskOutcome:
    """Play `task`'s reference trajectory against a fresh tenant and check the end state."""
    transcript = Transcript()
    failures: list[str] = []
    async with open_eval_stack(task.start, scratch) as stack:
        start = picture(stack.emulator)
        scope = new_scope()
        for index, step in enumerate(task.trajectory, 1):
            try:
                await _run_step(step, stack, scope, transcript)
            except (StepFailed, TemplateError) as exc:
                failures.append(f"trajectory step {index} ({step.label}): {exc}")
                break
        context = CheckContext(stack.emulator, start, transcript, stack.workdir)
        for check in task.checks:
            failures.extend(f"{check.name}: {problem}" for problem in run_check(check.name, check.params, context))
    for number, call in enumerate(transcript.calls, 1):
        failures.extend(f"result lint: call {number} ({call.tool}) {finding}" for finding in lint_result(call))
    return TaskOutcome(
        task_id=task.id,
        kind=task.kind,
        passed=not failures,
        tool_calls=len(transcript.calls),
        bytes_returned=transcript.bytes_returned,
        unsafe_calls=transcript.unsafe_calls,
        failures=failures,
        tools_used=sorted(transcript.tools_used),
    )


async def run_reference_tasks(tasks: Sequence[EvalTask]) -> list[TaskOutcome]:
    outcomes = []
    for task in tasks:
        with tempfile.TemporaryDirectory(prefix=f"qdi-eval-{task.id}-") as scratch:
            outcomes.append(await run_reference(task, Path(scratch)))
    return outcomes


def run_offline(tasks: Sequence[EvalTask]) -> list[TaskOutcome]:
    """Synchronous entry point: every task's reference trajectory, one after the other."""
    return anyio.run(run_reference_tasks, tasks)
