"""Running a checked runbook: one step after another, each through the MCP server.

Confirmation: a destructive call runs only when its step says `confirm: true` AND the run was started with
`--yes`; the runner then repeats the call with the server's token. Destructive steps that are known to be
destructive before the run (the tool always is, or its arguments make it so from vars alone) are checked
first, so a run that would stop for confirmation stops before it changes anything.

Dry run: read tools are called (so later steps' arguments resolve); write and destructive steps are shown as
"would call". Once a step is skipped, later steps are not called either: they would look at a state the
real run would have changed, and report something it would not see. A read tool that writes a file into the
work folder (an export, `writes_files` in its spec) is shown and not called: a dry run writes nothing. It changes
nothing in the tenant, so the steps after it still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from qdi_mcp.runbook.conditions import condition_failures, holds
from qdi_mcp.runbook.errors import Problem, TemplateError, step_number
from qdi_mcp.runbook.model import Runbook, Step
from qdi_mcp.runbook.paths import MISSING, describe
from qdi_mcp.runbook.report import (
    FAILED,
    NEEDS_CONFIRMATION,
    NOT_RUN,
    PASSED,
    WOULD_CALL,
    CallRecord,
    RunReport,
    StepRecord,
)
from qdi_mcp.runbook.session import ToolSession
from qdi_mcp.runbook.templates import Scope, Unresolved, contains_unresolved, resolve
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT, ToolSpec


class Reporter(Protocol):
    def run_started(self, runbook: Runbook, report: RunReport) -> None: ...
    def call_started(self, step: Step, item: str | None) -> None: ...
    async def progress(self, progress: float, total: float | None, message: str | None) -> None: ...
    def step_finished(self, record: StepRecord, total_steps: int) -> None: ...
    def run_finished(self, report: RunReport) -> None: ...


class SilentReporter:
    def run_started(self, runbook: Runbook, report: RunReport) -> None:
        return None

    def call_started(self, step: Step, item: str | None) -> None:
        return None

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        return None

    def step_finished(self, record: StepRecord, total_steps: int) -> None:
        return None

    def run_finished(self, report: RunReport) -> None:
        return None


@dataclass(frozen=True)
class RunOptions:
    variables: Mapping[str, Any]  # the runbook's vars with --var overrides applied (Runbook.resolve_vars)
    dry_run: bool = False
    yes: bool = False
    timer: Callable[[], float] = time.monotonic


async def run_runbook(
    runbook: Runbook, session: ToolSession, *, options: RunOptions, reporter: Reporter | None = None
) -> RunReport:
    reporter = reporter or SilentReporter()
    report = RunReport(
        runbook=runbook.name,
        source=runbook.source,
        variables=dict(options.variables),
        dry_run=options.dry_run,
        description=runbook.description,
    )
    report.problems = unavailable_tools(runbook, session)
    if report.problems:
        report.message = "the runbook uses tools this server does not offer under its policy; nothing was run"
        reporter.run_finished(report)
        return report
    reporter.run_started(runbook, report)
    started = options.timer()
    await _Run(runbook, session, options, reporter, report).execute()
    report.duration_seconds = options.timer() - started
    report.message = report.message or _closing_message(report)
    reporter.run_finished(report)
    return report


def unavailable_tools(runbook: Runbook, session: ToolSession) -> list[Problem]:
    problems = []
    for step in runbook.steps:
        if step.tool not in session.served:
            reason = session.refused.get(step.tool, "this server does not offer it")
            problems.append(Problem(f"{step.location}.tool", f"{step.tool} is not available: {reason}"))
    return problems


def needs_confirmation_upfront(step: Step, spec: ToolSpec, variables: Mapping[str, Any]) -> bool:
    """Whether the step is destructive as far as can be told before the run (from the tool and vars)."""
    if spec.safety == "destructive":
        return True
    if not spec.destructive_when:
        return False
    try:
        arguments = resolve(step.args, Scope(variables, partial=True, item=Unresolved("item")))
    except TemplateError:
        return False
    if not isinstance(arguments, dict):
        return False
    known = {key: value for key, value in arguments.items() if not contains_unresolved(value)}
    conditions = {condition.argument for condition in spec.destructive_when}
    return conditions <= known.keys() and spec.is_destructive_for(known)


class _Run:
    def __init__(
        self, runbook: Runbook, session: ToolSession, options: RunOptions, reporter: Reporter, report: RunReport
    ) -> None:
        self.runbook = runbook
        self.session = session
        self.options = options
        self.reporter = reporter
        self.report = report
        self.step_values: dict[str, dict[str, Any]] = {}
        self.stopped = False
        self.not_run_reason = ""  # what steps after a stop say about why they did not run
        self.skipped_a_change = False  # dry run: a write step was shown, not called

    async def execute(self) -> None:
        blocked = [] if self.options.dry_run else self._unconfirmed_steps()
        blocked_indexes = {step.index for step in blocked}
        if blocked:
            self.stopped = True
            self.not_run_reason = "not run: the run was refused before any step (nothing ran)"
            self.report.message = _confirmation_message(blocked, self.options.yes)
        for step in self.runbook.steps:
            spec = self.session.served[step.tool]
            record = StepRecord(step.index, step.name, step.tool, spec.safety, for_each=step.for_each is not None)
            if step.index in blocked_indexes:
                record.status = NEEDS_CONFIRMATION
                record.message = "destructive: needs " + (
                    "--yes" if step.confirm else "confirm: true in the runbook (after review) and --yes"
                )
            elif not self.stopped:
                await self._run_step(step, spec, record)
            else:
                record.message = self.not_run_reason
            self.report.steps.append(record)
            self.reporter.step_finished(record, len(self.runbook.steps))

    def _unconfirmed_steps(self) -> list[Step]:
        return [
            step
            for step in self.runbook.steps
            if not (step.confirm and self.options.yes)
            and needs_confirmation_upfront(step, self.session.served[step.tool], self.options.variables)
        ]

    async def _run_step(self, step: Step, spec: ToolSpec, record: StepRecord) -> None:
        started = self.options.timer()
        if self.options.dry_run and (spec.safety != "read" or spec.writes_files or self.skipped_a_change):
            self._plan(step, spec, record)
            # An export that was not called leaves the tenant as it is: later reads still see the real state.
            self.skipped_a_change = self.skipped_a_change or spec.safety != "read"
            return
        scope = self._scope()
        try:
            items = self._items(step, scope)
        except TemplateError as exc:
            items = []
            record.status, record.message = FAILED, str(exc)
        else:
            if step.for_each is not None and not items and not step.allow_empty:
                record.status = FAILED
                record.message = "for_each has no items (set allow_empty: true if that is fine)"
            for label, item in items:
                call = await self._call(step, label, item)
                record.calls.append(call)
                if call.status == NEEDS_CONFIRMATION or (call.status == FAILED and step.on_failure == "stop"):
                    break
            if record.status != FAILED:
                record.status, record.message = _outcome(record, step)
        record.duration_seconds = self.options.timer() - started
        if record.status == WOULD_CALL:
            self.skipped_a_change = True
        else:
            self.step_values[step.name] = record.template_values()
        if record.status == NEEDS_CONFIRMATION:
            self._stop_at(step, "needs confirmation")
            ran = sum(1 for call in record.calls if call.status == PASSED)
            self.report.message = (
                f"stopped before {step.location}: the call is destructive "
                + ("and the step is not marked confirm: true" if step.confirm is False else "and --yes was not given")
                + (f"; {ran} earlier call(s) of that step ran" if ran else "; nothing was done by that step")
            )
        elif record.status == FAILED and step.on_failure == "stop":
            self._stop_at(step, "failed")

    def _stop_at(self, step: Step, why: str) -> None:
        self.stopped = True
        self.not_run_reason = f"not run: the run stopped at {step.location}, which {why}"

    def _scope(self, item: Any = MISSING) -> Scope:
        return Scope(self.options.variables, self.step_values, item=item, partial=self.options.dry_run)

    def _items(self, step: Step, scope: Scope) -> list[tuple[str | None, Any]]:
        if step.for_each is None:
            return [(None, MISSING)]
        values = resolve(step.for_each, scope)
        if isinstance(values, Unresolved):
            return [(str(values), values)]
        if not isinstance(values, list):
            raise TemplateError(f"for_each must give a list, it gave {describe(values)}")
        where = resolve(step.where, scope) if step.where is not None else None
        if contains_unresolved(where):
            raise TemplateError(f"where depends on a step the dry run does not execute: {where}")
        return [(item_name(item, i), item) for i, item in enumerate(values) if where is None or holds(where, item)]

    async def _call(self, step: Step, label: str | None, item: Any) -> CallRecord:
        started = self.options.timer()
        record = await self._call_once(step, label, item)
        record.duration_seconds = self.options.timer() - started
        return record

    async def _call_once(self, step: Step, label: str | None, item: Any) -> CallRecord:
        scope = self._scope(item)
        try:
            arguments = resolve(step.args, scope)
        except TemplateError as exc:
            return CallRecord(label, None, FAILED, error=_error("template_error", str(exc)))
        if contains_unresolved(arguments) or isinstance(item, Unresolved):
            return CallRecord(label, arguments, WOULD_CALL, note="its arguments come from a step the dry run skips")
        if not isinstance(arguments, dict):
            return CallRecord(label, None, FAILED, error=_error("template_error", "args must resolve to a mapping"))
        if (
            not self.session.server_asks_first
            and self.session.served[step.tool].is_destructive_for(arguments)
            and not (step.confirm and self.options.yes)
        ):
            # The runbook's own rule holds even when the server would not ask (QDI_MCP_CONFIRM=never): a
            # destructive call runs only from a step marked confirm: true, with --yes.
            return CallRecord(label, arguments, NEEDS_CONFIRMATION, summary="destructive call: not run")
        self.reporter.call_started(step, label)
        try:
            result = await self.session.call(step.tool, arguments, self.reporter.progress)
            structured = result.structured_content
            confirmed, preview = False, None
            if _asks_confirmation(result):
                preview = structured.get("preview")
                if not (step.confirm and self.options.yes):
                    return CallRecord(label, arguments, NEEDS_CONFIRMATION, summary=_summary(result), preview=preview)
                token = structured[CONFIRMATION_TOKEN_ARGUMENT]
                result = await self.session.call(
                    step.tool, {**arguments, CONFIRMATION_TOKEN_ARGUMENT: token}, self.reporter.progress
                )
                structured, confirmed = result.structured_content, True
        except Exception as exc:  # noqa: BLE001 - a protocol failure fails this step; the report says why
            return CallRecord(label, arguments, FAILED, error=_error("protocol_error", f"{type(exc).__name__}: {exc}"))
        call = CallRecord(
            label, arguments, PASSED, summary=_summary(result), result=structured, preview=preview, confirmed=confirmed
        )
        if result.is_error:
            call.status, call.result = FAILED, None
            call.error = (structured or {}).get("error") or _error("tool_error", call.summary)
            return call
        if step.expect is not None:
            try:
                call.failures = condition_failures(resolve(step.expect, scope), structured)
            except TemplateError as exc:
                call.failures = [f"expect: {exc}"]
            if call.failures:
                call.status = FAILED
        return call

    def _plan(self, step: Step, spec: ToolSpec, record: StepRecord) -> None:
        record.status = WOULD_CALL
        if spec.safety != "read":
            reason = "not called in a dry run: it changes the tenant"
        elif spec.writes_files:
            reason = "not called in a dry run: it writes a file into the work folder"
        else:
            reason = "not called: it follows a step the dry run skips, so it would see a state the run changes"
        try:
            items = self._items(step, self._scope())
        except TemplateError as exc:
            record.message = f"{reason}; {exc}"
            return
        for label, item in items:
            try:
                arguments = resolve(step.args, self._scope(item))
            except TemplateError as exc:
                arguments = f"<{exc}>"
            note = None
            if (
                isinstance(arguments, dict)
                and not contains_unresolved(arguments)
                and spec.is_destructive_for(arguments)
            ):
                ready = step.confirm
                note = "destructive: " + ("runs with --yes" if ready else "needs confirm: true and --yes")
            record.calls.append(CallRecord(label, arguments, WOULD_CALL, note=note))
        known_items = step.for_each is not None and not any(isinstance(item, Unresolved) for _, item in items)
        record.message = reason + (f" ({len(items)} items)" if known_items else "")


def item_name(item: Any, position: int) -> str:
    if isinstance(item, Mapping):
        for key in ("name", "task_id", "id"):
            if isinstance(item.get(key), str) and item[key]:
                return str(item[key])
    if isinstance(item, str | int | float):
        return str(item)
    return f"#{position}"


def _outcome(record: StepRecord, step: Step) -> tuple[str, str]:
    calls = record.calls
    if any(call.status == NEEDS_CONFIRMATION for call in calls):
        call = next(call for call in calls if call.status == NEEDS_CONFIRMATION)
        return NEEDS_CONFIRMATION, call.summary or "destructive call needs confirmation"
    failed = [call for call in calls if call.status == FAILED]
    if failed:
        first = failed[0]
        why = "; ".join(first.failures) if first.failures else (first.error or {}).get("message", "failed")
        where = f"{len(failed)} of {len(calls)} items failed, first {first.item}: " if step.for_each is not None else ""
        return FAILED, where + str(why)
    if calls and all(call.status == WOULD_CALL for call in calls):
        return WOULD_CALL, calls[0].note or "would call"
    if step.for_each is not None:
        return PASSED, f"{len(calls)} item{'s' if len(calls) != 1 else ''}: " + ", ".join(
            f"{call.item}" for call in calls[:8]
        ) + (" ..." if len(calls) > 8 else "")
    return PASSED, calls[0].summary if calls else ""


def _asks_confirmation(result: Any) -> bool:
    structured = result.structured_content
    return (
        not result.is_error
        and isinstance(structured, dict)
        and structured.get("status") == "confirmation_required"
        and CONFIRMATION_TOKEN_ARGUMENT in structured
    )


def _summary(result: Any) -> str:
    for block in result.content or []:
        text = getattr(block, "text", None)
        if text:
            return text.strip().splitlines()[0]
    return ""


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


def _confirmation_message(blocked: list[Step], yes: bool) -> str:
    names = ", ".join(f"{step.name!r} ({step_number(step.index)}, {step.tool})" for step in blocked)
    fixes = []
    if any(not step.confirm for step in blocked):
        fixes.append("review the step and mark it confirm: true")
    if not yes:
        fixes.append("run with --yes")
    plural = len(blocked) > 1
    return (
        f"nothing was run: destructive step{'s' if plural else ''} {names} need{'' if plural else 's'} "
        f"confirmation; to let {'them' if plural else 'it'} run, {' and '.join(fixes)}"
    )


def _closing_message(report: RunReport) -> str:
    counts = report.counts()
    parts = [f"{count} {status.replace('_', ' ')}" for status, count in counts.items()]
    return ", ".join(parts)


__all__ = [
    "NOT_RUN",
    "Reporter",
    "RunOptions",
    "SilentReporter",
    "item_name",
    "needs_confirmation_upfront",
    "run_runbook",
    "unavailable_tools",
]
