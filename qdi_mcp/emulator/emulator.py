"""`Emulator`: a stateful fake Qlik Cloud tenant serving the DI projects API as an ASGI app."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from qdi_mcp.clock import Clock, SpeedClock

from . import run_history
from .actions import Action
from .app import EmulatorApp
from .auth import DEFAULT_API_KEY, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET, Authenticator
from .bindings import name_to_id_map
from .demo import demo_tenant
from .faults import FaultPlan
from .operations import MUTATING_OPERATIONS
from .projects import project_wire, task_wire
from .qlik_time import iso_time
from .ratelimit import RateLimiter
from .runtime import READY_TO_RUN, readiness, start_task
from .runtime_views import datasets_state, runtime_state
from .seeding import load_demo
from .state import DatasetRuntime, ProjectState, TaskRun, TaskState, Tenant
from .timings import OAUTH_TOKEN_LIFETIME_SECONDS
from .transport import EmulatorTransport


class Emulator:
    """A fake tenant. `demo=True` loads the demo projects; `demo=False` keeps the demo's spaces and
    connections (so projects can be created and imported) but no projects.

    Control surface: `clock` (advance a ManualClock), `faults` (FaultPlan.inject), `counters` (executed
    mutations: 2xx responses of mutating operations), `requests` (requests that arrived, by operation,
    including faulted ones but not refused connections; "oauth_token" and "unknown" for the rest),
    `responses` ("<operation> <status>", "fault <kind>"), `snapshot()`, `transport()` (in-process httpx
    transport), `app` (ASGI, for uvicorn), `tenant` (the model).

    Accessors read state without HTTP (for tests and evals), applying due events first; they return
    wire-shaped copies and raise KeyError for unknown ids/names:
    `project_id(name)`, `task_id(project_id, name)`, `project(id)`, `tasks(project_id)`,
    `task(project_id, task_id)`, `task_run_state(...)` (lastRun.state or None), `task_readiness(...)`
    (runReadiness.state), `task_state(...)` (GET .../runtime/state body), `datasets(...)` (its datasets),
    `bindings(project_id)` (variables), `action(action_id)` (detailed action body).

    Source trouble: `set_dataset_broken(project_id, task_id, dataset, ...)` makes a dataset's full loads fail
    (so a run ends FAILED) until it is called again with `broken=False`. Schedules: `trigger_scheduled_run(
    project_id, task_id)` starts the task, or records a MISFIRED run when it cannot run.

    Ids: `seed` fixes the sequence of generated action, trace and object ids; without one the start time seeds
    it, so ids differ between runs (see `IdFactory`).
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        demo: bool = True,
        rate_limits: bool = False,
        oauth_clients: dict[str, str] | None = None,
        token_lifetime: float = OAUTH_TOKEN_LIFETIME_SECONDS,
        seed: int | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SpeedClock(1.0)
        content = demo_tenant()
        self.tenant = Tenant(self.clock, owner_id=content.owner_id, seed=seed)
        load_demo(self.tenant, content, with_projects=demo)
        self.faults = FaultPlan()
        self.counters: Counter[str] = Counter()  # executed mutations (2xx), by operation
        self.requests: Counter[str] = Counter()  # requests that arrived (faulted or not), by operation
        self.responses: Counter[str] = Counter()  # "<operation> <status>" and "fault <kind>"
        self.mutating_operations = MUTATING_OPERATIONS
        if oauth_clients is None:
            oauth_clients = {DEFAULT_OAUTH_CLIENT_ID: DEFAULT_OAUTH_CLIENT_SECRET}
        self.auth = Authenticator(api_key, oauth_clients, token_lifetime=token_lifetime)
        self.rate_limits = rate_limits
        self.limiter = RateLimiter()
        self.app = EmulatorApp(self)

    def __repr__(self) -> str:
        return f"Emulator(clock={self.clock!r}, projects={len(self.tenant.projects)})"

    def transport(self) -> httpx.AsyncBaseTransport:
        return EmulatorTransport(self.app)

    # --- state without HTTP -----------------------------------------------------------------------------
    def _project(self, project_id: str) -> ProjectState:
        self.tenant.sync()
        if project_id not in self.tenant.projects:
            raise KeyError(f"no project {project_id!r}")
        return self.tenant.projects[project_id]

    def _task(self, project_id: str, task_id: str) -> TaskState:
        project = self._project(project_id)
        if task_id not in project.tasks:
            raise KeyError(f"no task {task_id!r} in project {project_id!r}")
        return project.tasks[task_id]

    def project_id(self, name: str) -> str:
        """The id of the project with this name."""
        for project in self.tenant.projects.values():
            if project.name == name:
                return project.id
        raise KeyError(f"no project named {name!r}")

    def task_id(self, project_id: str, name: str) -> str:
        """The id of the task with this name in the project."""
        for task in self._project(project_id).tasks.values():
            if task.definition.name == name:
                return task.id
        raise KeyError(f"no task named {name!r} in project {project_id!r}")

    def project(self, project_id: str) -> dict[str, Any]:
        return project_wire(self._project(project_id))

    def tasks(self, project_id: str) -> list[dict[str, Any]]:
        project = self._project(project_id)
        return [task_wire(project, task) for task in project.tasks.values()]

    def task(self, project_id: str, task_id: str) -> dict[str, Any]:
        return task_wire(self._project(project_id), self._task(project_id, task_id))

    def task_run_state(self, project_id: str, task_id: str) -> str | None:
        """`lastRun.state` (STARTING, RUNNING, ...) or None for a task never run."""
        run = self._task(project_id, task_id).run
        return run.state if run else None

    def task_readiness(self, project_id: str, task_id: str) -> str:
        return readiness(self._task(project_id, task_id))[0]

    def task_state(self, project_id: str, task_id: str) -> dict[str, Any]:
        return runtime_state(self.tenant, self._task(project_id, task_id))

    def datasets(self, project_id: str, task_id: str) -> list[dict[str, Any]]:
        return datasets_state(self.tenant, self._task(project_id, task_id))

    def bindings(self, project_id: str) -> dict[str, Any]:
        return dict(self._project(project_id).bindings)

    def action(self, action_id: str) -> dict[str, Any]:
        self.tenant.sync()
        action: Action | None = self.tenant.actions.get(action_id)
        if action is None:
            raise KeyError(f"no action {action_id!r}")
        return action.to_wire(detailed=True)

    # --- control ----------------------------------------------------------------------------------------
    def set_dataset_broken(
        self,
        project_id: str,
        task_id: str,
        dataset: str,
        *,
        broken: bool = True,
        message: str | None = None,
    ) -> None:
        """Break (or, with `broken=False`, repair) one dataset's source, to rehearse failed runs.

        While broken, every full load of the dataset that finishes (one in progress included) ends in ERROR
        with `message` (default: the source table does not exist), the dataset's readiness becomes ERROR, and
        the run ends FAILED once its other loads are done. A run with nothing to full-load does not touch the
        dataset: break a never-loaded task, or request a reload, to see the failure. After a repair the next
        run loads the dataset again. `dataset` is the dataset's name or id. Raises ValueError naming the
        unknown project, task or dataset, or for a message given with `broken=False`.
        """
        target = self._dataset_for_control(project_id, task_id, dataset)
        if not broken:
            if message is not None:
                raise ValueError("a message applies only when breaking a dataset (broken=True)")
            target.load_failure = None
            return
        if message is not None and not message.strip():
            raise ValueError("the failure message must not be empty")
        source = target.source_name or target.name
        target.load_failure = message or f"Table '{source}' does not exist in the source database."

    def trigger_scheduled_run(self, project_id: str, task_id: str) -> TaskRun:
        """Fire the task's schedule now: the task starts like `.../runtime/actions/start` when it is ready to
        run, and otherwise a MISFIRED run (with the reason it could not start) is recorded in its history, as
        a scheduler's trigger that could not run misfires. Raises the API's 404 for an unknown project or task."""
        tenant = self.tenant
        tenant.sync()
        _, task = tenant.task(project_id, task_id)
        state, message = readiness(task)
        if state != READY_TO_RUN:
            return run_history.misfire(tenant, task, message)
        start_task(tenant, task, option=None, process_changes_from=None)
        assert task.run is not None
        return task.run

    def _dataset_for_control(self, project_id: str, task_id: str, dataset: str) -> DatasetRuntime:
        self.tenant.sync()  # loads due by now finish as they would have, before the change
        project = self.tenant.projects.get(project_id)
        if project is None:
            raise ValueError(f"no project {project_id!r} in the emulated tenant")
        task = project.tasks.get(task_id)
        if task is None:
            raise ValueError(f"no task {task_id!r} in project {project.name!r} ({project_id})")
        by_name = next((d for d in task.datasets.values() if d.name == dataset), None)
        found = by_name or task.datasets.get(dataset)
        if found is None:
            known = ", ".join(d.name for d in task.datasets.values()) or "none"
            raise ValueError(
                f"no dataset {dataset!r} (by name or id) in task {task.definition.name!r}; its datasets: {known}"
            )
        return found

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-serialisable dict (no secrets)."""
        tenant = self.tenant
        tenant.sync()
        return {
            "now": iso_time(tenant.now()),
            "nowEpoch": tenant.now(),
            "ownerId": tenant.owner_id,
            "spaces": [{"id": s.id, "name": s.name} for s in tenant.spaces.values()],
            "connections": [
                {"id": c.id, "name": c.name, "spaceName": c.space_name} for c in tenant.connections.values()
            ],
            "projects": [self._project_snapshot(project) for project in tenant.projects.values()],
            "actions": {action_id: a.to_wire(detailed=True) for action_id, a in tenant.actions.items()},
            "counters": dict(self.counters),
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "faults": [fault.to_dict() for fault in self.faults.pending],
            "pendingEvents": len(tenant.events),
        }

    def _project_snapshot(self, project: ProjectState) -> dict[str, Any]:
        return {
            **project_wire(project),
            "type": project.type,
            "platformType": project.platform_type,
            "activePrepareActionId": project.active_prepare_action_id,
            "bindings": dict(project.bindings),
            "nameToIdMap": name_to_id_map(self.tenant, project.bindings),
            "tasks": [
                {
                    **task_wire(project, task),
                    "prepared": task.prepared,
                    "prepareError": task.prepare_error,
                    "recreateRequired": task.recreate_required,
                    "busyActionId": task.busy_action_id,
                    "isCdc": task.definition.is_cdc(),
                    "runtime": runtime_state(self.tenant, task),
                    "datasets": datasets_state(self.tenant, task),
                    "pendingReloads": {
                        d.dataset_id: d.reload_strategy for d in task.datasets.values() if d.reload_strategy
                    },
                    "brokenDatasets": {d.dataset_id: d.load_failure for d in task.datasets.values() if d.load_failure},
                }
                for task in project.tasks.values()
            ],
        }
