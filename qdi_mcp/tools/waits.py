"""What every "…_and_wait" tool shares: turning what a wait observes into progress, the action wait and its
result, and when a started or stopped run has settled. The polling engine itself is `tools.polling`.

Progress is MCP-style (progress, total, message). The MCP spec wants progress values to increase with every
notification. Waits report the number of finished tasks (or datasets) plus a share of the time budget used (below
0.9), so a heartbeat with nothing new still moves the value forward and never reaches the next whole number on its
own. `action_progress` and `run_progress` say how far the work is as (finished, total); the polling engine uses
the same numbers to predict when the work ends.

"Settled" depends on the task: a full-load task is done when its run finishes (COMPLETED, FAILED, CANCELED);
a CDC task never finishes on its own, so it is done once RUNNING with its full load complete and changes being
applied. `wait_until` overrides the choice. A run is recognised as *this* run by its start time, so the
previous run's COMPLETED state is never mistaken for the new one's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from qdi_mcp.api import Action, QdiApiError, TaskRuntimeState
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import plain, tenant
from qdi_mcp.tools.base import ProgressFn, ToolContext, ToolResult, dump
from qdi_mcp.tools.polling import PollSchedule, WaitOutcome, poll_until

FINISHED_TASK_STATES = ("completed", "failed", "skipped", "canceled")
# Keeps successive values apart when two reports see the same thing in the same instant.
_MIN_STEP = 1e-3
_TIME_SHARE = 0.9


def action_progress(action: Action) -> tuple[float, float] | None:
    """(finished tasks, tasks) of an action, or None when it does not say."""
    progress = action.task_progress
    if progress is None:
        return None
    finished = sum(getattr(progress, key, 0) or 0 for key in FINISHED_TASK_STATES)
    total = finished + (progress.pending or 0) + (progress.executing or 0)
    return (float(finished), float(total)) if total else None


def run_progress(state: TaskRuntimeState) -> tuple[float, float] | None:
    """(datasets loaded or failed, datasets to load) of a run's full load, or None when there is none."""
    full_load = state.last_run.full_load if state.last_run else None
    if full_load is None:
        return None
    done = (full_load.completed_count or 0) + (full_load.error_count or 0)
    total = done + (full_load.queued_count or 0) + (full_load.loading_count or 0)
    return (float(done), float(total)) if total else None


class ProgressReporter:
    def __init__(self, send: ProgressFn, timeout: float, *, count_datasets: bool = True) -> None:
        self._send = send
        self._count_datasets = count_datasets
        self._timeout = max(timeout, 1e-6)
        self._last_value = -1.0
        self._task_states: dict[str, str] = {}
        self._last_state: str | None = None
        self._subject = "action"
        self._finished = 0.0
        self._total: float | None = None
        self._suffix = ""

    async def report(self, finished: float, total: float | None, message: str, elapsed: float) -> None:
        if total is not None and finished >= total:
            value = float(total)
        else:
            value = finished + _TIME_SHARE * min(1.0, elapsed / self._timeout)
        value = max(value, self._last_value + _MIN_STEP)
        self._last_value = value
        self._finished, self._total = finished, total
        await self._send(value, total, message)

    async def heartbeat(self, elapsed: float) -> None:
        """Nothing new since the last poll: say so, so the client knows the wait is alive."""
        seen = f"{self._last_state} at the last look" if self._last_state else "no answer yet"
        message = f"waiting for the {self._subject} ({seen}), {elapsed:.0f} s so far{self._suffix}"
        await self.report(self._finished, self._total, message, elapsed)

    async def on_action(self, action: Action, elapsed: float) -> None:
        finished, total = action_progress(action) or (0.0, 0.0)
        moved = []
        for detail in action.task_details or []:
            key = detail.task_id or detail.name or ""
            if detail.state and self._task_states.get(key) != detail.state:
                self._task_states[key] = detail.state
                moved.append(f"{detail.name or key}: {detail.state}")
        if moved:
            message = "; ".join(moved)
        elif action.state != self._last_state:
            message = f"action {action.state}"
        else:
            message = f"still {action.state} after {elapsed:.0f} s"
        self._last_state = action.state
        self._suffix = f" ({finished:g}/{total:g} tasks done)"
        await self.report(finished, total or None, message + self._suffix, elapsed)

    async def on_task_run(self, state: TaskRuntimeState, elapsed: float) -> None:
        run = state.last_run
        run_state = run.state if run and run.state else "not started"
        done, total = (run_progress(state) if self._count_datasets else None) or (0.0, 0.0)
        self._subject = f"task {state.name}" if state.name else "task"
        name = state.name or "task"
        if run_state != self._last_state:
            message = f"{name}: {run_state}"
        else:
            message = f"{name} still {run_state} after {elapsed:.0f} s"
        self._last_state = run_state
        self._suffix = f" ({done:g}/{total:g} datasets loaded)" if total else ""
        await self.report(done, total or None, message + self._suffix, elapsed)


