"""The checks a JSON schema cannot express: tools exist, arguments fit the tool, references point backwards,
expectations name fields the tool's result has and operators that exist (`expectations`).

Runs on a document that already passed the runbook schema, so every step is a mapping with a name and a tool.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator

from qdi_mcp.runbook.conditions import check_condition
from qdi_mcp.runbook.errors import Problem, step_location, step_number
from qdi_mcp.runbook.expectations import condition_problems, for_each_item_schema, step_result_schema
from qdi_mcp.runbook.model import Step
from qdi_mcp.runbook.schema_paths import Schema
from qdi_mcp.runbook.templates import (
    Reference,
    TemplateSyntaxError,
    compile_value,
    is_literal,
    iter_references,
)
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT, ToolSpec

_COMPILED_FIELDS = ("args", "for_each", "where", "expect")


def check_steps(document: Mapping[str, Any], specs: Mapping[str, ToolSpec]) -> tuple[list[Step], list[Problem]]:
    variables = document.get("vars") or {}
    raw_steps: Sequence[Mapping[str, Any]] = document["steps"]
    names = [raw["name"] for raw in raw_steps]
    steps: list[Step] = []
    problems: list[Problem] = []
    step_results: dict[str, Schema] = {}  # ${steps.<name>.result} of the steps checked so far
    for index, raw in enumerate(raw_steps):
        name = raw["name"]

        def at(field: str | None = None, index: int = index, name: str = name) -> str:
            return step_location(index, name, field)

        if name in names[:index]:
            problems.append(Problem(at("name"), f"duplicate step name ({step_number(names.index(name))} has it too)"))
        spec = specs.get(raw["tool"])
        if spec is None:
            problems.append(Problem(at("tool"), _unknown_tool(raw["tool"], specs)))
        has_loop = "for_each" in raw
        for field in ("where", "allow_empty"):
            if field in raw and not has_loop:
                problems.append(Problem(at(field), "only makes sense with for_each"))

        compiled: dict[str, Any] = {}
        for field in _COMPILED_FIELDS:
            if field not in raw:
                continue
            try:
                compiled[field] = compile_value(raw[field])
            except TemplateSyntaxError as exc:
                problems.append(Problem(at(field), str(exc)))
                continue
            context = _ReferenceContext(variables, names, index, item_allowed=has_loop and field in ("args", "expect"))
            problems += [
                Problem(at(field), message)
                for message in map(context.problem, iter_references(compiled[field]))
                if message
            ]
        for field in ("where", "expect"):
            if field in compiled:
                problems += [Problem(where, message) for where, message in check_condition(compiled[field], at(field))]
        if spec is not None:
            problems += [Problem(at("args"), message) for message in argument_problems(compiled.get("args", {}), spec)]
            if "expect" in compiled:
                found = condition_problems(
                    compiled["expect"], spec.output_schema, at("expect"), subject=f"the result of {spec.name}"
                )
                problems += [Problem(where, message) for where, message in found]
        item_schema = for_each_item_schema(compiled.get("for_each"), step_results)
        if item_schema is not None and "where" in compiled:
            found = condition_problems(compiled["where"], item_schema, at("where"), subject="a for_each item")
            problems += [Problem(where, message) for where, message in found]
        if spec is not None and name not in step_results:
            step_results[name] = step_result_schema(spec.output_schema, for_each=has_loop)

        steps.append(
            Step(
                index=index,
                name=name,
                tool=raw["tool"],
                args=compiled.get("args", {}),
                for_each=compiled.get("for_each"),
                where=compiled.get("where"),
                allow_empty=bool(raw.get("allow_empty", False)),
                expect=compiled.get("expect"),
                on_failure=raw.get("on_failure", "stop"),
                confirm=bool(raw.get("confirm", False)),
                description=raw.get("description"),
            )
        )
    return steps, problems


class _ReferenceContext:
    def __init__(self, variables: Mapping[str, Any], names: Sequence[str], index: int, *, item_allowed: bool) -> None:
        self.variables = variables
        self.names = names
        self.index = index
        self.item_allowed = item_allowed

    def problem(self, reference: Reference) -> str | None:
        shown = "${" + reference.text + "}"
        if reference.root == "vars":
            name = reference.segments[0]
            if name not in self.variables:
                declared = ", ".join(sorted(self.variables)) or "none"
                return f"{shown}: no var {name!r} is declared under vars (declared: {declared})"
            return None
        if reference.root == "item":
            if not self.item_allowed:
                return f"{shown}: 'item' is only available in the args and expect of a step with for_each"
            return None
        step = reference.step_name
        if step == self.names[self.index]:
            return f"{shown}: a step cannot use its own result"
        if step in self.names[self.index + 1 :]:
            later = self.names.index(step, self.index + 1)
            return (
                f"{shown}: step {step!r} runs later ({step_number(later)}); a step can only use earlier steps' results"
            )
        if step not in self.names[: self.index]:
            return f"{shown}: there is no step named {step!r} (steps: {', '.join(self.names[: self.index]) or 'none'})"
        return None


def argument_problems(args: Any, spec: ToolSpec) -> list[str]:
    """What is wrong with a step's arguments that can be known before it runs."""
    if not isinstance(args, Mapping):
        return []  # a reference for all the arguments, or templated names: checked by the server when it runs
    schema = spec.input_schema
    properties: Mapping[str, Any] = schema.get("properties", {})
    problems: list[str] = []
    for key, value in args.items():
        if key == CONFIRMATION_TOKEN_ARGUMENT:
            problems.append(
                f"leave {CONFIRMATION_TOKEN_ARGUMENT} out: the runner confirms steps marked confirm: true "
                "when run with --yes"
            )
        elif key not in properties:
            known = ", ".join(k for k in properties if k != CONFIRMATION_TOKEN_ARGUMENT)
            problems.append(f"unknown argument {key!r} for {spec.name} (its arguments: {known})")
        elif is_literal(value):
            error = next(iter(Draft202012Validator(properties[key]).iter_errors(value)), None)
            if error is not None:
                problems.append(f"argument {key!r}: {error.message[:200]}")
    for key in schema.get("required", []):
        if key not in args:
            problems.append(f"missing required argument {key!r} for {spec.name}")
    return problems


def _unknown_tool(name: str, specs: Mapping[str, ToolSpec]) -> str:
    close = difflib.get_close_matches(name, list(specs), n=1)
    hint = f"; did you mean {close[0]}?" if close else "; `qdi-mcp tools` lists them"
    return f"unknown tool {name!r}{hint}"
