"""`qdi_run_project_and_wait`: run a project as the pipeline it is, upstream first (issue 17).

The order comes from the project's lineage (`tools.lineage`): stage 0 reads only sources, and a task's stage is one
more than its highest upstream's, so when a stage starts, everything it reads has run. The tasks of one stage start
together and are waited for together; a task is done as `qdi_start_task_and_wait` decides ("auto": a full-load task
when its run ends, a CDC task once its full load is done and it applies changes).

The first stage with a failed task is the last one run: downstream tasks would read what failed. A task already
running is waited for, not started again (Qlik refuses the start), which is also how a timed-out call resumes:
the same call with `task_ids` naming the running and the not-started tasks.

Everything is checked before the first start: `task_ids` must name tasks of this project, and none of them may be
in or behind a lineage cycle (a broken import), which has no order to run in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio

from qdi_mcp.api import QdiApiError, TaskRuntimeState
from qdi_mcp.clock import SystemClock
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import plain, tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, handler
from qdi_mcp.tools.lineage import Lineage, project_lineage
from qdi_mcp.tools.polling import poll_until
from qdi_mcp.tools.project_design import ProjectFileError
from qdi_mcp.tools.waits import ProgressReporter, poll_options, run_progress, started_run_settled, timeout_of

# What a task came to, in the result: `running` is a CDC task applying changes (done for a pipeline).
DONE_OUTCOMES = ("completed", "running")
ALREADY_RUNNING = "ALREADY_RUNNING"


@dataclass
class TaskOutcome:
    task_id: str
    name: str
    stage: int
    outcome: str = "not_started"  # completed, running, failed, timed_out or not_started
    state: str | None = None  # the run's last state as Qlik reported it
    run_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"task_id": self.task_id, "name": plain(self.name), "stage": self.stage}
        row |= {"outcome": self.outcome, "state": self.state}
        # Only a failed task carries its run and error: the rest of the rows stay small.
        if self.run_id is not None:
            row["run_id"] = self.run_id
        if self.error is not None:
            row["error"] = plain(self.error)
        return row


def selected_stages(lineage: Lineage, project_id: str, task_ids: list[str] | None) -> list[list[str]]:
    """The tasks to run, stage by stage; refuses unknown tasks and tasks without a stage before anything runs."""
    if task_ids:
        unknown = [task_id for task_id in dict.fromkeys(task_ids) if task_id not in lineage.tasks]
        if unknown:
            raise ToolFailure(
                "invalid_arguments",
                f"task_ids: {', '.join(repr(t) for t in unknown)} not a task of project {project_id!r}; "
                "nothing was started.",
                hint=f"call qdi_list_tasks with project_id {project_id!r} for its task ids",
                field="task_ids",
            )
    wanted = set(task_ids) if task_ids else set(lineage.tasks)
    blocked = sorted((task_id for task_id in wanted if lineage.tasks[task_id].stage is None), key=lineage.name)
    if blocked:
        in_cycle = ", ".join(tenant(lineage.name(task_id)) for task_id in lineage.cycle)
        raise ToolFailure(
            "lineage_cycle",
            f"The project's tasks read each other in a cycle ({in_cycle}): they have no order to run in; "
            "nothing was started.",
            hint="fix the source selections of those tasks (qdi_diff_project against a good copy shows the change), "
            "or pass task_ids without them",
            field="task_ids" if task_ids else None,
        )
    return [[task_id for task_id in stage if task_id in wanted] for stage in lineage.stages() if wanted & set(stage)]


class PipelineProgress:
    """One progress line per task event (started, state changed, done), over all the call's tasks. Names go in
    plain, as in every wait's progress: marks are rendered in results only."""

    def __init__(self, ctx: ToolContext, timeout: float, total: int, clock: Any) -> None:
        self._reporter = ProgressReporter(ctx.progress, timeout)
        self._total = float(total)
        self._done = 0
        self._clock = clock
        self._started = clock.monotonic()

    async def say(self, message: str, *, done: bool = False) -> None:
        self._done += 1 if done else 0
        elapsed = self._clock.monotonic() - self._started
        text = f"{message} ({self._done}/{self._total:g} tasks done)"
        await self._reporter.report(float(self._done), self._total, text, elapsed)


