"""`qdi_promote_project`: one project's design into another (DEV to PROD) in one confirmed call, keeping the
target's binding values.

The steps, each reported with its outcome (in the result, as MCP progress and as an audit line):

    backup    the target exported to the work folder's backups (tools.backups), to import back if needed
    export    the source's design, in memory: mode ALL writes every attribute, so the target's own task
              defaults cannot change what arrives; bindings are not taken from the source (they are DEV's)
    check     Qlik's validate-project-definitions on that zip: nothing is imported that Qlik would refuse
    import    import-async into the target, waited for
    bindings  the target's value put back for every variable it had, then the call's `bindings`: Qlik's import
              keeps values only for the variables the new design still uses and leaves new ones unset, and an
              agent must not have to diff bindings by hand (issue 16: 21 PROD variables lost or emptied)
    validate  the target, waited for
    prepare   the target (allow_recreate only when the call asked for it), waited for
    start     the target's tasks, upstream first (only with start_tasks)

A failed step stops the promotion: the failure names what was done, what was not, and the call that restores
the backup. The preview (check `promotion`) is the diff, the binding impact, the target's running tasks and, with
allow_recreate, the tasks whose tables may be dropped; it refuses a promotion of a project into itself before
any request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from qdi_mcp.api import QdiApiError
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.backups import Backup, take_backup
from qdi_mcp.tools.base import ProgressFn, ToolContext, ToolResult, handler, preview_check
from qdi_mcp.tools.changes import compare
from qdi_mcp.tools.errors import failure_from_api_error
from qdi_mcp.tools.imports import checked_definitions
from qdi_mcp.tools.project_design import ProjectDesign, ProjectFileError, read_project_zip
from qdi_mcp.tools.project_diff import ProjectDiff, diff_designs
from qdi_mcp.tools.projects import refuse_masked_values
from qdi_mcp.tools.spaces import SpaceNames, binding_reference, check_connection_references
from qdi_mcp.tools.waits import ACTIVE_RUN_STATES, timeout_of, wait_for_action

STEPS = ("backup", "export", "check", "import", "bindings", "validate", "prepare", "start")
# The steps after which the target's design has changed: from then on, undoing means importing the backup.
CHANGES_TARGET = frozenset(STEPS[STEPS.index("import") :])
EXPORT_MODE = "ALL"
MAX_CANDIDATES = 5
MAX_NAMES = 20
MAX_CONCURRENT_READS = 8
# Pipeline order for start_tasks: each stage reads what the stage before it wrote.
START_ORDER = ("LANDING", "REPLICATION", "STORAGE", "QVD_STORAGE", "TRANSFORM", "DATAMART")


def refuse_same_project(args: dict[str, Any]) -> None:
    if args["source_project_id"] == args["target_project_id"]:
        raise ToolFailure(
            "invalid_arguments",
            "source_project_id and target_project_id are the same project: a project cannot be promoted into "
            "itself. Nothing was done.",
            hint="pass the project to copy from as source_project_id and the one to overwrite as target_project_id "
            "(qdi_list_projects shows both)",
            field="target_project_id",
        )


# ---------------------------------------------------------------------------------------------- the preview


@preview_check("promotion")
async def check_promotion(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """What a person confirms: the diff, what happens to the target's bindings, what runs in the target now, and
    with allow_recreate the tasks whose tables may be dropped."""
    refuse_same_project(args)
    source_id, target_id = args["source_project_id"], args["target_project_id"]
    given = dict(args.get("bindings") or {})
    # The comparison qdi_diff_project and the import preview make (tools.changes): one diff for all of them.
    comparison = await compare(ctx, target_id, source_project_id=source_id)
    source, target_values = comparison.incoming, comparison.target_bindings
    await check_given_bindings(ctx, given, source.variables() | set(target_values))
    diff = design_diff(comparison.current, source)
    new = [
        name
        for name in comparison.binding_impact().need_value
        if name not in given and _is_empty(source.declared_variables.get(name))
    ]
    project = await ctx.client.get_project(target_id)
    preview: dict[str, Any] = {
        "diff": diff.summary,
        "tasks": _task_changes(diff),
        "bindings": {
            "kept": len(target_values),
            "set": len(given),
            "needs_value": await needs_value(ctx, new, project.space_id, source_id),
            # the others keep Qlik's default (empty); the result names them
            "unset_count": sum(1 for name in new if not _is_connection_variable(name)),
        },
        "running_tasks": await running_tasks(ctx, target_id),
        # Said only when it is not so: the consequence text promises a backup first.
        **({} if ctx.backups_kept is not None else {"backup": "off (QDI_MCP_BACKUP=off): none will be taken"}),
    }
    if args.get("allow_recreate"):
        preview["recreate"] = _capped(recreate_candidates(diff))
    return preview


async def _design(ctx: ToolContext, project_id: str) -> ProjectDesign:
    return _read(await ctx.client.export_project(project_id, mode=EXPORT_MODE), project_id)


def design_diff(target: ProjectDesign, source: ProjectDesign) -> ProjectDiff:
    """What the import changes in the target's design (both exported in the same mode). Bindings are left out
    (both sides empty): the promotion keeps the target's values, and the preview and the result say what happens
    to them in their own terms (qdi_diff_project compares DEV's values with PROD's, which a promotion does not
    copy)."""
    return diff_designs(target, source, current_bindings={}, incoming_bindings={})


def _read(data: bytes, project_id: str) -> ProjectDesign:
    try:
        return read_project_zip(data)
    except ProjectFileError as exc:
        raise ToolFailure(
            "bad_response",
            f"Qlik's export of project {project_id} cannot be read ({exc.file}: {exc.detail}); nothing was changed.",
            hint="retry; if it persists, compare the projects with qdi_diff_project and report it",
            retryable=True,
        ) from None


def _task_changes(diff: ProjectDiff) -> dict[str, Any]:
    return {
        "added": _capped([task.name for task in diff.tasks_added]),
        "removed": _capped([task.name for task in diff.tasks_removed]),
        "changed": [{"name": c.name, "changed": c.changed} for c in diff.tasks_changed[:MAX_NAMES]],
    }


def recreate_candidates(diff: ProjectDiff) -> list[str]:
    """Tasks whose datasets the promotion changes: preparing them with allow_recreate may drop their tables."""
    return [change.name for change in diff.tasks_changed if "datasets" in change.changed]


async def running_tasks(ctx: ToolContext, project_id: str) -> list[str]:
    """The names of the project's tasks that run now (an import refuses to replace a running task)."""
    tasks = [(task.id, task.name or task.id) for task in await ctx.client.list_tasks(project_id) if task.id]
    running: list[str] = []
    limiter = anyio.CapacityLimiter(MAX_CONCURRENT_READS)

    async def read(task_id: str, name: str) -> None:
        async with limiter:
            state = await ctx.client.get_task_state(project_id, task_id)
        if state.last_run is not None and state.last_run.state in ACTIVE_RUN_STATES:
            running.append(name)

    async with anyio.create_task_group() as group:
        for task_id, name in tasks:
            group.start_soon(read, task_id, name)
    return sorted(running)