TERMINAL_ACTION_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED", "SKIPPED"})
ACTIVE_RUN_STATES = frozenset({"STARTING", "RUNNING", "STOPPING"})
FINISHED_RUN_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED"})
DEFAULT_TIMEOUT = 300.0


def timeout_of(args: dict[str, Any]) -> float:
    return float(args.get("timeout_seconds", DEFAULT_TIMEOUT))


def poll_options(ctx: ToolContext) -> dict[str, Any]:
    return {
        "clock": ctx.options.get("clock"),
        "schedule": ctx.options.get("schedule") or PollSchedule(),
        "rng": ctx.options.get("rng"),
    }


async def wait_for_action(ctx: ToolContext, action_id: str, timeout: float, *, kind: str, started: bool) -> ToolResult:
    """Poll an action to a terminal state. `started`: this call started it, so a failed wait must not invite
    calling the tool (`ctx.tool`) again; the spec's `resume_with` names the tool that resumes the wait."""
    started_by, resume_with = ctx.tool.name, ctx.tool.resume_with
    if started:
        ctx.started = (
            f"the {kind} was started (action {action_id}); resume with {resume_with} with action_id "
            f"{action_id!r}, do not call {started_by} again"
        )
    reporter = ProgressReporter(ctx.progress, timeout)
    try:
        outcome = await poll_until(
            lambda: ctx.client.get_action(action_id, detailed=True),
            lambda action: action.state in TERMINAL_ACTION_STATES,
            timeout=timeout,
            on_poll=reporter.on_action,
            on_heartbeat=reporter.heartbeat,
            progress_of=action_progress,
            **poll_options(ctx),
        )
    except QdiApiError as exc:
        if not started:
            raise
        # The action runs whatever happened to the wait (a poll, or a token refresh, failed): starting it again
        # would run it twice. Say so, and how to resume.
        raise ToolFailure(
            "outcome_unknown",
            f"The {kind} was started (action {action_id}), but waiting for it failed ({tenant(exc.message[:300])}).",
            hint=f"do not call {started_by} again: resume with {resume_with} with action_id {action_id!r} "
            "(or check it once with qdi_get_action)",
            http_status=exc.status,
            trace_id=exc.trace_id,
        ) from exc
    if kind == "action":
        kind = _kind_of(outcome.last)
    return _action_result(action_id, outcome, kind, tool=started_by, resume_with=resume_with)


def _kind_of(action: Action) -> str:
    """What a resumed wait was waiting for, from the action itself (its hint depends on it)."""
    if "recreate" in (action.name or "").lower():
        return "recreate"
    if (action.type or "").endswith("PREPARE"):
        return "prepare"
    if (action.type or "").endswith("VALIDATE"):
        return "validation"
    if (action.type or "").endswith("IMPORT"):
        return "import"
    return "action"


def _action_result(
    action_id: str, outcome: WaitOutcome[Any], kind: str, *, tool: str, resume_with: str | None
) -> ToolResult:
    action = outcome.last
    tasks = [
        {
            "task_id": d.task_id,
            "name": d.name,
            "state": d.state,
            "error_code": d.error.code if d.error else None,
            "error_message": (d.error.message or d.error.details) if d.error else None,
        }
        for d in action.task_details or []
    ]
    error = _unsaid_error(dump(action.error), tasks) if action.error else None
    hint = _action_hint(action_id, action.state, outcome.timed_out, tasks, error, kind, tool, resume_with)
    result = {
        "action_id": action_id,
        "state": action.state,
        "timed_out": outcome.timed_out,
        "elapsed_seconds": round(outcome.elapsed, 3),
        "polls": outcome.polls,
        "task_progress": dump(action.task_progress) if action.task_progress else None,
        "tasks": tasks,
        "error": error,
        "hint": plain(hint),
    }
    done = sum(1 for t in tasks if t["state"] == "COMPLETED")
    wait = f" after {outcome.elapsed:.0f} s" if outcome.elapsed >= 1 else ""
    head = "still " + str(action.state) + " (timed out)" if outcome.timed_out else str(action.state)
    return ToolResult(result, f"{kind.capitalize()} {head}{wait}: {done}/{len(tasks)} tasks completed. {hint}")


