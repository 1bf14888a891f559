"""Fill a Tenant from C's demo content (`demo.demo_tenant()`), adding the runtime history it describes.

Tasks listed as completed get a finished run an hour ago; tasks listed as running (CDC) have been running
for two hours. One dataset of the first storage task with a finished run is in ERROR (a type conversion
failure), so an agent has something to diagnose: `datasetsInErrorCount` > 0, the dataset's message, and a
fix (request a reload of that dataset, run the task again).

Run history (`run_history.py`) goes back a few days and ends in the runs above, so it agrees with the current
state: each task with a finished run also completed on the nights before; the CDC task was stopped (CANCELED)
before its current run; and each task never prepared had last night's scheduled start misfire.
"""

from __future__ import annotations

from . import run_history, timings
from .demo import DemoTenant
from .runtime import load_seconds, readiness, start_task
from .state import Connection, FullLoad, ProjectState, Space, TaskRun, TaskState, Tenant, dataset_signature

STORAGE_TYPES = ("STORAGE", "QVD_STORAGE", "LAKEHOUSE_STORAGE")
LAST_RUN_AGO_SECONDS = 3600.0
CDC_RUNNING_FOR_SECONDS = 2 * 3600.0
HISTORY_NIGHTS = 3  # earlier nightly runs seeded before each task's current run
DAY_SECONDS = 24 * 3600.0
CDC_STOPPED_BEFORE_SECONDS = 600.0  # the CDC task's previous run was stopped this long before the current began
ERROR_TEMPLATE = (
    "Full load of '{name}' failed: value 'N/A' in column UPDATED_AT cannot be converted to TIMESTAMP_NTZ "
    "(source row 1873). Fix the source data, then request a reload of this dataset and run the task."
)


def load_demo(tenant: Tenant, demo: DemoTenant, *, with_projects: bool = True) -> None:
    for space in demo.spaces:
        tenant.spaces[space.id] = Space(space.id, space.name)
    for connection in demo.connections:
        tenant.connections[connection.id] = Connection(
            connection.id,
            connection.name,
            connection.space_name,
            type=connection.type,
            connect_statement=f'CUSTOM CONNECT TO "provider={connection.type};host={connection.name.lower()}.demo;"',
        )
    if not with_projects:
        return
    now = tenant.now()
    error_placed = False
    for demo_project in demo.projects:
        definition = demo_project.definition
        project = ProjectState(
            id=demo_project.id,
            name=demo_project.name,
            space_id=demo_project.space_id,
            owner_id=demo_project.owner_id,
            description=demo_project.description,
            type=demo_project.type,
            platform_type=demo_project.platform_type,
            properties=definition.properties,
            settings=definition.settings,
            bindings_definition=definition.bindings_definition,
            bindings=dict(demo_project.bindings),
            other_files=definition.other_files,
            connection_properties=definition.connection_properties,
        )
        tenant.projects[project.id] = project
        ran = demo_project.running_task_ids | demo_project.completed_task_ids
        for task_definition in definition.tasks:
            task = TaskState(definition=task_definition, project_id=project.id)
            task.sync_datasets()
            if task.id in demo_project.prepared_task_ids | ran:
                task.prepared = True
                task.prepared_signature = dataset_signature(task_definition)
            project.tasks[task.id] = task
        for task in project.tasks.values():
            seed_history(tenant, task, now, ran=task.id in ran)
            if task.id in demo_project.running_task_ids:
                if task.definition.is_cdc():
                    seed_cdc_run(tenant, task, started_at=now - CDC_RUNNING_FOR_SECONDS)
                else:
                    start_task(tenant, task, option=None, process_changes_from=None)
            elif task.id in demo_project.completed_task_ids:
                error_dataset = None
                if not error_placed and task.definition.type in STORAGE_TYPES and task.datasets:
                    error_dataset = list(task.datasets.values())[-1]
                    error_placed = True
                seed_completed_run(
                    tenant,
                    task,
                    ended_at=now - LAST_RUN_AGO_SECONDS,
                    error_dataset_id=error_dataset.dataset_id if error_dataset else None,
                    error=ERROR_TEMPLATE.format(name=error_dataset.name) if error_dataset else "",
                )


