"""Task run history: every run of a task keeps a `runId` and a record, searchable and readable after it ended.

Qlik's reference (qlik.dev di-projects reference, stored doc 68598814407; typings `di-projects.d.ts`, stored doc
56221190310) documents three endpoints: `POST .../runtime/runs/actions/search` (cursor paging by `lastId`,
filters on ID, STATUS, SUB_STATUS and PERIOD), `GET .../runtime/runs/{runId}/state` (the runtime-state shape of
that run) and `GET .../runtime/runs/{runId}/state/datasets` (never paginated; 410 once retention purged the run's
dataset state, 413 when it is too large). What Qlik leaves unsaid is chosen here, each choice named below.

A run's record is live while it runs and frozen when it ends (`freeze`), so later runs, reloads and recreates do
not rewrite what an earlier run did. A scheduled start that finds the task unable to run is recorded as MISFIRED
(`misfire`); it never becomes the task's `lastRun`, whose state enum has no MISFIRED.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any

from .errors import ApiError, bad_request, not_found
from .qlik_time import hms_duration, iso_time
from .runtime import readiness
from .runtime_views import datasets_state_at, last_run_wire
from .state import TaskRun, TaskState, Tenant

RUN_STATUSES = ("STARTING", "RUNNING", "COMPLETED", "FAILED", "CANCELED", "MISFIRED")
FILTER_FIELDS = ("ID", "STATUS", "SUB_STATUS", "PERIOD")
FILTER_OPERATORS = ("IN", "NOT_IN", "BETWEEN")
# Qlik documents no default or maximum for `limit` (its example sends 50): 50 is the default, 100 the most.
DEFAULT_SEARCH_LIMIT = 50
MAX_SEARCH_LIMIT = 100
# Qlik documents a retention policy behind 410 but not its length; 90 days is what a tenant plausibly keeps.
DATASET_STATE_RETENTION_SECONDS = 90 * 24 * 3600.0
# Qlik calls 413 "a soft guard against pathologically large tasks" without a figure: 4 MiB of JSON here.
MAX_DATASET_STATE_BYTES = 4 * 1024 * 1024

_RUN_ID_NAMESPACE = uuid.UUID("0b6f3f8e-2a44-4c1d-9f67-5d0c2e7a1b93")


def run_id(task: TaskState, position: int) -> str:
    """A UUID like the reference's example runIds, derived from the task and the run's place in its history
    (1 = first), so the demo's runs keep their ids across restarts and no seeded id (actions, traces) moves."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{task.project_id}/{task.id}/{position}"))


def record(task: TaskState, run: TaskRun) -> None:
    run.run_id = run_id(task, len(task.history) + 1)
    task.history.append(run)


def freeze(task: TaskState, run: TaskRun, at: float) -> None:
    """Keep what the run's state and datasets were when it ended, at `at`."""
    run.final_state = last_run_wire(task, run, at)
    run.final_datasets = datasets_state_at(task, at)


def misfire(tenant: Tenant, task: TaskState, reason: str, *, at: float | None = None) -> TaskRun:
    """A scheduled trigger fired (at `at`, default now) while the task could not run: recorded, nothing started.
    The emulator has no scheduler, so a control call (`Emulator.trigger_scheduled_run`) stands in for one."""
    at = tenant.now() if at is None else at
    # nothing started, so `runs_started` (what loads are numbered by) stays as it is
    run = TaskRun(number=task.runs_started, state="MISFIRED", start=at, end=at, trace_id="")
    record(task, run)
    run.trace_id = history_trace_id(run)
    run.message = f"The scheduled run did not start: {reason}"
    run.final_state = {"state": "MISFIRED", "startTime": iso_time(at), "endTime": iso_time(at)}
    run.final_state |= {"duration": hms_duration(0), "traceId": run.trace_id, "message": run.message}
    run.final_datasets = []
    return run


def history_trace_id(run: TaskRun) -> str:
    """A trace id from the run id, for runs the emulator writes without a request (seeded history, misfires),
    so they take nothing from the seeded id sequence that later actions and traces use."""
    return uuid.uuid5(_RUN_ID_NAMESPACE, run.run_id).hex


# --- reading one run ------------------------------------------------------------------------------------


def find_run(task: TaskState, wanted: str) -> TaskRun:
    run = next((run for run in task.history if run.run_id == wanted), None)
    if run is None:
        raise not_found(f"Task run '{wanted}' was not found for data task '{task.id}'.", parameter="runId")
    return run


def run_state(tenant: Tenant, task: TaskState, run: TaskRun) -> dict[str, Any]:
    """`DataTaskRuntimeState` of one run. `runReadiness` says whether the task can run now, so it is given only
    for the task's current run; a past run's record does not speak for the task today."""
    wire: dict[str, Any] = {"name": task.definition.name, "type": task.definition.type}
    wire["lastRun"] = run.final_state if run.final_state is not None else last_run_wire(task, run, tenant.now())
    if run is task.run:
        state, message = readiness(task)
        wire["runReadiness"] = {"state": state, "message": message}
    return wire


def run_datasets(tenant: Tenant, task: TaskState, run: TaskRun) -> dict[str, Any]:
    if tenant.now() - (run.end if run.end is not None else run.start) > DATASET_STATE_RETENTION_SECONDS:
        raise ApiError(
            410,
            f"Gone: the dataset state of run '{run.run_id}' has been purged due to retention policy "
            f"(kept {DATASET_STATE_RETENTION_SECONDS / 86400:.0f} days).",
        )
    datasets = run.final_datasets if run.final_datasets is not None else datasets_state_at(task, tenant.now())
    body = {"datasets": datasets}
    if len(json.dumps(body)) > MAX_DATASET_STATE_BYTES:
        raise ApiError(
            413,
            f"Payload Too Large: the dataset state of run '{run.run_id}' exceeds the per-response size limit.",
        )
    return body