def _unsaid_error(error: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The action's error without the text a failed task already carries: Qlik repeats its first task's error as
    the action's (message, and again as details), and a result says each error text once (tasks[].error_message)."""
    said = {t["error_message"] for t in tasks if t["error_message"]}
    unsaid = {key: value for key, value in error.items() if not (key in ("message", "details") and value in said)}
    if unsaid.get("details") is not None and unsaid.get("details") == unsaid.get("message"):
        del unsaid["details"]
    return unsaid


def _action_hint(
    action_id: str,
    state: str | None,
    timed_out: bool,
    tasks: list[dict[str, Any]],
    error: dict[str, Any] | None,
    kind: str,
    tool: str,
    resume_with: str | None,
) -> str:
    if timed_out:
        return f"call {resume_with} with action_id {action_id!r} to keep waiting"
    if state == "FAILED":
        failed = next((t for t in tasks if t["state"] == "FAILED"), None)
        if failed and kind == "import":
            return (
                f"the import failed for task {tenant(failed['name'])} ({failed['task_id']}); see its error_message. "
                "Fix the files (qdi_validate_project_files lists the findings) and import again"
            )
        if failed:
            # Qlik's own words are in the task's error_message (said once, there); the hint names our next call.
            code = failed["error_code"] or "no code"
            return (
                f"task {tenant(failed['name'])} ({failed['task_id']}) failed ({code}): "
                f"{_failed_task_next_step(failed, tool)}"
            )
        message = (error or {}).get("message")
        return f"the action failed: {tenant(message) if message else 'no message'}; check qdi_get_action for details"
    if state == "COMPLETED" and kind == "prepare":
        return "prepared: start tasks with qdi_start_task_and_wait"
    if state == "COMPLETED" and kind == "import":
        return "imported: check the bindings (qdi_get_bindings), then prepare (qdi_prepare_project_and_wait)"
    if state == "COMPLETED" and kind == "recreate":
        return "datasets recreated: start the task (qdi_start_task_and_wait) to load them"
    if state == "COMPLETED" and kind == "validation":
        if tool == "qdi_validate_task_and_wait":
            return "validation passed: prepare next (qdi_prepare_task_and_wait with the same project_id and task_id)"
        if tool == "qdi_validate_project_and_wait":
            return "validation passed: prepare next (qdi_prepare_project_and_wait with the same project_id)"
        return "validation passed: prepare next (qdi_prepare_project_and_wait, or qdi_prepare_task_and_wait for a task)"
    if state == "COMPLETED":
        return "the action completed"
    return f"the action ended {state}; qdi_get_action with detailed=true shows each task"


# Qlik's error codes of a failed prepare or validate, by what fixes them (matched as parts of the code).
_BINDING_ERROR_PARTS = ("CONNECTION", "VARIABLE", "BINDING")


def _failed_task_next_step(failed: dict[str, Any], tool: str) -> str:
    """The next call for a task a prepare, validate or recreate left FAILED, named with our tools and arguments;
    the advice about connections only when Qlik's code is about bindings."""
    code = failed["error_code"] or ""
    task_id = failed["task_id"]
    if code == "RECREATE_REQUIRED":
        prepare = (
            f"call {tool} again with allow_recreate: true"
            if tool.startswith("qdi_prepare_")
            else f"call qdi_prepare_task_and_wait with task_id {task_id!r} and allow_recreate: true"
        )
        return (
            f"its tables must be recreated (their data is dropped): {prepare}, or qdi_recreate_task_datasets_and_wait "
            f"with task_id {task_id!r}; both ask the user to confirm"
        )
    if any(part in code for part in _BINDING_ERROR_PARTS):
        return (
            "check the project's bindings (qdi_get_bindings; an empty connection is a common cause), fix them with "
            "qdi_update_bindings, then prepare again"
        )
    if "UPSTREAM" in code:
        return "prepare the tasks it reads from first (qdi_prepare_project_and_wait prepares them in order)"
    return f"check the task's datasets (qdi_get_task_datasets_state with task_id {task_id!r}), then run it again"


def run_state(state: TaskRuntimeState) -> str | None:
    return state.last_run.state if state.last_run else None


def start_time(state: TaskRuntimeState) -> str | None:
    return state.last_run.start_time if state.last_run else None


def _full_load_done(state: TaskRuntimeState) -> bool:
    full_load = state.last_run.full_load if state.last_run else None
    if full_load is None:
        return False
    return not (full_load.queued_count or 0) and not (full_load.loading_count or 0)


def _is_cdc_run(state: TaskRuntimeState) -> bool:
    return bool(state.last_run and state.last_run.cdc_status is not None)


def started_run_settled(before: str | None, wait_until: str):
    """The done-predicate for a start: this run (not the previous one) has settled as `wait_until` says."""

    def settled(state: TaskRuntimeState) -> bool:
        run = run_state(state)
        is_new_run = start_time(state) != before or run in ACTIVE_RUN_STATES
        if not is_new_run:
            return False
        if run in FINISHED_RUN_STATES:
            return True
        steady = run == "RUNNING" and _full_load_done(state)
        if wait_until == "running":
            return steady
        if wait_until == "auto":
            return steady and _is_cdc_run(state)
        return False

    return settled


# Qlik's run options resume a replication task from a source time; the time the target reflects is where to resume.
RESUME_OPTION = "PROCESS_CHANGES_FROM_TIMESTAMP"


def cdc_figures(state: TaskRuntimeState) -> dict[str, Any] | None:
    """A CDC run's figures as Qlik reports them (latency, changes applied, the source time the target reflects),
    or None for a task that reports no CDC status. A replication run that has ended also says where to resume:
    the start arguments that process changes from that time (`resume_from`), since a plain start resumes from the
    task's own checkpoint and these are the way back when it cannot."""
    run = state.last_run
    if run is None or run.cdc_status is None:
        return None
    cdc = run.cdc_status
    updated_to = run.general.data_task_updated_to if run.general else None
    figures: dict[str, Any] = {
        "latency": cdc.latency,
        "changes_applied": cdc.total_processed_count,
        "updated_to": updated_to,
    }
    if state.type == "REPLICATION" and updated_to and run.state in FINISHED_RUN_STATES:
        figures["resume_from"] = {"option": RESUME_OPTION, "process_changes_from": updated_to}
    return {key: value for key, value in figures.items() if value is not None}


def cdc_text(figures: dict[str, Any] | None) -> str:
    if not figures:
        return ""
    # Short: the structured result carries every figure; the sentence gives a person the two that matter most.
    parts = [f"latency {figures['latency']}"] if "latency" in figures else []
    if "changes_applied" in figures:
        parts.append(f"{figures['changes_applied']:,.0f} changes applied")
    return f" CDC: {', '.join(parts)}." if parts else ""


def run_result(
    args: dict[str, Any],
    outcome: WaitOutcome[Any],
    action: str,
    *,
    follow_with: str | None,
    previous_start: str | None = None,
) -> ToolResult:
    """The result of a start or stop wait; `follow_with` is the tool that follows the run on (the spec's
    `resume_with`)."""
    state = outcome.last
    # After a start, the last state read may still be the previous run's: never report it as the new one.
    unseen = action == "start" and start_time(state) == previous_start and run_state(state) not in ACTIVE_RUN_STATES
    run = None if unseen else state.last_run
    readiness = state.run_readiness.state if state.run_readiness else None
    hint = (
        f"the start was requested but no new run has appeared yet; call {follow_with} to follow it"
        if unseen
        else _run_hint(run_state(state), outcome.timed_out, action, follow_with)
    )
    result = {
        "project_id": args["project_id"],
        "task_id": args["task_id"],
        "state": run.state if run else None,
        "message": run.message if run else None,
        "readiness": readiness,
        "timed_out": outcome.timed_out,
        "elapsed_seconds": round(outcome.elapsed, 3),
        "polls": outcome.polls,
        "full_load": dump(run.full_load) if run and run.full_load else None,
        "errors": [dump(e) for e in (run.errors if run else [])],
        "hint": hint,
    }
    cdc = None if unseen else cdc_figures(state)
    if cdc:
        result["cdc"] = cdc
    head = f"still {result['state']} (timed out)" if outcome.timed_out else str(result["state"])
    return ToolResult(
        result,
        f"Task {tenant(state.name) if state.name else args['task_id']} {head} after {outcome.elapsed:.0f} s."
        f"{cdc_text(cdc)} {result['hint']}",
    )


def _run_hint(state: str | None, timed_out: bool, action: str, follow_with: str | None) -> str:
    if timed_out:
        return f"the task is still changing state; call {follow_with} to follow it"
    if state == "FAILED":
        return "the run failed: see errors, and qdi_get_task_datasets_state with detail=true for the failing datasets"
    if state == "RUNNING":
        return "running steadily and applying changes"
    if state == "COMPLETED":
        return "the run completed; data is ready"
    if state == "CANCELED" and action == "stop":
        return "stopped; start it again with qdi_start_task_and_wait"
    return f"the run ended {state}"


@asynccontextmanager
async def following_after_change(ctx: ToolContext, args: dict[str, Any], what: str) -> AsyncIterator[None]:
    """A failure while following a run that was already asked to change is not a reason to ask again."""
    try:
        yield
    except QdiApiError as exc:
        raise ToolFailure(
            "outcome_unknown",
            f"The {what} of task {args['task_id']} was requested, but following it failed "
            f"({tenant(exc.message[:300])}).",
            hint=f"do not request the {what} again: call {ctx.tool.resume_with} with task_id {args['task_id']!r} to "
            "see where the task is",
            http_status=exc.status,
            trace_id=exc.trace_id,
        ) from exc
