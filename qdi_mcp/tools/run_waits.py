"""Start or stop a task and wait until its run settles.

"Settled" depends on the task: a full-load task is done when its run finishes (COMPLETED, FAILED, CANCELED);
a CDC task never finishes on its own, so it is done once RUNNING with its full load complete and changes being
applied. `wait_until` overrides the choice. A run is recognised as *this* run by its start time, so the
previous run's COMPLETED state is never mistaken for the new one's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler
from qdi_mcp.tools.errors import ToolFailure
from qdi_mcp.tools.polling import WaitOutcome, poll_until
from qdi_mcp.tools.progress import ProgressReporter, run_progress
from qdi_mcp.tools.workflows import ACTIVE_RUN_STATES, FINISHED_RUN_STATES, _poll_options, _timeout


def _run_state(state: Any) -> str | None:
    return state.last_run.state if state.last_run else None


def _start_time(state: Any) -> str | None:
    return state.last_run.start_time if state.last_run else None


def _full_load_done(state: Any) -> bool:
    full_load = state.last_run.full_load if state.last_run else None
    if full_load is None:
        return False
    return not (full_load.queued_count or 0) and not (full_load.loading_count or 0)


def _is_cdc_run(state: Any) -> bool:
    return bool(state.last_run and state.last_run.cdc_status is not None)


def started_run_settled(before: str | None, wait_until: str):
    """The done-predicate for a start: this run (not the previous one) has settled as `wait_until` says."""

    def settled(state: Any) -> bool:
        run = _run_state(state)
        is_new_run = _start_time(state) != before or run in ACTIVE_RUN_STATES
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


def _run_result(
    args: dict[str, Any], outcome: WaitOutcome[Any], action: str, *, previous_start: str | None = None
) -> ToolResult:
    state = outcome.last
    # After a start, the last state read may still be the previous run's: never report it as the new one.
    unseen = action == "start" and _start_time(state) == previous_start and _run_state(state) not in ACTIVE_RUN_STATES
    run = None if unseen else state.last_run
    readiness = state.run_readiness.state if state.run_readiness else None
    hint = (
        "the start was requested but no new run has appeared yet; call qdi_get_task_state to follow it"
        if unseen
        else _run_hint(args, _run_state(state), outcome.timed_out, action)
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
    head = f"still {result['state']} (timed out)" if outcome.timed_out else str(result["state"])
    return ToolResult(
        result, f"Task {state.name or args['task_id']} {head} after {outcome.elapsed:.0f} s. {result['hint']}"
    )


def _run_hint(args: dict[str, Any], state: str | None, timed_out: bool, action: str) -> str:
    if timed_out:
        return "the task is still changing state; call qdi_get_task_state to follow it"
    if state == "FAILED":
        return "the run failed: see errors, and qdi_get_task_datasets_state with detail=true for the failing datasets"
    if state == "RUNNING":
        return "running steadily and applying changes"
    if state == "COMPLETED":
        return "the run completed; data is ready"
    if state == "CANCELED" and action == "stop":
        return "stopped; start it again with qdi_start_task_and_wait"
    return f"the run ended {state}"


@handler("qdi_start_task_and_wait")
async def start_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id = args["project_id"], args["task_id"]
    before = await ctx.client.get_task_state(project_id, task_id)
    await ctx.client.start_task(
        project_id, task_id, option=args.get("option"), process_changes_from=args.get("process_changes_from")
    )
    ctx.started = f"a run of task {task_id} was started; follow it with qdi_get_task_state, do not start it again"
    timeout = _timeout(args)
    reporter = ProgressReporter(ctx.progress, timeout)
    async with following_after_change(args, "start"):
        outcome = await poll_until(
            lambda: ctx.client.get_task_state(project_id, task_id),
            started_run_settled(_start_time(before), args.get("wait_until", "auto")),
            timeout=timeout,
            on_poll=reporter.on_task_run,
            on_heartbeat=reporter.heartbeat,
            progress_of=run_progress,
            **_poll_options(ctx),
        )
    return _run_result(args, outcome, "start", previous_start=_start_time(before))


@handler("qdi_stop_task_and_wait")
async def stop_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id = args["project_id"], args["task_id"]
    await ctx.client.stop_task(project_id, task_id)
    ctx.started = f"task {task_id} was asked to stop; follow it with qdi_get_task_state"
    timeout = _timeout(args)
    # A stop has no count of things done: the run's full-load counters describe the run being stopped.
    reporter = ProgressReporter(ctx.progress, timeout, count_datasets=False)
    async with following_after_change(args, "stop"):
        outcome = await poll_until(
            lambda: ctx.client.get_task_state(project_id, task_id),
            lambda state: _run_state(state) not in ACTIVE_RUN_STATES,
            timeout=timeout,
            on_poll=reporter.on_task_run,
            on_heartbeat=reporter.heartbeat,
            **_poll_options(ctx),
        )
    return _run_result(args, outcome, "stop")


@asynccontextmanager
async def following_after_change(args: dict[str, Any], what: str) -> AsyncIterator[None]:
    """A failure while following a run that was already asked to change is not a reason to ask again."""
    from qdi_mcp.api import QdiApiError

    try:
        yield
    except QdiApiError as exc:
        raise ToolFailure(
            "outcome_unknown",
            f"The {what} of task {args['task_id']} was requested, but following it failed ({exc.message[:300]}).",
            hint=f"do not request the {what} again: call qdi_get_task_state with task_id {args['task_id']!r} to "
            "see where the task is",
            http_status=exc.status,
            trace_id=exc.trace_id,
        ) from exc
