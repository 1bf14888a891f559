"""Handlers of the `runtime` toolset: start, stop, reload, the runtime state of tasks and datasets, and run history."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from qdi_mcp.api import QdiApiError, TaskRuntimeState
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, dump, handler
from qdi_mcp.tools.waits import cdc_figures, cdc_text

logger = logging.getLogger(__name__)

READINESS_VALUES = ("READY", "NOT_READY", "ERROR")


@handler("qdi_start_task")
async def start_task(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    await ctx.client.start_task(
        args["project_id"],
        args["task_id"],
        option=args.get("option"),
        process_changes_from=args.get("process_changes_from"),
    )
    next_step = f"call {ctx.tool.resume_with} to follow the run (or use {ctx.tool.wrapped_by} next time)"
    result = {
        "status": "start_requested",
        "project_id": args["project_id"],
        "task_id": args["task_id"],
        "next_step": next_step,
    }
    return ToolResult(result, f"Start requested for task {args['task_id']}. Next: {next_step}.")


@handler("qdi_stop_task")
async def stop_task(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id = args["project_id"], args["task_id"]
    await ctx.client.stop_task(project_id, task_id)
    next_step = f"call {ctx.tool.resume_with} until the state is CANCELED"
    result: dict[str, Any] = {
        "status": "stop_requested",
        "project_id": project_id,
        "task_id": task_id,
        "next_step": next_step,
    }
    # A CDC task's figures as the stop went out (what it had applied, how far behind it was). The stop was sent:
    # a read that fails now only loses the figures, never turns the stop into a failure to be repeated.
    try:
        cdc = cdc_figures(await ctx.client.get_task_state(project_id, task_id))
    except QdiApiError as exc:
        logger.warning("state of task %s not read after its stop: %s", task_id, type(exc).__name__)
        cdc = None
    if cdc:
        result["cdc"] = cdc
    return ToolResult(result, f"Stop requested for task {task_id}.{cdc_text(cdc)} Next: {next_step}.")


@handler("qdi_request_task_reload")
async def request_task_reload(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    dataset_ids = args.get("dataset_ids") or None
    reload = await ctx.client.request_task_reload(
        args["project_id"], args["task_id"], reload_strategy=args.get("reload_strategy"), dataset_ids=dataset_ids
    )
    which = f"{len(dataset_ids)} datasets" if dataset_ids else "all datasets"
    next_step = "the reload happens on the task's next run: start the task (qdi_start_task_and_wait) to apply it now"
    result = {
        "success": bool(reload.success),
        "project_id": args["project_id"],
        "task_id": args["task_id"],
        "next_step": next_step,
    }
    return ToolResult(result, f"Reload of {which} registered for task {args['task_id']}. Next: {next_step}.")


def task_state_dict(project_id: str, task_id: str, state: TaskRuntimeState) -> dict[str, Any]:
    data = dump(state)
    last_run = data.get("last_run")
    readiness = data.get("run_readiness") or {}
    return {
        "project_id": project_id,
        "task_id": task_id,
        "name": data.get("name"),
        "type": data.get("type"),
        "state": (last_run or {}).get("state"),
        "readiness": readiness.get("state"),
        "readiness_message": readiness.get("message"),
        "last_run": last_run,
    }


@handler("qdi_get_task_state")
async def get_task_state(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    state = await ctx.client.get_task_state(args["project_id"], args["task_id"])
    result = task_state_dict(args["project_id"], args["task_id"], state)
    general = (result["last_run"] or {}).get("general") or {}
    in_error = general.get("datasets_in_error_count")
    errors = f", {in_error:g} datasets in error" if in_error else ""
    run = result["state"] or "never run"
    return ToolResult(result, f"Task {tenant(result['name'])}: {run}, readiness {result['readiness']}{errors}.")


def summarise_datasets(datasets: list[dict[str, Any]]) -> dict[str, Any]:
    readiness = Counter(d.get("data_readiness") or "NOT_READY" for d in datasets)
    in_error = [
        {
            "dataset_id": d.get("dataset_id"),
            "name": d.get("name"),
            "message": _error_message(d),
        }
        for d in datasets
        if d.get("data_readiness") == "ERROR"
    ]
    return {
        "dataset_count": len(datasets),
        "by_readiness": {key: readiness.get(key, 0) for key in READINESS_VALUES},
        "in_error": in_error,
    }


def _error_message(dataset: dict[str, Any]) -> str | None:
    for part in ("full_load", "cdc_status", "streaming", "last_batch_of_changes"):
        section = dataset.get(part) or {}
        if section.get("state") == "ERROR" and section.get("message"):
            return section["message"]
    return None


@handler("qdi_get_task_datasets_state")
async def get_task_datasets_state(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    datasets = [dump(d) for d in await ctx.client.get_task_datasets_state(args["project_id"], args["task_id"])]
    result = {"project_id": args["project_id"], "task_id": args["task_id"]} | summarise_datasets(datasets)
    if args.get("detail"):
        result["datasets"] = datasets
    counts = result["by_readiness"]
    errors = "; in error: " + ", ".join(tenant(e["name"]) for e in result["in_error"]) if result["in_error"] else ""
    return ToolResult(
        result,
        f"{len(datasets)} datasets: {counts['READY']} ready, {counts['NOT_READY']} not ready, "
        f"{counts['ERROR']} in error{errors}.",
    )


# --- run history ---------------------------------------------------------------------------------------

# The open ends of a PERIOD filter when only one of since/until is given: Qlik's BETWEEN takes two times.
_EARLIEST, _LATEST = "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"


def _iso_argument(args: dict[str, Any], name: str) -> datetime | None:
    text = args.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ToolFailure(
            "invalid_arguments",
            f"Invalid arguments for qdi_list_task_runs: {name} {text!r} is not an ISO-8601 time.",
            hint=f"pass {name} like 2025-03-01T00:00:00Z",
            field=name,
        ) from None
    # a time without an offset is read as UTC, the zone Qlik writes every run time in
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run_filters(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The agent's status/since/until as Qlik's search filters; bad times fail here, before any request."""
    since, until = _iso_argument(args, "since"), _iso_argument(args, "until")
    if since is not None and until is not None and since > until:
        raise ToolFailure(
            "invalid_arguments",
            f"Invalid arguments for qdi_list_task_runs: since ({args['since']}) is after until ({args['until']}).",
            hint="swap them, or give only one of them",
            field="since",
        )
    filters: list[dict[str, Any]] = []
    if args.get("status"):
        filters.append({"field": "STATUS", "operator": "IN", "value": list(args["status"])})
    if since is not None or until is not None:
        bounds = [_qlik_time(since) if since else _EARLIEST, _qlik_time(until) if until else _LATEST]
        filters.append({"field": "PERIOD", "operator": "BETWEEN", "value": bounds})
    return filters


def _qlik_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@handler("qdi_list_task_runs")
async def list_task_runs(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    filters = run_filters(args)
    limit = args.get("limit", ctx.tool.input_schema["properties"]["limit"]["default"])
    page = await ctx.client.list_task_runs(
        args["project_id"], args["task_id"], limit=limit, last_id=args.get("cursor"), filters=filters or None
    )
    runs = [dump(run) for run in page.runs]
    next_cursor = page.last_id if page.next_page_exists and runs else None
    result = {"project_id": args["project_id"], "task_id": args["task_id"], "runs": runs, "next_cursor": next_cursor}
    counts = Counter(str(run.get("status")) for run in runs)
    by_status = ", ".join(f"{count} {status}" for status, count in counts.most_common())
    more = "; older runs: pass next_cursor as cursor" if next_cursor else ""
    return ToolResult(result, f"{len(runs)} runs, newest first{': ' + by_status if runs else ''}{more}.")


@handler("qdi_get_task_run")
async def get_task_run(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id, run_id = args["project_id"], args["task_id"], args["run_id"]
    data = dump(await ctx.client.get_task_run(project_id, task_id, run_id))
    run = data.get("last_run")
    state = (run or {}).get("state")
    result = {
        "project_id": project_id,
        "task_id": task_id,
        "run_id": run_id,
        "name": data.get("name"),
        "type": data.get("type"),
        "state": state,
        "run": run,
    }
    errors = len((run or {}).get("errors") or [])
    return ToolResult(result, f"Run {run_id!r}: {state or 'state unknown'}, {errors} errors.")


@handler("qdi_get_task_run_datasets")
async def get_task_run_datasets(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id, task_id, run_id = args["project_id"], args["task_id"], args["run_id"]
    datasets = [dump(d) for d in await ctx.client.get_task_run_datasets(project_id, task_id, run_id)]
    result = {"project_id": project_id, "task_id": task_id, "run_id": run_id} | summarise_datasets(datasets)
    if args.get("detail"):
        result["datasets"] = datasets
    counts = result["by_readiness"]
    return ToolResult(
        result,
        f"Run {run_id!r}: {len(datasets)} datasets, {counts['READY']} ready, {counts['NOT_READY']} not ready, "
        f"{counts['ERROR']} in error" + (" (see in_error for names and messages)." if counts["ERROR"] else "."),
    )
