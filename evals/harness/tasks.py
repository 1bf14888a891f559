"""Eval tasks: one YAML file per task in `evals/tasks/`, validated before anything runs.

    id: restart-replication-from-timestamp      # = the file name
    kind: scenario                               # or: safety
    request: "Orders replication was stopped ... restart it from 08:00 UTC"
    start: orders_stopped                        # a fixture of evals/harness/fixtures.py (default: demo)
    user_replies: ["Yes, go ahead."]             # model runs: what the user says when the agent asks
                                                 # (default: agrees if a step has confirm: user_agrees)
    trajectory:                                  # what a competent agent does (or, for safety, a bad one)
      - id: projects                             # name a step to reference its result later
        tool: qdi_list_projects
      - tool: qdi_stop_task_and_wait
        args: {project_id: "${steps.projects.result.projects[name=Orders replication].id}", task_id: ...}
        confirm: user_agrees                     # on confirmation_required: repeat with the token
        expect: ok                               # ok (default) | error | confirmation_required
      - wait_seconds: 60                         # time passes
      - answer: "The task is stopped."           # what the agent tells the user
    checks:                                      # on the emulator's end state
      - task_state: {project: Orders replication, task: ORDERS REPLICATION, state: CANCELED}

Template syntax: the runbook's (`qdi_mcp.runbook.templates`), plus `trajectory_templates.py`. Problems name
the file, the step or check, and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from evals.harness.checks import CHECKS
from evals.harness.fixtures import FIXTURES
from evals.harness.trajectory_templates import CONFIRMATIONS, references
from qdi_mcp.runbook.templates import TemplateSyntaxError
from qdi_mcp.specs import specs_by_name

TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"
AGREEING_REPLY = "Yes, I agree: go ahead."
DECLINING_REPLY = "No, don't do that. Leave everything as it is."
CONFIRM_REACTIONS = ("user_agrees", "user_declines")
EXPECTATIONS = ("ok", "error", "confirmation_required")

_STEP_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "request", "trajectory", "checks"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "kind": {"enum": ["scenario", "safety"]},
        "request": {"type": "string", "minLength": 10},
        "start": {"type": "string"},
        "notes": {"type": "string"},
        "user_replies": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "model_run": {"type": "boolean"},
        "trajectory": {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["tool"],
                        "additionalProperties": False,
                        "properties": {
                            "id": _STEP_ID,
                            "tool": {"type": "string"},
                            "args": {"type": "object"},
                            "confirm": {"enum": list(CONFIRM_REACTIONS)},
                            "expect": {"enum": list(EXPECTATIONS)},
                            "error_code": {"type": "string"},
                            "note": {"type": "string"},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["wait_seconds"],
                        "additionalProperties": False,
                        "properties": {"wait_seconds": {"type": "number", "minimum": 0}, "note": {"type": "string"}},
                    },
                    {
                        "type": "object",
                        "required": ["answer"],
                        "additionalProperties": False,
                        "properties": {"answer": {"type": "string", "minLength": 1}},
                    },
                ]
            },
        },
        "checks": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "object", "minProperties": 1, "maxProperties": 1},
        },
    },
}
_TASK_VALIDATOR = Draft202012Validator(TASK_SCHEMA)


class TaskError(ValueError):
    """A task file is invalid: `str()` reads `evals/tasks/x.yaml: trajectory[2].tool: <problem>`."""


@dataclass(frozen=True)
class Step:
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    confirm: str | None = None
    expect: str = "ok"
    error_code: str | None = None
    wait_seconds: float | None = None
    answer: str | None = None

    @property
    def label(self) -> str:
        if self.tool:
            return self.tool + (f" [{self.id}]" if self.id else "")
        return "wait" if self.wait_seconds is not None else "answer"


@dataclass(frozen=True)
class Check:
    name: str
    params: Any


@dataclass(frozen=True)
class EvalTask:
    id: str
    kind: str
    request: str
    start: str
    trajectory: tuple[Step, ...]
    checks: tuple[Check, ...]
    user_replies: tuple[str, ...] = ()
    user_agrees: bool = False  # model runs: whether the user's replies agree to what the agent proposed
    model_run: bool = True
    source: Path | None = None

    @property
    def tools_used(self) -> set[str]:
        return {step.tool for step in self.trajectory if step.tool}


def _where(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(task)"


def parse_task(document: Any, source: Path) -> EvalTask:
    display = f"{source.parent.name}/{source.name}"

    def fail(where: str, problem: str) -> TaskError:
        return TaskError(f"{display}: {where}: {problem}")

    error = best_match(_TASK_VALIDATOR.iter_errors(document))
    if error is not None:
        raise fail(_where(error.absolute_path), error.message)
    if document["id"] != source.stem:
        raise fail("id", f"{document['id']!r} must equal the file name ({source.stem!r})")
    start = document.get("start", "demo")
    if start not in FIXTURES:
        raise fail("start", f"unknown start state {start!r} (known: {', '.join(sorted(FIXTURES))})")

    tools = specs_by_name()
    steps: list[Step] = []
    earlier_ids: set[str] = set()
    for index, raw in enumerate(document["trajectory"]):
        where = f"trajectory[{index}]"
        if "tool" in raw:
            if raw["tool"] not in tools:
                raise fail(f"{where}.tool", f"no tool named {raw['tool']!r}")
            try:
                found = references(raw.get("args", {}))
            except TemplateSyntaxError as exc:
                raise fail(f"{where}.args", str(exc)) from None
            for reference in found:
                step_id = reference.segments[0]
                if reference.root in ("steps", CONFIRMATIONS) and step_id not in earlier_ids:
                    raise fail(f"{where}.args", f"${{{reference.text}}} refers to no earlier step {step_id!r}")
            if raw.get("id") in earlier_ids:
                raise fail(f"{where}.id", f"step id {raw['id']!r} is used twice")
            if "id" in raw:
                earlier_ids.add(raw["id"])
            steps.append(
                Step(
                    tool=raw["tool"],
                    args=raw.get("args", {}),
                    id=raw.get("id"),
                    confirm=raw.get("confirm"),
                    expect=raw.get("expect", "ok"),
                    error_code=raw.get("error_code"),
                )
            )
        elif "wait_seconds" in raw:
            steps.append(Step(wait_seconds=float(raw["wait_seconds"])))
        else:
            try:
                references(raw["answer"])
            except TemplateSyntaxError as exc:
                raise fail(f"{where}.answer", str(exc)) from None
            steps.append(Step(answer=raw["answer"]))

    checks: list[Check] = []
    for index, raw in enumerate(document["checks"]):
        name, params = next(iter(raw.items()))
        if name not in CHECKS:
            raise fail(f"checks[{index}]", f"unknown check {name!r} (known: {', '.join(sorted(CHECKS))})")
        problem = best_match(Draft202012Validator(CHECKS[name].schema).iter_errors(params if params else {}))
        if problem is not None:
            inner = "." + _where(problem.absolute_path) if problem.absolute_path else ""
            raise fail(f"checks[{index}].{name}{inner}", problem.message)
        checks.append(Check(name, params if params is not None else {}))
    if document["kind"] == "safety" and not any(CHECKS[c.name].safety for c in checks):
        safety_checks = ", ".join(sorted(n for n, d in CHECKS.items() if d.safety))
        raise fail("checks", f"a safety task needs at least one safety check ({safety_checks})")

    # The simulated user of model runs reacts like the reference step: agrees, declines, or never answers.
    agrees = any(step.confirm == "user_agrees" for step in steps)
    declines = any(step.confirm == "user_declines" for step in steps)
    if agrees and declines:
        raise fail("trajectory", "a task's user either agrees or declines; split it into two tasks")
    default_replies = [AGREEING_REPLY] if agrees else [DECLINING_REPLY] if declines else []
    replies = document.get("user_replies", default_replies)
    return EvalTask(
        id=document["id"],
        kind=document["kind"],
        request=document["request"].strip(),
        start=start,
        trajectory=tuple(steps),
        checks=tuple(checks),
        user_replies=tuple(replies),
        user_agrees=agrees,
        model_run=document.get("model_run", True),
        source=source,
    )


def load_task(path: Path) -> EvalTask:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaskError(f"{path.parent.name}/{path.name}: invalid YAML: {exc}") from exc
    return parse_task(document, path)


def load_tasks(directory: Path = TASKS_DIR, *, only: Iterable[str] = ()) -> list[EvalTask]:
    """Every task in `directory`, sorted by id; `only` keeps the named ids (an unknown id is an error)."""
    tasks = [load_task(path) for path in sorted(directory.glob("*.yaml"))]
    wanted = set(only)
    if wanted:
        unknown = wanted - {task.id for task in tasks}
        if unknown:
            raise TaskError(f"no task with id {', '.join(sorted(unknown))} in {directory}")
        tasks = [task for task in tasks if task.id in wanted]
    return tasks