async def _run_task(
    ctx: ToolContext, project_id: str, task: TaskOutcome, deadline: float, clock: Any, progress: PipelineProgress
) -> None:
    client = ctx.client
    requested = False
    try:
        before = await client.get_task_state(project_id, task.task_id)
        readiness = before.run_readiness.state if before.run_readiness else None
        if readiness == ALREADY_RUNNING:
            # Waited for as it runs: no earlier start time, so its current run counts as the one to wait for.
            previous_start = None
            await progress.say(f"{task.name}: already running, waiting for it")
        else:
            previous_start = before.last_run.start_time if before.last_run else None
            try:
                await client.start_task(project_id, task.task_id)
            except QdiApiError as exc:
                # A 4xx is a refusal; without an answer, or with a 5xx, the start may have landed (a write is
                # never repeated by the client for that reason).
                requested = exc.status is None or exc.status >= 500
                raise
            requested = True
            ctx.started = (
                f"tasks of project {project_id} were started stage by stage; follow them with "
                f"{ctx.tool.resume_with}, do not run the project again"
            )
            await progress.say(f"stage {task.stage}: {task.name} started")
        seen: list[str | None] = [None]

        async def on_poll(state: TaskRuntimeState, elapsed: float) -> None:
            now = state.last_run.state if state.last_run else None
            if now != seen[0]:
                seen[0] = now
                await progress.say(f"{task.name}: {now or 'not started yet'}")

        async def heartbeat(elapsed: float) -> None:
            await progress.say(f"waiting for {task.name} ({seen[0] or 'no run yet'}), {elapsed:.0f} s")

        outcome = await poll_until(
            lambda: client.get_task_state(project_id, task.task_id),
            started_run_settled(previous_start, "auto"),
            timeout=max(0.0, deadline - clock.monotonic()),
            on_poll=on_poll,
            on_heartbeat=heartbeat,
            progress_of=run_progress,
            **poll_options(ctx),
        )
        run = outcome.last.last_run
        task.state = run.state if run else None
        if outcome.timed_out:
            task.outcome = "timed_out"
            return
        if task.state in ("COMPLETED", "RUNNING"):
            task.outcome = "completed" if task.state == "COMPLETED" else "running"
            await progress.say(f"{task.name}: done ({task.state})", done=True)
            return
        task.outcome = "failed"
        await _why_it_failed(ctx, project_id, task, run.message if run else None)
        await progress.say(f"{task.name}: {task.state}", done=True)
    except QdiApiError as exc:
        # Qlik refused the start (not prepared, ...) or a read failed: its stage is the last either way. After an
        # accepted start the run goes on whatever happened to the wait: say so, so nobody starts it twice.
        task.outcome = "failed"
        task.error = exc.message[:300]
        if requested:
            task.error = (
                f"may have started, but following it failed ({task.error}); check it with {ctx.tool.resume_with} "
                "before starting it again"
            )
        await progress.say(f"{task.name}: could not be run", done=True)


async def _why_it_failed(ctx: ToolContext, project_id: str, task: TaskOutcome, message: str | None) -> None:
    """The run's id and error from run history (the newest run is the one just waited for)."""
    try:
        page = await ctx.client.list_task_runs(project_id, task.task_id, limit=1)
    except QdiApiError:
        page = None
    newest = page.runs[0] if page and page.runs else None
    task.run_id = newest.run_id if newest else None
    task.error = ((newest.error_message if newest else None) or message or f"the run ended {task.state}")[:300]


@handler("qdi_run_project_and_wait")
async def run_project_and_wait(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id = args["project_id"]
    timeout = timeout_of(args)
    try:
        lineage = await project_lineage(ctx.client, project_id)
    except ProjectFileError as exc:
        raise ToolFailure(
            "bad_response",
            f"The design of project {project_id} could not be read ({exc}), so the order of its tasks is unknown. "
            "Nothing was started.",
            hint="start the tasks one by one with qdi_start_task_and_wait, upstream first",
        ) from None
    stages = selected_stages(lineage, project_id, args.get("task_ids"))
    tasks = [
        TaskOutcome(task_id, lineage.name(task_id), lineage.tasks[task_id].stage or 0)
        for stage in stages
        for task_id in stage
    ]
    by_id = {task.task_id: task for task in tasks}
    clock = poll_options(ctx)["clock"] or SystemClock()
    started = clock.monotonic()
    deadline = started + timeout
    progress = PipelineProgress(ctx, timeout, len(tasks), clock)
    for stage in stages:
        async with anyio.create_task_group() as group:
            for task_id in stage:
                group.start_soon(_run_task, ctx, project_id, by_id[task_id], deadline, clock, progress)
        if any(by_id[task_id].outcome not in DONE_OUTCOMES for task_id in stage):
            break
    return _result(project_id, tasks, clock.monotonic() - started, ctx.tool.resume_with)


def _result(project_id: str, tasks: list[TaskOutcome], elapsed: float, resume_with: str | None) -> ToolResult:
    failed = [task for task in tasks if task.outcome == "failed"]
    waiting = [task for task in tasks if task.outcome == "timed_out"]
    not_started = [task for task in tasks if task.outcome == "not_started"]
    ran = [task for task in tasks if task.outcome in DONE_OUTCOMES]
    if failed:
        state = "failed"
        # The errors themselves are in tasks[].error: a result says a text once.
        text = f"Stage {failed[0].stage} failed: {_names(failed)} (see their error)."
        # Tasks of the failed stage still running are resent too: they are waited for, not restarted, so their
        # downstream tasks do not start before them.
        resume = [task.task_id for task in failed + waiting + not_started]
        why = (
            "qdi_get_task_run_datasets with the run_id names the datasets in error"
            if any(task.run_id for task in failed)
            else "qdi_get_task_state says why a task could not start"
        )
        hint = f"fix the cause ({why}), then call qdi_run_project_and_wait with task_ids {json.dumps(resume)}"
    elif waiting:
        state = "timed_out"
        text = f"Stage {waiting[0].stage} still running after {elapsed:.0f} s: {_names(waiting)}."
        resume = [task.task_id for task in waiting + not_started]
        hint = (
            f"to keep waiting, call qdi_run_project_and_wait with task_ids {json.dumps(resume)} (running tasks are "
            f"waited for, not restarted); or check them with {resume_with}"
        )
    else:
        state = "completed"
        text = f"All {len(tasks)} tasks done in {len({t.stage for t in tasks})} stages after {elapsed:.0f} s."
        hint = "data is ready; CDC tasks (outcome running) keep applying changes"
    if ran and state != "completed":
        text += f" Ran: {_names(ran)}."
    if not_started:
        text += f" Not started: {_names(not_started)}."
    result = {
        "project_id": project_id,
        "state": state,
        "timed_out": state == "timed_out",
        "elapsed_seconds": round(elapsed, 3),
        "tasks": [task.to_dict() for task in tasks],
        "hint": hint,
    }
    return ToolResult(result, f"{text} Next: {hint}.")


def _names(tasks: list[TaskOutcome]) -> str:
    return ", ".join(tenant(task.name) for task in tasks)
