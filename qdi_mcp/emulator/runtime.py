"""Task runs: start -> STARTING -> RUNNING -> COMPLETED (full load) or RUNNING for good (CDC);
stop -> STOPPING -> CANCELED. Datasets load QUEUED -> LOADING -> COMPLETED, a few at a time.

What a run loads: datasets never loaded (or recreated, or interrupted by a stop, or whose load failed) and
those a reload was requested for. A dataset in ERROR from a completed load (the demo's seeded type-conversion
error) stays in error until a reload is requested for it, like a suspended table in Qlik. A run with nothing
to full-load applies one batch of changes and completes (CDC tasks keep processing changes instead). The wire
shapes are in `runtime_views.py`. Every run is recorded in the task's history when it starts and frozen there
when it ends (`run_history.py`).

Failures: a dataset marked broken (`DatasetRuntime.load_failure`, set by `Emulator.set_dataset_broken`) ends its
load in ERROR when the load would have completed; the other loads go on. Once no load is left, a run with any
load in ERROR ends FAILED, CDC tasks included (they never start streaming changes). A failed load never
finished, so the next run loads that dataset again: once the source is repaired, a plain rerun recovers.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

from . import timings
from .errors import bad_request
from .state import DatasetRuntime, FullLoad, TaskRun, TaskState, Tenant, stable_number

READY_TO_RUN = "READY_TO_RUN"
ALREADY_RUNNING = "ALREADY_RUNNING"
NOT_RUNNABLE = "NOT_RUNNABLE"

START_OPTIONS = (
    "PROCESS_CHANGES_FROM_TIMESTAMP",
    "PROCESS_CHANGES_FROM_POSITION",
    "RECOVER_USING_LOCALLY_STORED_CHECKPOINT",
)
RELOAD_STRATEGIES = ("NONE", "TRUNCATE", "COMPARE_AND_APPLY")


def readiness(task: TaskState) -> tuple[str, str]:
    if task.running:
        return ALREADY_RUNNING, f"The task is already running (state {task.run.state})."  # type: ignore[union-attr]
    if task.busy_action_id:
        return (
            NOT_RUNNABLE,
            f"The task is being prepared (action {task.busy_action_id}); wait for it to finish.",
        )
    if task.recreate_required:
        return NOT_RUNNABLE, (
            "The task's datasets changed since it was last prepared. Prepare it with allowRecreate=true."
        )
    if task.prepare_error:
        return NOT_RUNNABLE, f"The last prepare of the task failed: {task.prepare_error}"
    if not task.prepared:
        return (
            NOT_RUNNABLE,
            task.stale_reason or "The task has not been prepared. Prepare it before running it.",
        )
    return READY_TO_RUN, "The task is ready to run."


# --- start / stop ---------------------------------------------------------------------------------------


def start_task(tenant: Tenant, task: TaskState, *, option: str | None, process_changes_from: str | None) -> None:
    state, message = readiness(task)
    if state != READY_TO_RUN:
        raise bad_request(f"Task '{task.definition.name}' cannot be started: {message}")
    now = tenant.now()
    task.runs_started += 1
    run = TaskRun(
        number=task.runs_started,
        state="STARTING",
        start=now,
        trace_id=tenant.ids.trace_id(),
        option=option,
        process_changes_from=process_changes_from,
    )
    if option:
        run.message = f"Started with option {option}" + (
            f" from {process_changes_from}." if process_changes_from else "."
        )
    task.run = run
    _history().record(task, run)
    tenant.schedule(now + timings.TASK_STARTING_SECONDS, lambda at: _begin_running(tenant, task, run, at))


def stop_task(tenant: Tenant, task: TaskState) -> None:
    run = task.run
    if run is None or run.state not in ("STARTING", "RUNNING"):
        current = "never run" if run is None else run.state
        raise bad_request(
            f"Task '{task.definition.name}' is not running (last run: {current}); there is nothing to stop."
        )
    now = tenant.now()
    run.state = "STOPPING"
    tenant.schedule(now + timings.TASK_STOPPING_SECONDS, lambda at: _stopped(task, run, at))


def _begin_running(tenant: Tenant, task: TaskState, run: TaskRun, at: float) -> None:
    if task.run is not run or run.state != "STARTING":
        return
    run.state = "RUNNING"
    for dataset in task.datasets.values():
        if dataset.reload_strategy is not None:
            if dataset.reload_strategy == "TRUNCATE":
                dataset.readiness = "NOT_READY"
                dataset.cdc_base = 0
            dataset.reload_strategy = None
            dataset.needs_full_load = True
        if dataset.needs_full_load:
            dataset.load = FullLoad(run_number=run.number, rows=dataset.source_rows)
            dataset.error_message = None
            if dataset.readiness == "ERROR":
                dataset.readiness = "NOT_READY"
            run.loading.append(dataset.dataset_id)
    run.queue = list(run.loading)
    if run.loading:
        for _ in range(min(timings.MAX_PARALLEL_LOADS, len(run.queue))):
            _start_next_load(tenant, task, run, at)
    elif task.definition.is_cdc():
        run.cdc_since = at
    else:
        run.batch_rows = sum(d.change_rate for d in task.datasets.values() if d.readiness == "READY") * 7
        tenant.schedule(at + timings.INCREMENTAL_BATCH_SECONDS, lambda when: _run_finished(task, run, when))


def load_seconds(dataset: DatasetRuntime) -> float:
    """How long a full load of this dataset takes (fixed per dataset, within the configured spread)."""
    return timings.LOAD_MIN_SECONDS + stable_number(dataset.dataset_id, 1000) / 1000 * timings.LOAD_SPREAD_SECONDS


def _start_next_load(tenant: Tenant, task: TaskState, run: TaskRun, at: float) -> None:
    dataset = task.datasets.get(run.queue.pop(0))
    if dataset is None or dataset.load is None:
        return
    dataset.load.state = "LOADING"
    dataset.load.start = at
    dataset.load.planned_seconds = load_seconds(dataset)
    tenant.schedule(at + dataset.load.planned_seconds, lambda when: _load_finished(tenant, task, run, dataset, when))


def _load_finished(tenant: Tenant, task: TaskState, run: TaskRun, dataset: DatasetRuntime, at: float) -> None:
    load = dataset.load
    if task.run is not run or run.state != "RUNNING" or load is None or load.run_number != run.number:
        return  # the run was stopped (or the dataset recreated) before the load finished
    load.end = at
    if dataset.load_failure is not None:
        load.state = "ERROR"
        load.message = dataset.load_failure
        load.rows = 0  # a missing source fails before any row; kept on the load, so a later repair changes nothing
        dataset.readiness = "ERROR"
        dataset.error_message = dataset.load_failure
        # needs_full_load stays set: the table was never loaded, so the next run tries again
    else:
        load.state = "COMPLETED"
        dataset.readiness = "READY"
        dataset.needs_full_load = False
    if run.queue:
        _start_next_load(tenant, task, run, at)
        return
    if any(load_state(task, dataset_id, run) == "LOADING" for dataset_id in run.loading):
        return
    failed = [dataset_id for dataset_id in run.loading if load_state(task, dataset_id, run) == "ERROR"]
    if failed:
        _run_failed(task, run, failed, at)
    elif task.definition.is_cdc():
        run.cdc_since = at
    else:
        _run_finished(task, run, at)


def load_state(task: TaskState, dataset_id: str, run: TaskRun) -> str | None:
    dataset = task.datasets.get(dataset_id)
    if dataset is None or dataset.load is None or dataset.load.run_number != run.number:
        return None
    return dataset.load.state


def _run_finished(task: TaskState, run: TaskRun, at: float) -> None:
    if task.run is run and run.state == "RUNNING":
        run.state = "COMPLETED"
        run.end = at
        _history().freeze(task, run, at)


def _run_failed(task: TaskState, run: TaskRun, failed_ids: list[str], at: float) -> None:
    names = ", ".join(task.datasets[dataset_id].name for dataset_id in failed_ids)
    run.state = "FAILED"
    run.end = at
    run.message = (
        f"The task failed: the full load of {len(failed_ids)} of {len(run.loading)} datasets ended in error "
        f"({names}). See the datasets' state for each error."
    )
    _history().freeze(task, run, at)


def _stopped(task: TaskState, run: TaskRun, at: float) -> None:
    if task.run is not run or run.state != "STOPPING":
        return
    if run.cdc_since is not None:
        run.stopped_latency = latency_seconds(run, at)  # measured while the run is still active
    run.state = "CANCELED"
    run.end = at
    run.message = "The task was stopped."
    if run.cdc_since is not None:
        run.cdc_until = at
        for dataset in task.datasets.values():
            dataset.cdc_base += run_changes(dataset, run, at)
    for dataset_id in run.loading:
        loading = task.datasets.get(dataset_id)
        # a load that already ended in ERROR keeps its error; only unfinished loads were interrupted
        if loading is not None and load_state(task, dataset_id, run) not in (None, "COMPLETED", "ERROR"):
            loading.load = FullLoad(
                run_number=run.number,
                rows=loading.source_rows,
                message="Interrupted: the task stopped before this dataset finished loading; "
                "the next run loads it again.",
            )
            loading.needs_full_load = True
    _history().freeze(task, run, at)


def _history() -> ModuleType:
    # imported when used: run_history reads the runtime views, which import this module
    from . import run_history

    return run_history


# --- reload / recreate ----------------------------------------------------------------------------------


def request_reload(task: TaskState, dataset_ids: list[str], strategy: str) -> None:
    unknown = [dataset_id for dataset_id in dataset_ids if dataset_id not in task.datasets]
    if unknown:
        known = ", ".join(task.datasets) or "none"
        raise bad_request(
            f"Task '{task.definition.name}' has no dataset {', '.join(repr(u) for u in unknown)}. "
            f"Its datasets are: {known}.",
            pointer="/selectedDatasets",
        )
    for dataset_id in dataset_ids or list(task.datasets):
        task.datasets[dataset_id].reload_strategy = strategy


def reset_datasets(task: TaskState) -> None:
    """Drop and recreate the task's tables: nothing loaded, everything to load again."""
    for dataset in task.datasets.values():
        dataset.readiness = "NOT_READY"
        dataset.needs_full_load = True
        dataset.load = None
        dataset.reload_strategy = None
        dataset.cdc_base = 0
        dataset.error_message = None


