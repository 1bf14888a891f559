"""The "…_and_wait" tools: start an asynchronous action (or a task run) and poll it for the agent.

An action that ends FAILED is a successful wait: the result says FAILED, which task failed and why, and how to
diagnose it. A wait that runs out of time is also a result (`timed_out: true`) naming the action id, so
`qdi_wait_for_action` resumes where it left off. Only a wait that could not be done at all is an error.
"""

from __future__ import annotations

from typing import Any

from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler
from qdi_mcp.tools.errors import ToolFailure
from qdi_mcp.tools.polling import PollSchedule, WaitOutcome, poll_until
from qdi_mcp.tools.progress import ProgressReporter, action_progress

TERMINAL_ACTION_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED", "SKIPPED"})
ACTIVE_RUN_STATES = frozenset({"STARTING", "RUNNING", "STOPPING"})
FINISHED_RUN_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED"})
DEFAULT_TIMEOUT = 300.0


def _timeout(args: dict[str, Any]) -> float:
    return float(args.get("timeout_seconds", DEFAULT_TIMEOUT))


def _poll_options(ctx: ToolContext) -> dict[str, Any]:
    return {
        "clock": ctx.options.get("clock"),
        "schedule": ctx.options.get("schedule") or PollSchedule(),
        "rng": ctx.options.get("rng"),
    }


async def wait_for_action(
    ctx: ToolContext, action_id: str, timeout: float, *, kind: str, started_by: str | None
) -> ToolResult:
    from qdi_mcp.api import QdiApiError

    if started_by is not None:
        ctx.started = (
            f"the {kind} was started (action {action_id}); resume with qdi_wait_for_action with action_id "
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
            **_poll_options(ctx),
        )
    except QdiApiError as exc:
        if started_by is None:
            raise
        # The action runs whatever happened to the wait (a poll, or a token refresh, failed): starting it again
        # would run it twice. Say so, and how to resume.
        raise ToolFailure(
            "outcome_unknown",
            f"The {kind} was started (action {action_id}), but waiting for it failed ({exc.message[:300]}).",
            hint=f"do not call {started_by} again: resume with qdi_wait_for_action with action_id {action_id!r} "
            "(or check it once with qdi_get_action)",
            http_status=exc.status,
            trace_id=exc.trace_id,
        ) from exc
    if kind == "action":
        kind = _kind_of(outcome.last)
    return _action_result(action_id, outcome, kind)


def _kind_of(action: Any) -> str:
    """What a resumed wait was waiting for, from the action itself (its hint depends on it)."""
    if "recreate" in (action.name or "").lower():
        return "recreate"
    if (action.type or "").endswith("PREPARE"):
        return "prepare"
    if (action.type or "").endswith("VALIDATE"):
        return "validation"
    return "action"


def _action_result(action_id: str, outcome: WaitOutcome[Any], kind: str) -> ToolResult:
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
    error = dump(action.error) if action.error else None
    result = {
        "action_id": action_id,
        "state": action.state,
        "timed_out": outcome.timed_out,
        "elapsed_seconds": round(outcome.elapsed, 3),
        "polls": outcome.polls,
        "task_progress": dump(action.task_progress) if action.task_progress else None,
        "tasks": tasks,
        "error": error,
        "hint": _action_hint(action_id, action.state, outcome.timed_out, tasks, error, kind),
    }
    done = sum(1 for t in tasks if t["state"] == "COMPLETED")
    wait = f" after {outcome.elapsed:.0f} s" if outcome.elapsed >= 1 else ""
    head = "still " + str(action.state) + " (timed out)" if outcome.timed_out else str(action.state)
    return ToolResult(
        result, f"{kind.capitalize()} {head}{wait}: {done}/{len(tasks)} tasks completed. {result['hint']}"
    )


def _action_hint(
    action_id: str,
    state: str | None,
    timed_out: bool,
    tasks: list[dict[str, Any]],
    error: dict[str, Any] | None,
    kind: str,
) -> str:
    if timed_out:
        return f"call qdi_wait_for_action with action_id {action_id!r} to keep waiting"
    if state == "FAILED":
        failed = next((t for t in tasks if t["state"] == "FAILED"), None)
        if failed:
            why = (failed["error_message"] or failed["error_code"] or "no message").rstrip(". ")
            return (
                f"task {failed['name']} ({failed['task_id']}) failed: {why}. Check the project's bindings "
                "(qdi_get_bindings: an empty connection is a common cause; fix them with qdi_update_bindings) "
                "and the task's datasets (qdi_get_task_datasets_state), then run it again"
            )
        return f"the action failed: {(error or {}).get('message') or 'no message'}; check qdi_get_action for details"
    if state == "COMPLETED" and kind == "prepare":
        return "prepared: start tasks with qdi_start_task_and_wait"
    if state == "COMPLETED" and kind == "recreate":
        return "datasets recreated: start the task (qdi_start_task_and_wait) to load them"
    if state == "COMPLETED":
        return "validation passed"
    return f"the action ended {state}; qdi_get_action with detailed=true shows each task"


@handler("qdi_wait_for_action")
async def wait_for_action_tool(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    return await wait_for_action(ctx, args["action_id"], _timeout(args), kind="action", started_by=None)


@handler("qdi_prepare_project_and_wait")
async def prepare_project_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.prepare_project(
        args["project_id"],
        allow_recreate=bool(args.get("allow_recreate", False)),
        selected_task_ids=args.get("selected_task_ids") or None,
    )
    return await wait_for_action(
        ctx, ref.action_id, _timeout(args), kind="prepare", started_by="qdi_prepare_project_and_wait"
    )


@handler("qdi_validate_project_and_wait")
async def validate_project_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.validate_project(args["project_id"], selected_task_ids=args.get("selected_task_ids") or None)
    return await wait_for_action(
        ctx, ref.action_id, _timeout(args), kind="validation", started_by="qdi_validate_project_and_wait"
    )


@handler("qdi_prepare_task_and_wait")
async def prepare_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.prepare_task(
        args["project_id"], args["task_id"], allow_recreate=bool(args.get("allow_recreate", False))
    )
    return await wait_for_action(
        ctx, ref.action_id, _timeout(args), kind="prepare", started_by="qdi_prepare_task_and_wait"
    )


@handler("qdi_validate_task_and_wait")
async def validate_task_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.validate_task(args["project_id"], args["task_id"])
    return await wait_for_action(
        ctx, ref.action_id, _timeout(args), kind="validation", started_by="qdi_validate_task_and_wait"
    )


@handler("qdi_recreate_task_datasets_and_wait")
async def recreate_task_datasets_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ref = await ctx.client.recreate_task_datasets(args["project_id"], args["task_id"])
    return await wait_for_action(
        ctx, ref.action_id, _timeout(args), kind="recreate", started_by="qdi_recreate_task_datasets_and_wait"
    )