async def needs_value(
    ctx: ToolContext, variables: list[str], space_id: str | None, source_id: str
) -> dict[str, list[str]]:
    """Each new connection variable without a value -> the binding references of the target space's connections
    that could fill it (of the source's connection type when the source names one). Only connections: Qlik
    cannot validate or run a task whose connection is unset, while other new variables work with their default.
    A map, not a list of objects: results show it twice, and an agent reads it the same."""
    variables = [name for name in variables if _is_connection_variable(name)]
    if not variables:
        return {}
    spaces = SpaceNames(ctx.client)
    page = await ctx.client.list_data_connections(limit=100)
    names = await spaces.all()
    types = {binding_reference(names.get(c.space_id or ""), c.name): c.type for c in page.connections}
    in_target = [
        (binding_reference(names.get(c.space_id or ""), c.name), c.type)
        for c in page.connections
        if c.space_id == space_id and c.name
    ]
    source_values = (await ctx.client.get_bindings(source_id)).variables
    shown: dict[str, list[str]] = {}
    for name in variables[:MAX_NAMES]:
        wanted = types.get(source_values.get(name))
        same = [reference for reference, kind in in_target if wanted and kind == wanted]
        shown[name] = [r for r in (same or [reference for reference, _ in in_target]) if r][:MAX_CANDIDATES]
    return shown


async def check_given_bindings(ctx: ToolContext, given: dict[str, Any], known: set[str]) -> None:
    """The call's `bindings` name variables of the source's design or the target, hold real values (not the
    redaction mask), and refer to connections the tenant has; otherwise nothing is done."""
    unknown = sorted(set(given) - known)
    if unknown:
        raise ToolFailure(
            "invalid_arguments",
            f"bindings names {len(unknown)} variable(s) that neither the source's design nor the target has "
            f"(e.g. {unknown[0]!r}). Nothing was done.",
            hint="use the variable names the preview lists under needs_value, or qdi_get_bindings of the target",
            field="bindings",
        )
    refuse_masked_values(given, argument="bindings")
    try:
        await check_connection_references(ctx.client, given)
    except ToolFailure as failure:
        failure.field = "bindings"
        raise


# ---------------------------------------------------------------------------------------------- the promotion


class StepFailed(Exception):
    """A step ended without doing its job (an action FAILED, a wait timed out, a check found errors)."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@dataclass
class Promotion:
    ctx: ToolContext
    args: dict[str, Any]
    started_at: float
    steps: list[dict[str, Any]] = field(default_factory=lambda: [_step(name) for name in STEPS])
    backup: Backup | None = None
    names: dict[str, str] = field(default_factory=dict)
    _last_progress: float = -1.0

    @property
    def source_id(self) -> str:
        return str(self.args["source_project_id"])

    @property
    def target_id(self) -> str:
        return str(self.args["target_project_id"])

    def remaining(self) -> float:
        """Seconds left of the call's wait bound: every wait of the promotion shares it."""
        elapsed = self.ctx.client.clock.monotonic() - self.started_at
        return max(1.0, timeout_of(self.args) - elapsed)

    async def run(self, name: str, work: Callable[[], Awaitable[str | None]]) -> None:
        index = STEPS.index(name)
        outer = self.ctx.progress
        self.ctx.progress = self._within(outer, index, name)
        try:
            await self._progress(outer, float(index), f"{name}: started")
            try:
                detail = await work()
            except StepFailed as failed:
                raise self._failed(name, failed.reason, failed.hint) from None
            except ToolFailure as failure:
                raise self._failed(name, failure.message, failure.hint, failure) from None
            except QdiApiError as exc:
                cause = failure_from_api_error(exc, self.ctx.tool, self.args)
                raise self._failed(name, cause.message, cause.hint, cause) from None
            self._mark(name, "done", detail)
            await self._progress(outer, float(index + 1), f"{name}: done")
        finally:
            self.ctx.progress = outer

    def skip(self, name: str, detail: str) -> None:
        self._mark(name, "skipped", detail)

    def _mark(self, name: str, outcome: str, detail: str | None) -> None:
        self.steps[STEPS.index(name)] = {"step": name, "outcome": outcome, "detail": detail}
        self.ctx.record_step(name, outcome, detail)

    def _within(self, outer: ProgressFn, index: int, name: str) -> ProgressFn:
        """A wait's own progress (its own 0..n) shown inside this step's share of the whole promotion."""

        async def report(value: float, total: float | None, message: str | None) -> None:
            share = value / total if total else value / (value + 1.0)
            await self._progress(outer, index + min(max(share, 0.0), 0.95), f"{name}: {message}")

        return report

    async def _progress(self, outer: ProgressFn, value: float, message: str) -> None:
        # MCP wants progress to grow with every notification, across the waits of every step.
        value = max(value, self._last_progress + 1e-3)
        self._last_progress = value
        await outer(value, float(len(STEPS)), message)

    def _failed(self, name: str, reason: str, hint: str | None, cause: ToolFailure | None = None) -> ToolFailure:
        self._mark(name, "failed", reason)
        done = [s["step"] for s in self.steps if s["outcome"] == "done"]
        not_run = [s["step"] for s in self.steps if s["outcome"] == "not_run"]
        changed = any(step in CHANGES_TARGET for step in done) or name in CHANGES_TARGET
        message = (
            f"The promotion of {tenant(self.names.get(self.source_id, self.source_id))} into "
            f"{tenant(self.names.get(self.target_id, self.target_id))} stopped at step {name}: {reason} "
            f"Done: {', '.join(done) or 'nothing'}. Not done: {', '.join(not_run) or 'nothing'}."
        )
        if not changed:
            message += " The target was not changed."
        return ToolFailure(
            "promotion_failed",
            message,
            hint=self._restore_hint(hint, changed),
            http_status=cause.http_status if cause else None,
            trace_id=cause.trace_id if cause else None,
        )

    def _restore_hint(self, hint: str | None, changed: bool) -> str:
        parts = [hint.rstrip(". ")] if hint else []
        if self.backup is not None and changed:
            restore = self.backup.restore
            parts.append(
                f"to put the target back as it was, call {restore['tool']} with "
                f"{json.dumps(restore['arguments'], ensure_ascii=False)}"
            )
        elif self.backup is not None:
            parts.append(f"the backup of the target is {self.backup.path}")
        elif changed:
            parts.append("no backup was taken (QDI_MCP_BACKUP=off): fix the target by hand")
        return "; ".join(parts) or "see the steps in the message"


@handler("qdi_promote_project")
async def promote_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    refuse_same_project(args)
    promotion = Promotion(ctx, args, started_at=ctx.client.clock.monotonic())
    source_id, target_id = promotion.source_id, promotion.target_id
    given: dict[str, Any] = dict(args.get("bindings") or {})
    for project_id in (source_id, target_id):
        promotion.names[project_id] = (await ctx.client.get_project(project_id)).name or project_id
    state: dict[str, Any] = {}

    async def backup() -> str:
        promotion.backup = await take_backup(ctx, target_id)
        # The target's values as they are before anything changes: what the bindings step puts back.
        state["before"] = dict((await ctx.client.get_bindings(target_id)).variables)
        return promotion.backup.path if promotion.backup else "backups are off (QDI_MCP_BACKUP=off)"

    async def export() -> str:
        state["zip"] = data = await ctx.client.export_project(source_id, mode=EXPORT_MODE)
        design = _read(data, source_id)
        await check_given_bindings(ctx, given, design.variables() | set(state["before"]))
        state["diff"] = design_diff(await _target_design(ctx, promotion.backup, target_id), design).summary
        return f"{len(design.tasks)} tasks, {len(data)} bytes"

    async def check() -> str:
        checked = await checked_definitions(ctx, state["zip"], filename=f"{source_id}.zip")
        counts = f"{checked['error_count']} errors, {checked['warning_count']} warnings"
        if not checked["valid"]:
            first = next(r for r in checked["reports"] if r.get("level") == "ERROR")
            raise StepFailed(
                f"Qlik's check of the source's files found {counts}; first: {first.get('path')!r}: "
                f"{first.get('reason')!r}.",
                "fix the source project (qdi_validate_project_and_wait shows its problems), then promote again",
            )
        return counts

    async def import_() -> str:
        ref = await ctx.client.import_project_async(target_id, state["zip"], filename=f"{source_id}.zip")
        await _waited(ctx, ref.action_id, promotion.remaining(), "import")
        return f"action {ref.action_id}"

    async def bindings() -> str:
        before, after = state["before"], dict((await ctx.client.get_bindings(target_id)).variables)
        final = {**after, **before, **given}
        if final != after:
            await ctx.client.update_bindings(target_id, final)
        new = sorted(name for name in after if name not in before and name not in given and _is_empty(after[name]))
        target = await ctx.client.get_project(target_id)
        state["needs_value"] = await needs_value(ctx, new, target.space_id, source_id)
        state["unset"] = [name for name in new if not _is_connection_variable(name)]
        return f"{len(before)} kept, {len(given)} set, {len(new)} need a value"

    async def validate() -> str:
        ref = await ctx.client.validate_project(target_id)
        await _waited(ctx, ref.action_id, promotion.remaining(), "validation")
        return f"action {ref.action_id}"

    async def prepare() -> str:
        allow = bool(args.get("allow_recreate", False))
        ref = await ctx.client.prepare_project(target_id, allow_recreate=allow)
        await _waited(ctx, ref.action_id, promotion.remaining(), "prepare", allow_recreate=allow)
        return f"action {ref.action_id}" + (", allow_recreate" if allow else "")

    async def start() -> str:
        tasks = sorted(
            (task for task in await ctx.client.list_tasks(target_id) if task.id),
            key=lambda task: START_ORDER.index(task.type) if task.type in START_ORDER else len(START_ORDER),
        )
        for task in tasks:
            await ctx.client.start_task(target_id, str(task.id))
        return f"{len(tasks)} tasks asked to start"

    await promotion.run("backup", backup)
    for name, work in (
        ("export", export),
        ("check", check),
        ("import", import_),
        ("bindings", bindings),
        ("validate", validate),
        ("prepare", prepare),
    ):
        await promotion.run(name, work)
    if args.get("start_tasks"):
        await promotion.run("start", start)
    else:
        promotion.skip("start", "not asked")
    ctx.started = None
    return _result(promotion, state, given)


async def _target_design(ctx: ToolContext, backup: Backup | None, target_id: str) -> ProjectDesign:
    """The target's design before the import: the backup just written holds it (no second export)."""
    if backup is None:
        return await _design(ctx, target_id)
    return _read(ctx.read_import(backup.path, argument="target_project_id"), target_id)


async def _waited(
    ctx: ToolContext, action_id: str, timeout: float, kind: str, *, allow_recreate: bool = False
) -> dict[str, Any]:
    """Wait for an action this promotion started; anything but COMPLETED in time fails the step."""
    waited = (await wait_for_action(ctx, action_id, timeout, kind=kind, started=True)).structured
    if waited["timed_out"]:
        raise StepFailed(
            f"the {kind} (action {action_id}) was still {waited['state']} when the wait bound ran out.",
            f"wait for it with qdi_wait_for_action with action_id {action_id!r}; do not promote again",
        )
    if waited["state"] != "COMPLETED":
        failed = next((t for t in waited["tasks"] if t["state"] == "FAILED"), None)
        why = (
            f"task {tenant(failed['name'])} failed: {tenant(failed['error_message'] or failed['error_code'])}."
            if failed
            else f"{tenant((waited['error'] or {}).get('message') or 'no message')}."
        )
        hint = waited["hint"]
        if kind == "prepare" and not allow_recreate and "recreat" in why.lower():
            hint = "the tables must be recreated: call qdi_prepare_project_and_wait with allow_recreate: true"
        raise StepFailed(f"the {kind} ended {waited['state']}: {why}", hint)
    return waited


def _result(promotion: Promotion, state: dict[str, Any], given: dict[str, Any]) -> ToolResult:
    needs = state["needs_value"]
    result: dict[str, Any] = {
        "status": "promoted",
        "diff": state["diff"],
        "steps": promotion.steps,
        "backup": promotion.backup.to_dict() if promotion.backup else None,
        "bindings": {
            "kept": len(state["before"]),
            "set": len(given),
            "needs_value": needs,
            "unset": _capped(state["unset"]),
        },
        "hint": (
            "bind bindings.needs_value (qdi_update_bindings) before running the tasks"
            if needs
            else "follow the tasks with qdi_get_project_status"
            if promotion.args.get("start_tasks")
            else "start the tasks with qdi_start_task_and_wait"
        ),
    }
    summary = (
        f"Promoted {tenant(promotion.names[promotion.source_id])} into {tenant(promotion.names[promotion.target_id])}: "
        f"{state['diff']}. Next: {result['hint']}."
    )
    return ToolResult(result, summary)


def _step(name: str) -> dict[str, Any]:
    return {"step": name, "outcome": "not_run", "detail": None}


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _is_connection_variable(name: str) -> bool:
    # Qlik names connection variables ...Connection: platformConnection, task.<id>.sourceConnection
    return name.rsplit(".", 1)[-1].endswith("Connection")


def _capped(names: list[str]) -> list[str]:
    return names if len(names) <= MAX_NAMES else [*names[:MAX_NAMES], f"... {len(names) - MAX_NAMES} more"]