# --- measures that move with the clock ---------------------------------------------------------------


def cdc_seconds(run: TaskRun, now: float) -> float:
    if run.cdc_since is None:
        return 0.0
    return max(0.0, (run.cdc_until if run.cdc_until is not None else now) - run.cdc_since)


def latency_seconds(run: TaskRun, now: float) -> int:
    if run.stopped_latency is not None and not run.active:
        return run.stopped_latency
    if not run.active or run.cdc_since is None:
        return 0
    return 2 + int(cdc_seconds(run, now)) % 7  # wanders between 2 and 8 s, as a healthy CDC task does


def run_changes(dataset: DatasetRuntime, run: TaskRun, now: float) -> int:
    if dataset.readiness == "ERROR" or run.cdc_since is None:
        return 0
    return int(dataset.change_rate * cdc_seconds(run, now))


def parse_start_options(task: TaskState, body: dict[str, Any]) -> tuple[str | None, str | None]:
    option, process_from = body.get("option"), body.get("processChangesFrom")
    if option is None and process_from is None:
        return None, None
    if task.definition.type != "REPLICATION":
        raise bad_request(
            f"Run options apply to REPLICATION tasks only; task '{task.definition.name}' is a "
            f"{task.definition.type} task.",
            pointer="/option" if option is not None else "/processChangesFrom",
        )
    if option not in START_OPTIONS:
        raise bad_request(f"'option' must be one of {', '.join(START_OPTIONS)}.", pointer="/option")
    if option == "RECOVER_USING_LOCALLY_STORED_CHECKPOINT":
        if process_from is not None:
            raise bad_request(f"{option} takes no 'processChangesFrom'.", pointer="/processChangesFrom")
        return option, None
    if not isinstance(process_from, str) or not process_from.strip():
        raise bad_request(f"{option} needs 'processChangesFrom'.", pointer="/processChangesFrom")
    if option == "PROCESS_CHANGES_FROM_TIMESTAMP" and not _is_timestamp(process_from):
        raise bad_request(
            f"'processChangesFrom' must be an ISO-8601 UTC timestamp such as 2025-01-31T08:00:00Z, "
            f"got {process_from!r}.",
            pointer="/processChangesFrom",
        )
    return option, process_from


def _is_timestamp(value: str) -> bool:
    text = value.strip()
    if "T" not in text:
        return False
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return False
    return True
