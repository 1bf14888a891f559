"""Task runs: start -> STARTING -> RUNNING -> COMPLETED (full load) or RUNNING for good (CDC);
stop -> STOPPING -> CANCELED. Datasets load QUEUED -> LOADING -> COMPLETED, a few at a time.

What a run loads: datasets never loaded (or recreated, or interrupted by a stop) and those a reload was
requested for. A dataset in ERROR stays in error until a reload is requested for it, like a suspended table
in Qlik. A run with nothing to full-load applies one batch of changes and completes (CDC tasks keep
processing changes instead). Counts that rise continuously (rows loaded, changes applied) are computed from
the clock when read, so they move between two reads without any event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import timings
from .clock import hms_duration, iso_time
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
    load.state = "COMPLETED"
    load.end = at
    dataset.readiness = "READY"
    dataset.needs_full_load = False
    if run.queue:
        _start_next_load(tenant, task, run, at)
        return
    if any(_load_state(task, dataset_id, run) == "LOADING" for dataset_id in run.loading):
        return
    if task.definition.is_cdc():
        run.cdc_since = at
    else:
        _run_finished(task, run, at)


def _load_state(task: TaskState, dataset_id: str, run: TaskRun) -> str | None:
    dataset = task.datasets.get(dataset_id)
    if dataset is None or dataset.load is None or dataset.load.run_number != run.number:
        return None
    return dataset.load.state


def _run_finished(task: TaskState, run: TaskRun, at: float) -> None:
    if task.run is run and run.state == "RUNNING":
        run.state = "COMPLETED"
        run.end = at


def _stopped(task: TaskState, run: TaskRun, at: float) -> None:
    if task.run is not run or run.state != "STOPPING":
        return
    run.state = "CANCELED"
    run.end = at
    run.message = "The task was stopped."
    if run.cdc_since is not None:
        run.cdc_until = at
        for dataset in task.datasets.values():
            dataset.cdc_base += _run_changes(dataset, run, at)
    for dataset_id in run.loading:
        dataset = task.datasets.get(dataset_id)
        if dataset is not None and _load_state(task, dataset_id, run) not in (None, "COMPLETED"):
            dataset.load = FullLoad(
                run_number=run.number,
                rows=dataset.source_rows,
                message="Interrupted: the task stopped before this dataset finished loading; "
                "the next run loads it again.",
            )
            dataset.needs_full_load = True


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


# --- rendering ------------------------------------------------------------------------------------------


def runtime_state(tenant: Tenant, task: TaskState) -> dict[str, Any]:
    state, message = readiness(task)
    wire: dict[str, Any] = {"name": task.definition.name, "type": task.definition.type}
    if task.run is not None:
        wire["lastRun"] = _last_run(tenant, task, task.run)
    wire["runReadiness"] = {"state": state, "message": message}
    return wire


def _last_run(tenant: Tenant, task: TaskState, run: TaskRun) -> dict[str, Any]:
    now = tenant.now()
    wire: dict[str, Any] = {"state": run.state, "startTime": iso_time(run.start)}
    if run.end is not None:
        wire["endTime"] = iso_time(run.end)
    wire["duration"] = hms_duration((run.end if run.end is not None else now) - run.start)
    wire["traceId"] = run.trace_id
    if run.message:
        wire["message"] = run.message
    in_error = [d for d in task.datasets.values() if d.readiness == "ERROR"]
    wire["errors"] = [
        {"code": "DATASET_ERROR", "title": f"Dataset {d.name} is in error", "detail": d.error_message or ""}
        for d in in_error
    ]
    general: dict[str, Any] = {"datasetCount": len(task.datasets), "datasetsInErrorCount": len(in_error)}
    if run.state == "COMPLETED" and run.end is not None:
        general["dataTaskUpdatedTo"] = iso_time(run.end)
    elif run.cdc_since is not None:
        general["dataTaskUpdatedTo"] = iso_time((run.cdc_until or now) - _latency_seconds(run, now))
    wire["general"] = general
    states = [_load_state(task, dataset_id, run) for dataset_id in run.loading]
    wire["fullLoad"] = {
        "errorCount": states.count("ERROR"),
        "queuedCount": states.count("QUEUED"),
        "loadingCount": states.count("LOADING"),
        "completedCount": states.count("COMPLETED"),
    }
    if task.definition.is_cdc():
        wire["cdcStatus"] = _run_cdc_status(task, run, now)
    elif run.batch_rows:
        wire["lastBatchOfChanges"] = {
            "relatesToRecordsFrom": iso_time(run.start - 3600),
            "relatesToRecordsTo": iso_time(run.start),
            "totalProcessedCount": run.batch_rows,
            "throughputInRecordsPerSecond": round(run.batch_rows / timings.INCREMENTAL_BATCH_SECONDS),
        }
    return wire


def _cdc_seconds(run: TaskRun, now: float) -> float:
    if run.cdc_since is None:
        return 0.0
    return max(0.0, (run.cdc_until if run.cdc_until is not None else now) - run.cdc_since)


def _latency_seconds(run: TaskRun, now: float) -> int:
    if not run.active or run.cdc_since is None:
        return 0
    return 2 + int(_cdc_seconds(run, now)) % 7  # wanders between 2 and 8 s, as a healthy CDC task does


def _run_changes(dataset: DatasetRuntime, run: TaskRun, now: float) -> int:
    if dataset.readiness == "ERROR" or run.cdc_since is None:
        return 0
    return int(dataset.change_rate * _cdc_seconds(run, now))


def _run_cdc_status(task: TaskState, run: TaskRun, now: float) -> dict[str, Any]:
    seconds = int(_cdc_seconds(run, now))
    rate = sum(d.change_rate for d in task.datasets.values() if d.readiness != "ERROR")
    flowing = run.active and run.cdc_since is not None
    return {
        "latency": hms_duration(_latency_seconds(run, now)),
        "totalProcessedCount": sum(_run_changes(d, run, now) for d in task.datasets.values()),
        "applyingChangesCount": (seconds * 13) % (rate + 1) if flowing else 0,
        "accumulatingChangesCount": (seconds * 7) % 40 if flowing else 0,
        "throughputInKilobytesPerSecond": round(rate * 0.4, 1) if flowing else 0,
    }


def datasets_state(tenant: Tenant, task: TaskState) -> list[dict[str, Any]]:
    now = tenant.now()
    return [_dataset_state(task, dataset, now) for dataset in task.datasets.values()]


def _dataset_state(task: TaskState, dataset: DatasetRuntime, now: float) -> dict[str, Any]:
    wire: dict[str, Any] = {"datasetId": dataset.dataset_id, "name": dataset.name}
    if dataset.source_name is not None:
        wire["sourceName"] = dataset.source_name
    wire["dataReadiness"] = dataset.readiness
    run = task.run
    if dataset.load is not None:
        wire["fullLoad"] = _full_load(task, dataset, dataset.load, now)
    if task.definition.is_cdc() and run is not None:
        wire["cdcStatus"] = _dataset_cdc(dataset, run, now)
    return wire


def _full_load(task: TaskState, dataset: DatasetRuntime, load: FullLoad, now: float) -> dict[str, Any]:
    wire: dict[str, Any] = {"state": load.state}
    if load.start is not None:
        wire["startTime"] = iso_time(load.start)
        wire["duration"] = hms_duration((load.end if load.end is not None else now) - load.start)
    if load.end is not None:
        wire["endTime"] = iso_time(load.end)
    if load.state == "COMPLETED":
        processed = load.rows
    elif load.state == "LOADING" and load.start is not None and load.planned_seconds > 0:
        processed = int(load.rows * min(1.0, (now - load.start) / load.planned_seconds))
    elif load.state == "ERROR":
        processed = load.rows // 3
    else:
        processed = 0
    wire["totalProcessedCount"] = processed
    if task.definition.is_cdc():
        wire["cachedChangesCount"] = dataset.change_rate * 2 if load.state != "QUEUED" else 0
    message = dataset.error_message if load.state == "ERROR" else load.message
    if message:
        wire["message"] = message
    return wire


def _dataset_cdc(dataset: DatasetRuntime, run: TaskRun, now: float) -> dict[str, Any]:
    if dataset.readiness == "ERROR":
        return {
            "state": "ERROR",
            "message": dataset.error_message or "",
            "totalProcessedCount": dataset.cdc_base,
        }
    current = _run_changes(dataset, run, now) if run.active else 0
    total = dataset.cdc_base + current
    if run.active and run.cdc_since is not None:
        state = "PROCESSING"
    elif run.active:
        state = "ACCUMULATING_CHANGES"  # changes are cached while the full load runs
    else:
        state = "QUEUED"
    inserts, updates = total * 6 // 10, total * 3 // 10
    wire: dict[str, Any] = {
        "state": state,
        "ddlCount": 0,
        "insertCount": inserts,
        "updateCount": updates,
        "deleteCount": total - inserts - updates,
        "totalProcessedCount": total,
    }
    if total:
        wire["lastProcessed"] = iso_time((run.cdc_until or now) - _latency_seconds(run, now))
    return wire


# --- demo seeding ---------------------------------------------------------------------------------------


def seed_completed_run(
    tenant: Tenant, task: TaskState, *, ended_at: float, error_dataset_id: str | None = None, error: str = ""
) -> None:
    """A finished full-load run in the past: every dataset loaded, except `error_dataset_id` (ERROR)."""
    task.runs_started += 1
    run = TaskRun(number=task.runs_started, state="COMPLETED", start=ended_at, trace_id=tenant.ids.trace_id())
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


def seed_cdc_run(tenant: Tenant, task: TaskState, *, started_at: float) -> None:
    """A CDC run started at `started_at` that finished its full load and has processed changes since."""
    seed_completed_run(tenant, task, ended_at=started_at + 60)
    run = task.run
    assert run is not None
    run.state = "RUNNING"
    run.cdc_since = run.end
    run.end = None


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
