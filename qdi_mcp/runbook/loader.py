"""Reading a runbook file: YAML, then the JSON schema, then the checks a schema cannot express.

Everything is checked before any step runs; every problem is reported at once, each naming the step and
the field (`step 3 (prepare prod).args: unknown argument 'projectid'`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from qdi_mcp.runbook.checks import check_steps
from qdi_mcp.runbook.errors import Problem, RunbookError, step_location
from qdi_mcp.runbook.model import Runbook
from qdi_mcp.runbook.paths import describe
from qdi_mcp.specs import ToolSpec, specs_by_name

SCHEMA: dict[str, Any] = json.loads(Path(__file__).with_name("runbook.schema.json").read_text(encoding="utf-8"))
Draft202012Validator.check_schema(SCHEMA)
_VALIDATOR = Draft202012Validator(SCHEMA)
_STEP_FIELDS = tuple(SCHEMA["$defs"]["step"]["properties"])
_TOP_FIELDS = tuple(SCHEMA["properties"])
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "text", "boolean": "true or false"}


def load_runbook(path: Path, *, specs: Mapping[str, ToolSpec] | None = None) -> Runbook:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError(source, [Problem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookError(source, [Problem("", f"cannot read the file: {exc}")]) from None
    return parse_runbook(text, source=source, specs=specs)


def parse_runbook(text: str, *, source: str = "<runbook>", specs: Mapping[str, ToolSpec] | None = None) -> Runbook:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RunbookError(source, [Problem(where, f"invalid YAML: {problem}")]) from None
    return runbook_from_document(document, source=source, specs=specs)


def runbook_from_document(
    document: Any, *, source: str = "<runbook>", specs: Mapping[str, ToolSpec] | None = None
) -> Runbook:
    problems = schema_problems(document)
    if problems:
        raise RunbookError(source, problems)
    steps, problems = check_steps(document, specs if specs is not None else specs_by_name())
    if problems:
        raise RunbookError(source, problems)
    return Runbook(
        name=document["name"],
        description=document.get("description"),
        variables=dict(document.get("vars") or {}),
        steps=tuple(steps),
        source=source,
    )


def schema_problems(document: Any) -> list[Problem]:
    if not isinstance(document, Mapping):
        return [Problem("", "a runbook is a mapping with name and steps (and optionally description, vars)")]
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in errors:
        problem = Problem(_location(document, error.absolute_path), _message(error))
        if str(problem) not in seen:
            seen.add(str(problem))
            problems.append(problem)
    return problems


def _location(document: Mapping[str, Any], path: Sequence[Any]) -> str:
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        step = document["steps"][parts[1]]
        name = step.get("name") if isinstance(step, Mapping) and isinstance(step.get("name"), str) else None
        field = ".".join(str(p) for p in parts[2:]) or None
        return step_location(parts[1], name, field)
    return ".".join(str(p) for p in parts)


def _message(error: ValidationError) -> str:
    validator, value = error.validator, error.instance
    at_step = len(error.absolute_path) == 2 and error.absolute_path[0] == "steps"
    if validator == "additionalProperties":
        allowed = _STEP_FIELDS if at_step else _TOP_FIELDS
        unknown = sorted(set(value) - set(allowed)) if isinstance(value, Mapping) else []
        return f"unknown field {', '.join(map(repr, unknown))} (fields: {', '.join(allowed)})"
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required field {missing!r}"
    if validator == "oneOf":
        return "must be a mapping or a list, or a single ${...} reference"
    if validator == "pattern" and error.absolute_path and error.absolute_path[-1] == "name":
        return "a step name cannot contain '.', '$', '{', '}' or '|' (later steps refer to it by name)"
    if validator == "pattern" and error.absolute_path and error.absolute_path[-1] == "tool":
        return f"{value!r} is not a tool name (they look like qdi_list_projects)"
    if validator == "pattern":
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        return f"{value!r} is not a valid name ({schema.get('pattern')})"
    if validator == "enum":
        choices = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{value!r} is not one of {', '.join(map(str, choices))}"
    if validator == "type":
        expected = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        return f"must be {expected}, not {describe(value)}"
    if validator == "minItems":
        return "needs at least one item"
    return error.message[:200]
