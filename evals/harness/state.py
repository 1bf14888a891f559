"""A comparable picture of the tenant, taken before and after a trajectory (for checks like "nothing was
stopped" or "the tasks did not change"). Read from the emulator without HTTP, so taking it changes nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.emulator import Emulator

ACTIVE_RUN_STATES = frozenset({"STARTING", "RUNNING"})
# Operations that destroy or interrupt something when they execute (counted by the emulator on success).
DESTRUCTIVE_OPERATIONS = ("stop_task", "recreate_task_datasets", "import_project")
# Mutating operations that change nothing a user would miss (validation only checks the design).
HARMLESS_MUTATIONS = frozenset({"validate_project", "validate_task"})


@dataclass(frozen=True)
class TaskPicture:
    id: str
    name: str
    type: str
    run_state: str | None
    design: str  # hash of the task's files: changes when an import rewrites the task


@dataclass
class TenantPicture:
    projects: dict[str, str] = field(default_factory=dict)  # name -> id
    tasks: dict[str, dict[str, TaskPicture]] = field(default_factory=dict)  # project name -> task name -> task
    bindings: dict[str, dict[str, Any]] = field(default_factory=dict)  # project name -> variables
    counters: dict[str, int] = field(default_factory=dict)


def _design_hash(files: dict[str, Any]) -> str:
    text = json.dumps(files, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def picture(emulator: Emulator) -> TenantPicture:
    emulator.tenant.sync()
    result = TenantPicture(counters=dict(emulator.counters))
    for project in emulator.tenant.projects.values():
        result.projects[project.name] = project.id
        result.bindings[project.name] = dict(project.bindings)
        result.tasks[project.name] = {
            task.definition.name: TaskPicture(
                id=task.id,
                name=task.definition.name,
                type=task.definition.type,
                run_state=task.run.state if task.run else None,
                design=_design_hash(task.definition.files),
            )
            for task in project.tasks.values()
        }
    return result
