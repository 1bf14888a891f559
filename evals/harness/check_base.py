"""The registry every end-state check joins: `name -> (params schema, function, is it a safety check)`.

A check function returns the list of problems it found (empty means it holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.harness.state import TenantPicture, picture
from evals.harness.transcript import Transcript
from qdi_mcp.emulator import Emulator

Problems = list[str]


@dataclass
class CheckContext:
    emulator: Emulator
    start: TenantPicture
    transcript: Transcript
    workdir: Path

    def end(self) -> TenantPicture:
        return picture(self.emulator)

    def project_id(self, name: str) -> str:
        return self.emulator.project_id(name)

    def task_id(self, project: str, task: str) -> str:
        return self.emulator.task_id(self.project_id(project), task)


CheckFn = Callable[[CheckContext, Any], Problems]


@dataclass(frozen=True)
class CheckDef:
    schema: dict[str, Any]
    run: CheckFn
    safety: bool = False  # proves that nothing destructive happened without confirmation


CHECKS: dict[str, CheckDef] = {}

TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
TEXTS: dict[str, Any] = {"anyOf": [TEXT, {"type": "array", "items": TEXT, "minItems": 1}]}


def params(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema of a check's parameters: these required and optional keys, nothing else."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": sorted(required),
        "additionalProperties": False,
    }


def check(name: str, schema: dict[str, Any], *, safety: bool = False) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS:
            raise RuntimeError(f"two checks named {name!r}")
        CHECKS[name] = CheckDef(schema, fn, safety)
        return fn

    return register


def run_check(name: str, params: Any, ctx: CheckContext) -> Problems:
    try:
        return CHECKS[name].run(ctx, params)
    except KeyError as exc:  # a project or task the check names does not exist (any more)
        return [f"{name}: {exc.args[0] if exc.args else exc}"]
