"""Turning what a wait observes into MCP-style progress: (progress, total, message).

The MCP spec wants progress values to increase with every notification. Waits report the number of finished
tasks (or datasets) plus a share of the time budget used (below 0.9), so a heartbeat with nothing new still
moves the value forward and never reaches the next whole number on its own.

`action_progress` and `run_progress` say how far the work is as (finished, total); the polling engine uses
the same numbers to predict when the work ends.
"""

from __future__ import annotations

from typing import Any

from qdi_mcp.tools.base import ProgressFn

FINISHED_TASK_STATES = ("completed", "failed", "skipped", "canceled")
# Keeps successive values apart when two reports see the same thing in the same instant.
_MIN_STEP = 1e-3
_TIME_SHARE = 0.9


def action_progress(action: Any) -> tuple[float, float] | None:
    """(finished tasks, tasks) of an action, or None when it does not say."""
    progress = action.task_progress
    if progress is None:
        return None
    finished = sum(getattr(progress, key, 0) or 0 for key in FINISHED_TASK_STATES)
    total = finished + (progress.pending or 0) + (progress.executing or 0)
    return (float(finished), float(total)) if total else None


def run_progress(state: Any) -> tuple[float, float] | None:
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

    async def on_action(self, action: Any, elapsed: float) -> None:
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

    async def on_task_run(self, state: Any, elapsed: float) -> None:
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