def seed_history(tenant: Tenant, task: TaskState, now: float, *, ran: bool) -> None:
    """The runs before the current one (see the module's docstring)."""
    if not ran:
        state, message = readiness(task)
        if state != "READY_TO_RUN":
            run_history.misfire(tenant, task, message, at=now - LAST_RUN_AGO_SECONDS)
        return
    starts = task.runs_started  # past runs are history only: the current run stays the task's first start
    for night in range(HISTORY_NIGHTS, 0, -1):
        if task.definition.is_cdc():
            began = now - CDC_RUNNING_FOR_SECONDS - night * DAY_SECONDS
            seed_completed_run(tenant, task, ended_at=began + 60, from_history=True)
            run = task.run
            assert run is not None
            run.state, run.cdc_since = "CANCELED", run.end
            run.end = now - CDC_RUNNING_FOR_SECONDS - CDC_STOPPED_BEFORE_SECONDS - (night - 1) * DAY_SECONDS
            run.cdc_until = run.end
            run.message = "The task was stopped."
            run_history.freeze(task, run, run.end)
        else:
            seed_completed_run(
                tenant, task, ended_at=now - LAST_RUN_AGO_SECONDS - night * DAY_SECONDS, from_history=True
            )
    task.runs_started = starts


def seed_completed_run(
    tenant: Tenant,
    task: TaskState,
    *,
    ended_at: float,
    error_dataset_id: str | None = None,
    error: str = "",
    from_history: bool = False,
) -> None:
    """A finished full-load run in the past: every dataset loaded, except `error_dataset_id` (ERROR). Runs
    `from_history` take their trace id from their run id, not from the seeded sequence later ids come from."""
    task.runs_started += 1
    trace_id = "" if from_history else tenant.ids.trace_id()
    run = TaskRun(number=task.runs_started, state="COMPLETED", start=ended_at, trace_id=trace_id)
    run_history.record(task, run)
    if from_history:
        run.trace_id = run_history.history_trace_id(run)
    cursor = ended_at
    for dataset in reversed(list(task.datasets.values())):
        seconds = load_seconds(dataset)
        failed = dataset.dataset_id == error_dataset_id
        dataset.load = FullLoad(
            run_number=run.number,
            state="ERROR" if failed else "COMPLETED",
            start=cursor - seconds,
            end=cursor,
            planned_seconds=seconds,
            rows=dataset.source_rows,
        )
        dataset.readiness = "ERROR" if failed else "READY"
        dataset.error_message = error if failed else None
        dataset.needs_full_load = False
        run.loading.insert(0, dataset.dataset_id)
        cursor -= seconds
    run.start = cursor - timings.TASK_STARTING_SECONDS
    run.end = ended_at
    task.run = run
    run_history.freeze(task, run, ended_at)


def seed_cdc_run(tenant: Tenant, task: TaskState, *, started_at: float) -> None:
    """A CDC run started at `started_at` that finished its full load and has processed changes since."""
    seed_completed_run(tenant, task, ended_at=started_at + 60)
    run = task.run
    assert run is not None
    run.state = "RUNNING"
    run.cdc_since = run.end
    run.end = None
    run.final_state = run.final_datasets = None  # running: its record is live


def demo_task(tenant: Tenant, project_name: str, task_name: str) -> TaskState:
    """A task of the loaded tenant by project and task name (for tests and evals)."""
    for project in tenant.projects.values():
        if project.name == project_name:
            for task in project.tasks.values():
                if task.definition.name == task_name:
                    return task
    raise KeyError(f"no task {task_name!r} in a project named {project_name!r}")