# --- search ---------------------------------------------------------------------------------------------


def status(run: TaskRun) -> str:
    # history has no STOPPING: a run being stopped is still running until it ends CANCELED
    return "RUNNING" if run.state == "STOPPING" else run.state


def run_item(tenant: Tenant, task: TaskState, run: TaskRun) -> dict[str, Any]:
    """`TaskRunItemRsp`. Qlik documents no values for `subStatus`/`originSubStatus`: the emulator sends none."""
    datasets = run.final_datasets if run.final_datasets is not None else datasets_state_at(task, tenant.now())
    end = run.end if run.end is not None else tenant.now()
    item: dict[str, Any] = {"runId": run.run_id, "status": status(run), "startTime": iso_time(run.start)}
    if run.end is not None:
        item["endTime"] = iso_time(run.end)
    item["duration"] = hms_duration(end - run.start)
    if run.state in ("FAILED", "MISFIRED") and run.message:
        item["errorMessage"] = run.message  # "Error message, if the run failed."
    item["datasetsCount"] = len(datasets)
    item["datasetsErrorCount"] = sum(1 for d in datasets if d.get("dataReadiness") == "ERROR")
    return item


def search(tenant: Tenant, task: TaskState, body: dict[str, Any]) -> dict[str, Any]:
    limit = _limit(body)
    matching = [run for run in _newest_first(task) if all(_matches(run, f) for f in _filters(body))]
    start = 0
    last_id = body.get("lastId")
    if last_id is not None:
        if not isinstance(last_id, str):
            raise bad_request("'lastId' must be a runId string.", pointer="/lastId")
        position = next((i for i, run in enumerate(matching) if run.run_id == last_id), None)
        if position is None:
            raise bad_request(f"'lastId' {last_id!r} is not a run of this search.", pointer="/lastId")
        start = position + 1
    page = matching[start : start + limit]
    wire: dict[str, Any] = {"runs": [run_item(tenant, task, run) for run in page]}
    if page:
        wire["lastId"] = page[-1].run_id
    wire["nextPageExists"] = start + limit < len(matching)
    return wire


def _newest_first(task: TaskState) -> list[TaskRun]:
    # Qlik does not say the order; newest first, because what a person or agent asks of run history is almost
    # always about the latest runs ("why did last night's run fail"), which the first page then holds.
    order = sorted(enumerate(task.history), key=lambda indexed: (indexed[1].start, indexed[0]), reverse=True)
    return [run for _, run in order]


def _limit(body: dict[str, Any]) -> int:
    limit = body.get("limit", DEFAULT_SEARCH_LIMIT)
    if limit is None:
        return DEFAULT_SEARCH_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise bad_request(f"'limit' must be an integer from 1 to {MAX_SEARCH_LIMIT}, got {limit!r}.", pointer="/limit")
    return limit


def _filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    filters = body.get("filters") or []
    if not isinstance(filters, list):
        raise bad_request("'filters' must be an array of {field, operator, value}.", pointer="/filters")
    return [_checked_filter(f, f"/filters/{index}") for index, f in enumerate(filters)]


def _checked_filter(candidate: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(candidate, dict):
        raise bad_request("A filter must be an object {field, operator, value}.", pointer=pointer)
    field, operator, value = candidate.get("field"), candidate.get("operator"), candidate.get("value")
    if field not in FILTER_FIELDS:
        raise bad_request(
            f"'field' must be one of {', '.join(FILTER_FIELDS)}, got {field!r}.", pointer=pointer + "/field"
        )
    if operator not in FILTER_OPERATORS:
        raise bad_request(
            f"'operator' must be one of {', '.join(FILTER_OPERATORS)}, got {operator!r}.", pointer=pointer + "/operator"
        )
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad_request("'value' must be a non-empty array of strings.", pointer=pointer + "/value")
    if (field == "PERIOD") != (operator == "BETWEEN"):
        raise bad_request("BETWEEN is valid only with the PERIOD field, and PERIOD only with BETWEEN.", pointer=pointer)
    if field == "PERIOD":
        times = [_timestamp(v) for v in value]
        if len(times) != 2 or None in times:
            raise bad_request(
                "PERIOD BETWEEN takes exactly two ISO-8601 timestamps (start, end).", pointer=pointer + "/value"
            )
        if times[0] > times[1]:  # type: ignore[operator]
            raise bad_request("The PERIOD's start is after its end.", pointer=pointer + "/value")
        return {"field": field, "operator": operator, "value": times}
    if field == "STATUS":
        unknown = [v for v in value if v not in RUN_STATUSES]
        if unknown:
            raise bad_request(
                f"Unknown run status {', '.join(map(repr, unknown))}; statuses: {', '.join(RUN_STATUSES)}.",
                pointer=pointer + "/value",
            )
    return {"field": field, "operator": operator, "value": value}


def _timestamp(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _matches(run: TaskRun, checked: dict[str, Any]) -> bool:
    field, operator, value = checked["field"], checked["operator"], checked["value"]
    if field == "PERIOD":
        # Qlik does not say which time a period tests: a run belongs to it when it started within it (every run
        # has a start; a running one has no end yet). Compared at the second the wire shows, so a startTime read
        # from a run, passed back as a bound, includes that run.
        return bool(value[0] <= math.floor(run.start) <= value[1])
    actual = {"ID": run.run_id, "STATUS": status(run), "SUB_STATUS": None}[field]
    return (actual in value) == (operator == "IN")
