"""Turning what a wait observes into MCP-style progress: (progress, total, message).

The MCP spec wants progress values to increase with every notification. Waits report the number of finished
tasks (or datasets) plus a fraction of the time budget used, so a heartbeat with nothing new still moves the
value forward and never reaches the next whole number on its own.
"""

from __future__ import annotations

from typing import Any

from qdi_mcp.tools.base import ProgressFn

FINISHED_TASK_STATES = ("completed", "failed", "skipped", "canceled")


class ProgressReporter:
    def __init__(self, send: ProgressFn, timeout: float) -> None:
        self._send = send
        self._timeout = max(timeout, 1e-6)
        self._last_value = -1.0
        self._task_states: dict[str, str] = {}
        self._last_state: str | None = None

    async def report(self, finished: float, total: float | None, message: str, elapsed: float) -> None:
        value = finished + min(0.9, elapsed / self._timeout)
        # Strictly increasing even when two polls see the same thing in the same instant.
        value = max(value, self._last_value + 1e-3)
        self._last_value = value
        await self._send(value, total, message)

    async def on_action(self, action: Any, elapsed: float) -> None:
        progress = action.task_progress
        finished = sum(getattr(progress, k, 0) for k in FINISHED_TASK_STATES) if progress else 0
        total = finished + (progress.pending + progress.executing if progress else 0)
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
        await self.report(finished, total or None, f"{message} ({finished}/{total} tasks done)", elapsed)

    async def on_task_run(self, state: Any, elapsed: float) -> None:
        run = state.last_run
        run_state = run.state if run and run.state else "not started"
        full_load = run.full_load if run else None
        done = (full_load.completed_count or 0) + (full_load.error_count or 0) if full_load else 0
        total = done + ((full_load.queued_count or 0) + (full_load.loading_count or 0) if full_load else 0)
        if run_state != self._last_state:
            message = f"{state.name or 'task'}: {run_state}"
        else:
            message = f"{state.name or 'task'} still {run_state} after {elapsed:.0f} s"
        self._last_state = run_state
        if total:
            message += f" ({done:g}/{total:g} datasets loaded)"
        await self.report(done, total or None, message, elapsed)
