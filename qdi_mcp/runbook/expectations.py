"""`expect` and `where` checked against what the value can hold, before any step runs.

Every path in an expectation must exist in the tool's output schema, and every key that stands where an
operator must (under a value that is text, a number, ...) must be an operator:

    expect: {stat: COMPLETED}          step 2 (prepare).expect.stat: no field 'stat' in the result of
                                       qdi_prepare_project_and_wait (its fields: ...); did you mean state?
    expect: {state: {neq: FAILED}}     step 2 (prepare).expect.state: unknown operator 'neq'; did you mean ne?

`where` is checked the same way against the schema of the for_each items, when they come from an earlier
step's result (`for_each: "${steps.list.result.projects}"`); items from vars or a literal list are not known
before the run. Where the schema leaves a value open (any object), nothing below it can be checked here; at
run time a missing path still fails the expectation (`conditions`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from qdi_mcp.runbook import schema_paths
from qdi_mcp.runbook.conditions import LIST_OPERATORS, OPERATORS, closest_operator, is_operator_mapping
from qdi_mcp.runbook.paths import split_path
from qdi_mcp.runbook.schema_paths import Schema
from qdi_mcp.runbook.templates import Template

Problems = list[tuple[str, str]]

_STEP_FIELD_SCHEMAS: dict[str, Schema] = {"status": {"type": "string"}, "error": schema_paths.ANY}


def condition_problems(condition: Any, schema: Schema, where: str, *, subject: str, prefix: str = "") -> Problems:
    """Problems in `condition` (compiled) against `schema`, as (location, message).

    `subject` names the value in messages ("the result of qdi_get_project_status"); `prefix` is its path
    within that subject when the condition is nested (`tasks[]` for the items of `tasks`).
    """
    if not isinstance(condition, Mapping):
        return []  # check_condition reports the shape
    problems: Problems = []
    for path, matcher in condition.items():
        if not isinstance(path, str) or not path.strip():
            continue
        segments = split_path(path)
        location = f"{where}.{path}"
        if not all(segments):
            problems.append((location, "a path has no empty parts (two dots, or a dot at an end)"))
            continue
        found = schema_paths.reach(schema, segments)
        if not found.exists:
            problems.append((location, _no_such_path(segments, found, subject, prefix)))
            continue
        problems += _matcher_problems(matcher, found.schemas, location, _join(prefix, path), subject)
    return problems


def for_each_item_schema(for_each: Any, step_results: Mapping[str, Schema]) -> Schema | None:
    """The schema of the items `for_each` gives, when it is an earlier step's result; None when unknown.

    `step_results` maps each earlier step's name to the schema of `${steps.<name>.result}`.
    """
    reference = for_each.whole if isinstance(for_each, Template) else None
    if reference is None or reference.root != "steps" or reference.filters or len(reference.segments) < 2:
        return None
    name, part, *rest = reference.segments
    base = step_results.get(name) if part == "result" else _STEP_FIELD_SCHEMAS.get(part)
    if base is None:
        return None
    found = schema_paths.reach(base, rest)
    if not found.exists or schema_paths.is_open(found.schemas):
        return None
    items = schema_paths.list_items(found.schemas)
    return {"anyOf": items} if items else None


def step_result_schema(output_schema: Schema, *, for_each: bool) -> Schema:
    """The schema of `${steps.<name>.result}`: the tool's result, or the list of them for a for_each step."""
    return {"type": "array", "items": output_schema} if for_each else output_schema


def _matcher_problems(matcher: Any, schemas: list[Schema], where: str, label: str, subject: str) -> Problems:
    if not isinstance(matcher, Mapping) or schema_paths.is_open(schemas):
        return []  # a value to compare with, or a value the schema does not describe
    if is_operator_mapping(matcher):
        problems: Problems = []
        for operator, operand in matcher.items():
            at = f"{where}.{operator}"
            if operator in LIST_OPERATORS:
                items = schema_paths.list_items(schemas)
                if items is None:
                    kind = schema_paths.describe_kinds(schemas)
                    problems.append((at, f"{operator!r} needs a list, but {_place(label)} is {kind}"))
                else:
                    problems += _matcher_problems(operand, items, at, f"{label}[]", subject)
            elif operator == "not":
                problems += _matcher_problems(operand, schemas, at, label, subject)
            elif operator == "length":
                problems += _matcher_problems(operand, [{"type": "integer"}], at, f"the length of {label}", subject)
        return problems
    if set(matcher) & OPERATORS:
        return []  # operators mixed with other keys: check_condition reports it
    if not any(schema_paths.kinds(schema) & {"object", "array"} for schema in schemas):
        # A value without fields: these keys can only have been meant as operators.
        kind = schema_paths.describe_kinds(schemas)
        return [(where, _unknown_operator(str(key), _place(label), kind)) for key in matcher]
    return condition_problems(matcher, {"anyOf": schemas}, where, subject=subject, prefix=label)


def _unknown_operator(key: str, label: str, kind: str) -> str:
    close = closest_operator(key)
    hint = f"; did you mean {close}?" if close else ""
    return (
        f"unknown operator {key!r}{hint} ({label} is {kind}, so {key!r} cannot be one of its fields; "
        f"the operators are {', '.join(sorted(OPERATORS))})"
    )


def _no_such_path(segments: list[str], found: schema_paths.Reach, subject: str, prefix: str) -> str:
    consumed, stops = found.deepest()
    missing = segments[consumed]
    place = _place(_join(prefix, ".".join(segments[:consumed]))) if consumed or prefix else subject
    if any("object" in schema_paths.kinds(schema) for schema in stops):
        fields = schema_paths.field_names(stops)
        return f"no field {missing!r} in {place} (its fields: {', '.join(fields) or 'none'}){_hint(missing, fields)}"
    if any("array" in schema_paths.kinds(schema) for schema in stops):
        return f"{place} is a list: {missing!r} is not an item number (use 0, 1, -1, or all/any/none)"
    kind = schema_paths.describe_kinds(stops)
    return f"{place} is {kind}, so it has no field {missing!r}{_hint(missing, [])}"


def _hint(word: str, fields: list[str]) -> str:
    close = difflib.get_close_matches(word, fields, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]}?"
    operator = closest_operator(word)
    return f"; did you mean the operator {operator}, as in {{{operator}: ...}}?" if operator else ""


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix


def _place(label: str) -> str:
    """`tasks[]` as people say it: the items of tasks."""
    return f"the items of {label[:-2]}" if label.endswith("[]") else label
