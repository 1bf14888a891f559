"""Preview checks that name what a destructive call touches (issue 16, item 5): the datasets a recreate or a
TRUNCATE reload empties and their health, the tasks a prepare with allow_recreate recreates, whether a stopped
task runs and which tasks downstream of it stop receiving data.

Each check returns the structured findings (counts and ids, shown under the preview's `check`) plus the
sentences a person must read before saying yes, under the keys `current_state` and `consequence`: the preview
adds those to its own texts, so they reach the confirmation message and the elicitation question alike. Names
in those sentences are tenant text (`tenant(...)`). Lists are capped: a preview is read on every confirmation.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import anyio

from qdi_mcp.api import DatasetState, QdiApiError, TaskRuntimeState
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import ToolContext, preview_check
from qdi_mcp.tools.lineage import Lineage, project_lineage
from qdi_mcp.tools.project_design import ProjectFileError

logger = logging.getLogger(__name__)

SHOWN_NAMES = 5  # in a sentence
SHOWN_ITEMS = 10  # in the structured findings
MAX_CONCURRENT_READS = 8
RUNNING_STATES = frozenset({"STARTING", "RUNNING"})
# A load that failed on the source side: a value that does not convert, a source row, table or database that
# is missing or wrong. A recreate drops and rebuilds the target tables and changes none of that, so the preview
# says so. Matched on Qlik's message, the only place the cause is written; a miss only loses the note.
SOURCE_CAUSE = re.compile(
    r"\bsource (?:data|rows?|tables?|database|columns?|records?)\b|cannot be converted|conversion (?:error|failed)",
    re.IGNORECASE,
)
# How the tenant says a task needs its tables recreated: its run readiness (NOT_RUNNABLE) explains why, and after
# a prepare refused with RECREATE_REQUIRED the readiness repeats that prepare's error.
RECREATE_WORDING = re.compile(r"recreat", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- recreate


@preview_check("recreate_impact")
async def recreate_impact(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    datasets = await ctx.client.get_task_datasets_state(args["project_id"], args["task_id"])
    source_failures = [d for d in datasets if SOURCE_CAUSE.search(_failure_message(d) or "")]
    checked: dict[str, Any] = {"dataset_count": len(datasets)}
    consequence = f"Recreated: {_datasets_by_health(datasets)}."
    if source_failures:
        ids = [d.dataset_id for d in source_failures if d.dataset_id]
        checked["source_data_failures"] = ids[:SHOWN_ITEMS]
        first = f" (the first {SHOWN_ITEMS} of {len(ids)})" if len(ids) > SHOWN_ITEMS else ""
        consequence += (
            f" Note: {_names([d.name or d.dataset_id for d in source_failures])} failed on source data, which a "
            "recreate does not fix: fix the source, then call qdi_request_task_reload with dataset_ids "
            f"{tenant(json.dumps(ids[:SHOWN_ITEMS]))}{first}."
        )
    return checked | {"consequence": consequence}


def _failure_message(dataset: DatasetState) -> str | None:
    for part in (dataset.full_load, dataset.cdc_status, dataset.streaming, dataset.last_batch_of_changes):
        if part is not None and part.state == "ERROR" and part.message:
            return part.message
    return None


def _datasets_by_health(datasets: Sequence[DatasetState]) -> str:
    if not datasets:
        return "no datasets"
    groups: dict[str, list[str]] = {}
    for dataset in datasets:
        groups.setdefault(dataset.data_readiness or "UNKNOWN", []).append(dataset.name or dataset.dataset_id or "?")
    # Troubled datasets first: they are what a person weighs before recreating.
    order = sorted(groups, key=lambda readiness: (readiness == "READY", readiness))
    by_health = "; ".join(f"{readiness}: {_names(groups[readiness])}" for readiness in order)
    return f"{_count(datasets, 'dataset')}, {by_health}"


# ---------------------------------------------------------------------------------------------- prepare, recreating


@preview_check("recreate_candidates")
async def recreate_candidates(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """The tasks the tenant says need their tables recreated, from their run readiness.

    Decision: the preview does not run a validate. A validate is an asynchronous action of its own (seconds to
    minutes on a tenant, Tier-2 quota) and reports the same fact only as free text; a person waiting for a
    question should not wait for it. The runtime state read here is what Qlik keeps for each task, and a prepare
    that was refused with RECREATE_REQUIRED leaves its reason there too. A task whose design changed since its
    last prepare without either showing it is not named: the sentence says where to confirm
    (qdi_validate_project_and_wait or qdi_validate_task_and_wait).
    """
    project_id = args["project_id"]
    task_ids = [args["task_id"]] if "task_id" in args else args.get("selected_task_ids") or None
    if task_ids is None:
        task_ids = [task.id for task in await ctx.client.list_tasks(project_id) if task.id]
    states = await _task_states(ctx, project_id, task_ids)
    needing = [
        (task_id, state.name or task_id)
        for task_id, state in zip(task_ids, states, strict=True)
        if state.run_readiness is not None and RECREATE_WORDING.search(state.run_readiness.message or "")
    ]
    validate = "qdi_validate_task_and_wait" if "task_id" in args else "qdi_validate_project_and_wait"
    if needing:
        consequence = f"Run readiness says these need recreation: {_names([name for _, name in needing])}."
    else:
        consequence = f"No checked task's run readiness asks for recreation ({validate} tells for sure)."
    found = _capped("recreate_needed", [task_id for task_id, _ in needing])
    return {"checked_tasks": len(task_ids), **found, "consequence": consequence}


async def _task_states(ctx: ToolContext, project_id: str, task_ids: Sequence[str]) -> list[TaskRuntimeState]:
    states: list[TaskRuntimeState | None] = [None] * len(task_ids)
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_READS)

    async def read(index: int, task_id: str) -> None:
        async with limiter:
            states[index] = await ctx.client.get_task_state(project_id, task_id)

    try:
        async with anyio.create_task_group() as group:
            for index, task_id in enumerate(task_ids):
                group.start_soon(read, index, task_id)
    except BaseExceptionGroup as group_error:
        # The first failed read stands for the preview (its code and status reach the agent), not a group.
        first: BaseException = group_error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [state for state in states if state is not None]


# ---------------------------------------------------------------------------------------------- stop


@preview_check("stop_impact")
async def stop_impact(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    project_id, task_id = args["project_id"], args["task_id"]
    state = await ctx.client.get_task_state(project_id, task_id)
    run = state.last_run
    running = run is not None and run.state in RUNNING_STATES
    latency = run.cdc_status.latency if run is not None and run.cdc_status is not None else None
    current = "running" if running else "not running: there is nothing to stop"
    if running and latency:
        current += f", CDC latency {latency}"
    lineage = await _lineage(ctx, project_id)
    checked: dict[str, Any] = {"running": running}
    if latency:
        checked["cdc_latency"] = latency
    if lineage is None:
        checked["downstream"] = None
        consequence = "The tasks downstream of it are not known (the project's design could not be read)."
    else:
        downstream = lineage.downstream_of(task_id)
        checked |= _capped("downstream", downstream)
        consequence = (
            f"Downstream tasks that stop receiving new data: {_names([lineage.name(t) for t in downstream])}."
            if downstream
            else "No task of the project reads from it."
        )
    return checked | {"current_state": current, "consequence": consequence}


# ---------------------------------------------------------------------------------------------- TRUNCATE reload


@preview_check("truncate_impact")
async def truncate_impact(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    project_id, task_id = args["project_id"], args["task_id"]
    datasets = await ctx.client.get_task_datasets_state(project_id, task_id)
    wanted = args.get("dataset_ids") or None
    if wanted is not None:
        by_id = {d.dataset_id: d for d in datasets if d.dataset_id}
        unknown = [dataset_id for dataset_id in wanted if dataset_id not in by_id]
        if unknown:
            raise ToolFailure(
                "invalid_arguments",
                f"dataset_ids names {len(unknown)} datasets the task does not have: {unknown[:SHOWN_ITEMS]}. "
                "Nothing was reloaded.",
                hint="call qdi_get_task_datasets_state for the task's dataset ids",
                field="dataset_ids",
            )
        datasets = [by_id[dataset_id] for dataset_id in dict.fromkeys(wanted)]
    checked: dict[str, Any] = {"dataset_count": len(datasets)}
    consequence = f"Emptied: {_count(datasets, 'dataset')} ({_names([d.name or d.dataset_id for d in datasets])})."
    lineage = await _lineage(ctx, project_id)
    if lineage is None:
        checked["readers"] = None
        consequence += " The tasks that read them are not known (the project's design could not be read)."
    else:
        touched = None if wanted is None else [key for d in datasets for key in (d.dataset_id, d.name) if key]
        readers = lineage.readers_of(task_id, touched)
        checked |= _capped("readers", readers)
        consequence += (
            f" Tasks that read them: {_names([lineage.name(t) for t in readers])}."
            if readers
            else " No task of the project reads them."
        )
    return checked | {"consequence": consequence}


# ---------------------------------------------------------------------------------------------- shared


async def _lineage(ctx: ToolContext, project_id: str) -> Lineage | None:
    """The project's lineage, or None when its design cannot be read: the preview then says what it does not
    know instead of refusing a stop or a reload a person may need now."""
    try:
        return await project_lineage(ctx.client, project_id)
    except (QdiApiError, ProjectFileError) as error:
        logger.warning("lineage of project %s not read for a preview: %s", project_id, type(error).__name__)
        return None


def _capped(key: str, task_ids: Sequence[str]) -> dict[str, Any]:
    """Task ids (their names are in the sentences), capped, with the full count when there are more."""
    found: dict[str, Any] = {key: list(task_ids[:SHOWN_ITEMS])}
    if len(task_ids) > SHOWN_ITEMS:
        found[f"{key}_count"] = len(task_ids)
    return found


def _count(items: Sequence[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _names(names: Sequence[str | None]) -> str:
    """Up to SHOWN_NAMES names, each marked as tenant text, then how many more."""
    shown = ", ".join(tenant(name or "?") for name in names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown
