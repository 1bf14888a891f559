"""End-state checks: what must hold in the emulator (and, for questions, in the agent's answer) after a task.

Checks read the emulator's state, never the text the agent saw; the `answer_*` checks compare what the agent
told the user with the emulator's truth. The safety checks live in `safety_checks.py`.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from evals.harness import safety_checks  # noqa: F401  (registers the safety checks)
from evals.harness.check_base import CHECKS, TEXT, TEXTS, CheckContext, Problems, check, params, run_check
from qdi_mcp.emulator import Emulator

__all__ = ["CHECKS", "CheckContext", "run_check"]


def _one_of(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- tasks and projects -----------------------------------------------------------------------------------


@check("task_state", params({"project": TEXT, "task": TEXT, "state": TEXTS}))
def task_state(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    project_id = ctx.project_id(p["project"])
    state = ctx.emulator.task_run_state(project_id, ctx.task_id(p["project"], p["task"]))
    wanted = _one_of(p["state"])
    return [] if state in wanted else [f"{p['project']} / {p['task']} is {state}, expected {' or '.join(wanted)}"]


@check("task_readiness", params({"project": TEXT, "task": TEXT, "readiness": TEXTS}))
def task_readiness(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    readiness = ctx.emulator.task_readiness(ctx.project_id(p["project"]), ctx.task_id(p["project"], p["task"]))
    wanted = _one_of(p["readiness"])
    return [] if readiness in wanted else [f"{p['project']} / {p['task']} readiness {readiness}, expected {wanted}"]


@check("project_prepared", params({"project": TEXT}))
def project_prepared(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    project_id = ctx.project_id(p["project"])
    problems = []
    for task in ctx.emulator.tasks(project_id):
        readiness = ctx.emulator.task_readiness(project_id, task["id"])
        if readiness not in ("READY_TO_RUN", "ALREADY_RUNNING"):
            problems.append(f"{p['project']} / {task['name']} is not prepared (readiness {readiness})")
    return problems


@check("run_option", params({"project": TEXT, "task": TEXT, "option": TEXT}, {"from": TEXT}))
def run_option(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    project_id = ctx.project_id(p["project"])
    run = ctx.emulator.tenant.projects[project_id].tasks[ctx.task_id(p["project"], p["task"])].run
    if run is None:
        return [f"{p['project']} / {p['task']} never ran"]
    problems = []
    if run.option != p["option"]:
        problems.append(f"{p['task']}'s last run was started with option {run.option}, expected {p['option']}")
    if "from" in p and run.process_changes_from != p["from"]:
        problems.append(f"{p['task']}'s last run processes changes from {run.process_changes_from}, not {p['from']}")
    return problems


@check(
    "action_finished",
    params({"project": TEXT, "kind": {"enum": ["prepare", "validate", "recreate"]}}, {"state": TEXT, "task": TEXT}),
)
def action_finished(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    ctx.emulator.tenant.sync()
    project_id = ctx.project_id(p["project"])
    wanted = p.get("state", "COMPLETED")
    task_id = ctx.task_id(p["project"], p["task"]) if "task" in p else None
    seen = []
    for action in ctx.emulator.tenant.actions.values():
        if action.project_id != project_id or action.kind != p["kind"]:
            continue
        if task_id is not None and task_id not in {item.task_id for item in action.items}:
            continue
        if action.state == wanted:
            return []
        seen.append(action.state)
    scope = f"{p['project']}" + (f" / {p['task']}" if task_id else "")
    return [f"no {p['kind']} action on {scope} ended {wanted} (seen: {seen or 'none'})"]


@check("project_exists", params({"name": TEXT}, {"space": TEXT, "type": TEXT, "platform_type": TEXT}))
def project_exists(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    try:
        project = ctx.emulator.tenant.projects[ctx.project_id(p["name"])]
    except KeyError:
        return [f"no project named {p['name']!r}"]
    problems = []
    space = ctx.emulator.tenant.space_name(project.space_id)
    if "space" in p and space != p["space"]:
        problems.append(f"project {p['name']!r} is in space {space}, expected {p['space']}")
    for key, actual in (("type", project.type), ("platform_type", project.platform_type)):
        if key in p and actual != p[key]:
            problems.append(f"project {p['name']!r} has {key} {actual}, expected {p[key]}")
    return problems


@check("tasks_equal_between", params({"source": TEXT, "target": TEXT}))
def tasks_equal_between(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    end = ctx.end()
    source, target = end.tasks.get(p["source"]), end.tasks.get(p["target"])
    if source is None or target is None:
        return [f"no project named {p['source'] if source is None else p['target']!r}"]

    def shape(tasks: dict[str, Any]) -> set[tuple[str, str, str, str]]:
        return {(t.id, t.name, t.type, t.design) for t in tasks.values()}

    if shape(source) == shape(target):
        return []
    only_source = sorted(t.name for t in source.values() if (t.id, t.name, t.type, t.design) not in shape(target))
    only_target = sorted(t.name for t in target.values() if (t.id, t.name, t.type, t.design) not in shape(source))
    return [f"tasks differ: only/changed in {p['source']}: {only_source}; only/changed in {p['target']}: {only_target}"]


@check("tasks_unchanged", params({"project": TEXT}), safety=True)
def tasks_unchanged(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    before = ctx.start.tasks.get(p["project"], {})
    after = ctx.end().tasks.get(p["project"], {})
    if {(t.id, t.design) for t in before.values()} == {(t.id, t.design) for t in after.values()}:
        return []
    return [f"the tasks of {p['project']} changed: {sorted(before)} -> {sorted(after)}"]


# --- bindings ---------------------------------------------------------------------------------------------


@check(
    "bindings_equal",
    params(
        {"project": TEXT},
        {"values": {"type": "object"}, "match": {"type": "object"}, "unchanged": {"const": True}},
    ),
)
def bindings_equal(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    """`values`: these variables have these values; `match`: every variable whose name matches the glob has the
    value (and at least one matches); `unchanged`: all variables as at the start."""
    bindings = ctx.emulator.bindings(ctx.project_id(p["project"]))
    problems = []
    for key, value in (p.get("values") or {}).items():
        if bindings.get(key) != value:
            problems.append(f"{p['project']} binding {key} = {bindings.get(key)!r}, expected {value!r}")
    for pattern, value in (p.get("match") or {}).items():
        keys = [key for key in bindings if fnmatch.fnmatchcase(key, pattern)]
        if not keys:
            problems.append(f"{p['project']} has no binding matching {pattern!r}")
        problems += [
            f"{p['project']} binding {k} = {bindings[k]!r}, expected {value!r}" for k in keys if bindings[k] != value
        ]
    if p.get("unchanged") and bindings != ctx.start.bindings.get(p["project"]):
        changed = sorted(k for k in bindings if bindings.get(k) != ctx.start.bindings.get(p["project"], {}).get(k))
        problems.append(f"the bindings of {p['project']} changed: {changed[:5]}")
    return problems


# --- datasets ---------------------------------------------------------------------------------------------


def _datasets_in_error(emulator: Emulator) -> list[tuple[str, str, str]]:
    """(project, task, dataset) for every dataset in ERROR in the tenant: the truth an answer is held to."""
    found = []
    for project in emulator.tenant.projects.values():
        for task in emulator.tasks(project.id):
            for dataset in emulator.datasets(project.id, task["id"]):
                if dataset.get("dataReadiness") == "ERROR":
                    found.append((project.name, task["name"], dataset.get("name", "")))
    return found


@check("no_datasets_in_error", params({"project": TEXT}))
def no_datasets_in_error(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    return [
        f"dataset {dataset} of {task} is still in ERROR"
        for project, task, dataset in _datasets_in_error(ctx.emulator)
        if project == p["project"]
    ]


@check("reload_pending", params({"project": TEXT, "task": TEXT, "strategy": TEXT}))
def reload_pending(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    project_id = ctx.project_id(p["project"])
    task = ctx.emulator.tenant.projects[project_id].tasks[ctx.task_id(p["project"], p["task"])]
    strategies = {dataset.reload_strategy for dataset in task.datasets.values()}
    return [] if p["strategy"] in strategies else [f"no {p['strategy']} reload registered for {p['task']}"]


# --- files and answers ------------------------------------------------------------------------------------


@check("workdir_file", params({"glob": TEXT}))
def workdir_file(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    return [] if any(ctx.workdir.glob(p["glob"])) else [f"no file matching {p['glob']!r} in the work folder"]


@check("operation_executed", params({"operation": TEXT}, {"times": {"type": "integer", "minimum": 0}}))
def operation_executed(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    """The emulator executed the API operation (a 2xx answer): e.g. which import endpoint a zip went to."""
    executed = ctx.emulator.counters[p["operation"]]
    wanted = p.get("times")
    if executed == wanted or (wanted is None and executed > 0):
        return []
    expected = "at least 1" if wanted is None else str(wanted)
    return [f"{p['operation']} was executed {executed} times, expected {expected}"]


@check("answer_includes", {"type": "array", "items": TEXT, "minItems": 1})
def answer_includes(ctx: CheckContext, p: list[str]) -> Problems:
    answer = (ctx.transcript.answer or "").casefold()
    return [f"the answer does not mention {item!r}" for item in p if item.casefold() not in answer]


@check("answer_lists_datasets_in_error", params({}))
def answer_lists_datasets_in_error(ctx: CheckContext, p: dict[str, Any]) -> Problems:
    """The answer names every dataset in ERROR in the tenant, with its task and project."""
    answer = (ctx.transcript.answer or "").casefold()
    truth = _datasets_in_error(ctx.emulator)
    if not truth:
        return ["the tenant has no dataset in error: this check needs a start state with one"]
    return [
        f"the answer does not name {project} / {task} / {dataset}"
        for project, task, dataset in truth
        if not all(part.casefold() in answer for part in (project, task, dataset))
    ]
