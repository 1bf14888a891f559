"""Asynchronous actions: prepare / validate (project or task) and recreate-datasets.

An action is PENDING for a moment, then EXECUTING while it works through its tasks one by one in dependency
order (each task PENDING -> EXECUTING -> COMPLETED | FAILED), then COMPLETED, or FAILED when a task failed.

After a task fails, the tasks that depend on it (directly or not) are CANCELED without running: that is how
Qlik's project orchestration reports tasks it did not attempt, and why `taskProgress.canceled` exists.
Independent tasks still run. SKIPPED is for conflicts: a project-level prepare skips tasks that are running
(they must be stopped to be prepared), as `taskProgress.skipped` ("skipped due to conflicts") describes.

The outcome of each task is decided when it finishes, against the state at that moment: fixing the bindings
while a prepare runs helps the tasks it has not reached yet.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import timings
from .bindings import BindingProblem, binding_problems
from .qlik_time import iso_time
from .runtime import reset_datasets
from .state import ProjectState, TaskState, Tenant, dataset_signature

PROJECT_PREPARE = "PROJECT_PREPARE"
PROJECT_VALIDATE = "PROJECT_VALIDATE"
TASK_PREPARE = "TASK_PREPARE"  # also recreate-datasets: a prepare that always recreates
TASK_VALIDATE = "TASK_VALIDATE"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "SKIPPED"})


@dataclass
class ActionItem:
    task_id: str
    name: str
    upstream: set[str]
    state: str = "PENDING"
    info: str | None = None
    error: dict[str, str] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"taskId": self.task_id, "name": self.name, "state": self.state}
        if self.info:
            wire["info"] = self.info
        if self.error:
            wire["error"] = dict(self.error)
        return wire


@dataclass
class Action:
    id: str
    name: str
    type: str
    kind: str  # prepare | validate | recreate
    project_id: str
    allow_recreate: bool
    created: float
    items: list[ActionItem] = field(default_factory=list)
    state: str = "PENDING"
    start: float | None = None
    end: float | None = None
    error: dict[str, str] | None = None

    @property
    def locks_tasks(self) -> bool:
        return self.kind in ("prepare", "recreate")

    def progress(self) -> dict[str, int]:
        counts = Counter(item.state for item in self.items)
        return {
            "failed": counts["FAILED"],
            "pending": counts["PENDING"],
            "skipped": counts["SKIPPED"],
            "canceled": counts["CANCELED"],
            "completed": counts["COMPLETED"],
            "executing": counts["EXECUTING"],
        }

    def to_wire(self, *, detailed: bool) -> dict[str, Any]:
        # Like the service (qlik.dev's deployment tutorial shows `"taskDetails": null, "startTime": null,
        # "error": null`), fields without a value are sent as null rather than left out.
        return {
            "name": self.name,
            "type": self.type,
            "state": self.state,
            "startTime": iso_time(self.start) if self.start is not None else None,
            "endTime": iso_time(self.end) if self.end is not None else None,
            "error": dict(self.error) if self.error else None,
            "taskProgress": self.progress(),
            "taskDetails": [item.to_wire() for item in self.items] if detailed else None,
        }


def action_name(verb: str, tenant: Tenant, project: ProjectState, task: TaskState | None = None) -> str:
    qualified = f"{tenant.space_name(project.space_id)}.{project.name}"
    if task is None:
        return f"{verb} project {qualified}"
    return f"{verb} task {qualified}.{task.definition.name}"


def start_action(
    tenant: Tenant,
    project: ProjectState,
    *,
    kind: str,
    action_type: str,
    name: str,
    tasks: list[TaskState],
    allow_recreate: bool = False,
    skip_running: bool = False,
) -> Action:
    """Create the action and schedule its progress. `tasks` must already be in dependency order."""
    now = tenant.now()
    action = Action(
        id=tenant.ids.action_id(),
        name=name,
        type=action_type,
        kind=kind,
        project_id=project.id,
        allow_recreate=allow_recreate,
        created=now,
    )
    for task in tasks:
        item = ActionItem(task.id, task.definition.name, task.definition.upstream_task_ids())
        if skip_running and task.running:
            item.state = "SKIPPED"
            item.info = "The task is running: stop it to prepare it."
        elif action.locks_tasks:
            task.busy_action_id = action.id
        action.items.append(item)
    if action_type == PROJECT_PREPARE:
        project.active_prepare_action_id = action.id
    tenant.actions[action.id] = action
    tenant.schedule(now + timings.ACTION_PENDING_SECONDS, lambda at: _begin(tenant, action, at))
    return action


def _begin(tenant: Tenant, action: Action, at: float) -> None:
    action.state = "EXECUTING"
    action.start = at
    _advance(tenant, action, at)


def _advance(tenant: Tenant, action: Action, at: float) -> None:
    """Start the next task, cancelling the ones whose upstream failed; finish when none is left."""
    broken = {item.task_id for item in action.items if item.state in ("FAILED", "CANCELED")}
    for item in action.items:
        if item.state != "PENDING":
            continue
        failed_upstream = [other for other in action.items if other.task_id in item.upstream & broken]
        if failed_upstream:
            item.state = "CANCELED"
            names = ", ".join(f"{other.name} ({other.task_id})" for other in failed_upstream)
            plural = "s" if len(failed_upstream) > 1 else ""
            item.info = f"Not attempted: upstream task{plural} {names} did not succeed."
            broken.add(item.task_id)
            _release(tenant, action, item.task_id)
            continue
        item.state = "EXECUTING"
        duration = _duration(tenant, action, item)
        tenant.schedule(at + duration, functools.partial(_complete, tenant, action, item))
        return
    _finish(tenant, action, at)


def _duration(tenant: Tenant, action: Action, item: ActionItem) -> float:
    task = tenant.projects[action.project_id].tasks.get(item.task_id)
    seconds = timings.prepare_seconds(task.definition.type if task else "")
    if action.kind == "validate":
        return seconds * timings.VALIDATE_SECONDS_FACTOR
    if action.kind == "recreate":
        return seconds + timings.RECREATE_EXTRA_SECONDS
    return seconds


def _complete(tenant: Tenant, action: Action, item: ActionItem, at: float) -> None:
    project = tenant.projects.get(action.project_id)
    task = project.tasks.get(item.task_id) if project else None
    if project is None or task is None:
        _fail(item, [BindingProblem("TASK_NOT_FOUND", f"Task '{item.task_id}' no longer exists in the project.")])
    else:
        problems = _problems(tenant, action, project, task)
        if problems:
            _fail(item, problems)
            if action.kind != "validate":
                task.prepared = False
                task.prepare_error = problems[0].message
        else:
            item.state = "COMPLETED"
            if action.kind == "validate" and task.recreate_required:
                item.info = "Valid. Its datasets changed since the last prepare: prepare with allowRecreate."
            elif action.kind != "validate":
                _mark_prepared(task, recreate=action.kind == "recreate" or task.recreate_required)
    _release(tenant, action, item.task_id)
    _advance(tenant, action, at)


def _problems(tenant: Tenant, action: Action, project: ProjectState, task: TaskState) -> list[BindingProblem]:
    problems: list[BindingProblem] = []
    for upstream_id in sorted(task.definition.upstream_task_ids()):
        upstream = project.tasks.get(upstream_id)
        if upstream is None:
            problems.append(
                BindingProblem(
                    "MISSING_UPSTREAM_TASK",
                    f"Task '{task.definition.name}' reads from task '{upstream_id}', which is not in the project.",
                )
            )
        elif action.kind != "validate" and not upstream.prepared:
            problems.append(
                BindingProblem(
                    "UPSTREAM_NOT_PREPARED",
                    f"Task '{task.definition.name}' reads from task '{upstream.definition.name}' "
                    f"({upstream_id}), which is not prepared. Prepare it first.",
                )
            )
    problems.extend(binding_problems(tenant, project, task.definition))
    if action.kind == "prepare" and task.recreate_required and not action.allow_recreate:
        problems.append(
            BindingProblem(
                "RECREATE_REQUIRED",
                f"The datasets of task '{task.definition.name}' changed since it was last prepared, so its "
                "existing tables must be recreated (their data is dropped). Prepare again with "
                "allowRecreate=true, or use recreate-datasets.",
            )
        )
    return problems


def _fail(item: ActionItem, problems: list[BindingProblem]) -> None:
    """FAILED with the first problem as the error; its details, then any further problems, as details."""
    item.state = "FAILED"
    first = problems[0]
    details = [first.details] if first.details else []
    details += [problem.message for problem in problems[1:]]
    item.error = {"code": first.code, "message": first.message, "details": " ".join(details) or first.message}


def _mark_prepared(task: TaskState, *, recreate: bool) -> None:
    task.prepared = True
    task.prepare_error = None
    task.stale_reason = None
    task.sync_datasets()
    if recreate:
        reset_datasets(task)
    task.recreate_required = False
    task.prepared_signature = dataset_signature(task.definition)


def _release(tenant: Tenant, action: Action, task_id: str) -> None:
    task = tenant.projects[action.project_id].tasks.get(task_id) if action.project_id in tenant.projects else None
    if task is not None and task.busy_action_id == action.id:
        task.busy_action_id = None


def _finish(tenant: Tenant, action: Action, at: float) -> None:
    for item in action.items:
        _release(tenant, action, item.task_id)
    project = tenant.projects.get(action.project_id)
    if project is not None and project.active_prepare_action_id == action.id:
        project.active_prepare_action_id = None
    action.end = at
    failed = [item for item in action.items if item.state == "FAILED"]
    if not failed:
        action.state = "COMPLETED"
        return
    action.state = "FAILED"
    verb = {"validate": "Validation", "recreate": "Recreating datasets"}.get(action.kind, "Preparation")
    names = ", ".join(item.name for item in failed)
    action.error = {
        "code": failed[0].error["code"] if failed[0].error else "TASK_FAILED",
        "message": f"{verb} failed for {len(failed)} of {len(action.items)} task(s): {names}.",
        "details": failed[0].error["message"] if failed[0].error else "",
    }
