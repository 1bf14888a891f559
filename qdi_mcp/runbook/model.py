"""A checked runbook: its steps with templates compiled, and its variables with --var overrides applied."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.runbook.errors import Problem, RunbookError, step_location

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    tool: str
    args: Any = field(default_factory=dict)  # compiled (templates.compile_value)
    for_each: Any = None  # compiled; None when the step calls the tool once
    where: Any = None  # compiled condition on each item
    allow_empty: bool = False
    expect: Any = None  # compiled condition on the result
    on_failure: str = "stop"
    confirm: bool = False
    description: str | None = None

    @property
    def location(self) -> str:
        return step_location(self.index, self.name)


@dataclass(frozen=True)
class Runbook:
    name: str
    steps: tuple[Step, ...]
    variables: Mapping[str, Any] = field(default_factory=dict)  # declared defaults
    description: str | None = None
    source: str = ""

    def step(self, name: str) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    def resolve_vars(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        """The defaults with --var overrides applied, each parsed to the type of its default."""
        values = dict(self.variables)
        problems: list[Problem] = []
        for name, raw in overrides.items():
            if name not in self.variables:
                declared = ", ".join(sorted(self.variables)) or "none"
                problems.append(Problem("--var", f"the runbook declares no var {name!r} (it declares: {declared})"))
                continue
            try:
                values[name] = coerce_var(raw, self.variables[name])
            except ValueError as exc:
                problems.append(Problem("--var", f"{name}: {exc}"))
        if problems:
            raise RunbookError(self.source, problems)
        return values


def parse_var_arguments(pairs: Iterable[str]) -> dict[str, str]:
    """`--var name=value` pairs (the value may contain '=')."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            problems.append(Problem("--var", f"{pair!r} is not name=value"))
            continue
        values[name.strip()] = value
    if problems:
        raise RunbookError("", problems)
    return values


def coerce_var(raw: str, default: Any) -> Any:
    """A --var value as the type of the var's default: text stays text, the rest is read as JSON.

    Lists also accept comma-separated text (`--var projects=Sales*,Orders*`), booleans yes/no.
    """
    if default is None or isinstance(default, str):
        return raw
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ValueError(f"expected true or false, got {raw!r}")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = _NOT_JSON
    if isinstance(default, list):
        if isinstance(parsed, list):
            return parsed
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(default, int | float):
        if isinstance(parsed, int | float) and not isinstance(parsed, bool):
            return parsed
        raise ValueError(f"expected a number, got {raw!r}")
    if isinstance(default, dict):
        if isinstance(parsed, dict):
            return parsed
        raise ValueError('expected a JSON object, e.g. \'{"key": "value"}\'')
    return raw


_NOT_JSON = object()
