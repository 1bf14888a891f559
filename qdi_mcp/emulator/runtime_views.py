"""Wire shapes of a task's runtime: `GET .../runtime/state` and `GET .../runtime/state/datasets`.

Counts that rise continuously (rows loaded, changes applied) are computed here from the clock, so they
move between two reads without any event.
"""

from __future__ import annotations

from typing import Any

from . import timings
from .qlik_time import hms_duration, iso_time
from .runtime import cdc_seconds, latency_seconds, load_state, readiness, run_changes
from .state import DatasetRuntime, FullLoad, TaskRun, TaskState, Tenant


def runtime_state(tenant: Tenant, task: TaskState) -> dict[str, Any]:
    state, message = readiness(task)
    wire: dict[str, Any] = {"name": task.definition.name, "type": task.definition.type}
    if task.run is not None:
        wire["lastRun"] = last_run_wire(task, task.run, tenant.now())
    wire["runReadiness"] = {"state": state, "message": message}
    return wire


def last_run_wire(task: TaskState, run: TaskRun, now: float) -> dict[str, Any]:
    """One run as `lastRun` shows it at time `now` (also what run history freezes when the run ends)."""
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
        general["dataTaskUpdatedTo"] = iso_time((run.cdc_until or now) - latency_seconds(run, now))
    wire["general"] = general
    states = [load_state(task, dataset_id, run) for dataset_id in run.loading]
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


def _run_cdc_status(task: TaskState, run: TaskRun, now: float) -> dict[str, Any]:
    seconds = int(cdc_seconds(run, now))
    rate = sum(d.change_rate for d in task.datasets.values() if d.readiness != "ERROR")
    flowing = run.active and run.cdc_since is not None
    return {
        "latency": hms_duration(latency_seconds(run, now)),
        "totalProcessedCount": sum(run_changes(d, run, now) for d in task.datasets.values()),
        "applyingChangesCount": (seconds * 13) % (rate + 1) if flowing else 0,
        "accumulatingChangesCount": (seconds * 7) % 40 if flowing else 0,
        "throughputInKilobytesPerSecond": round(rate * 0.4, 1) if flowing else 0,
    }


def datasets_state(tenant: Tenant, task: TaskState) -> list[dict[str, Any]]:
    return datasets_state_at(task, tenant.now())


def datasets_state_at(task: TaskState, now: float) -> list[dict[str, Any]]:
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
    elif load.state == "LOADING" and dataset.load_failure is not None:
        processed = 0  # a missing source delivers nothing; the load fails when it would have completed
    elif load.state == "LOADING" and load.start is not None and load.planned_seconds > 0:
        processed = int(load.rows * min(1.0, (now - load.start) / load.planned_seconds))
    elif load.state == "ERROR":
        processed = load.rows // 3  # a load that failed midway (a broken source's load has rows = 0)
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
    current = run_changes(dataset, run, now) if run.active else 0
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
        wire["lastProcessed"] = iso_time((run.cdc_until or now) - latency_seconds(run, now))
    return wire
