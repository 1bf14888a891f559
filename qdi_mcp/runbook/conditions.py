"""Conditions: `expect` (checked on a step's result) and `where` (which for_each items to keep).

A condition maps paths to matchers; all must hold::

    state: COMPLETED                      equality (JSON: true is not 1)
    timed_out: false
    counts.failed: {in: [0, null]}        one of
    tasks: {all: {state: {ne: FAILED}}}   every item (also `any`, `none`)
    elapsed_seconds: {lt: 600}            eq ne in not_in gt gte lt lte
    name: {glob: ["Customer*", "Orders*"]} exists empty matches (regex) glob contains length not

A mapping whose keys are operators is a matcher; a mapping of other keys is a condition on the value there
(`counts: {failed: 0}` is `counts.failed: 0`). To compare a whole object, use `{eq: {...}}`.

A path the value does not have fails every matcher on it, `ne`, `not_in`, `not` and `empty` included: a typo
(`stat` for `state`) must not make a check pass. Only an existence check (`exists`, or `not` around one)
looks at whether the path is there. A path that runs into a null (`last_run.state` when `last_run` is null,
in either form, `last_run: {state: ...}` too) reads as null, and `exists` says there is no value there.
The paths themselves are checked against the tool's output schema before any step runs (`expectations`).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from qdi_mcp.runbook.paths import MISSING, THROUGH_NULL, lookup_through_null, missing_reason, split_path
from qdi_mcp.runbook.templates import KeyedMapping, Merge, Template

LIST_OPERATORS = frozenset({"all", "any", "none"})
MATCHER_OPERATORS = frozenset({"length", "not"}) | LIST_OPERATORS
OPERATORS = (
    frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "empty", "matches", "glob", "contains"})
    | MATCHER_OPERATORS
)
_EXISTENCE_OPERATORS = frozenset({"exists", "not"})


def is_operator_mapping(value: Any) -> bool:
    """A matcher made of operators (`{ne: FAILED}`), as opposed to a condition on fields (`{failed: 0}`)."""
    return isinstance(value, Mapping) and bool(value) and set(value) <= OPERATORS


def is_existence_check(matcher: Any) -> bool:
    """`{exists: ...}` or `{not: {exists: ...}}`: the only matchers a missing path can satisfy."""
    if not is_operator_mapping(matcher) or not set(matcher) <= _EXISTENCE_OPERATORS:
        return False
    return "not" not in matcher or is_existence_check(matcher["not"])


def closest_operator(word: str) -> str | None:
    """The operator `word` was probably meant to be (`neq` -> `ne`), if any is close."""
    close = difflib.get_close_matches(word, sorted(OPERATORS), n=1, cutoff=0.6)
    return close[0] if close else None


# --- checking the shape (before any step runs) --------------------------------------------------------------


def check_condition(condition: Any, where: str) -> list[tuple[str, str]]:
    """Problems in a condition as (location, message); locations extend `where`."""
    if not isinstance(condition, Mapping) or not condition:
        return [(where, "must be a mapping of result paths to expected values, e.g. {state: COMPLETED}")]
    problems: list[tuple[str, str]] = []
    for path, matcher in condition.items():
        if not isinstance(path, str) or not path.strip():
            problems.append((where, f"{path!r} is not a path"))
            continue
        problems += _check_matcher(matcher, f"{where}.{path}")
    return problems


def _check_matcher(matcher: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(matcher, Mapping):
        return []
    keys = set(matcher)
    operators = keys & OPERATORS
    if not operators:
        return check_condition(matcher, where)
    if operators != keys:
        strangers = sorted(map(str, keys - operators))
        hints = "".join(
            f"; {key!r}: did you mean {operator}?" for key in strangers if (operator := closest_operator(key))
        )
        return [
            (
                where,
                f"mixes operators ({', '.join(sorted(operators))}) with other keys ({', '.join(strangers)}){hints}; "
                f"the operators are {', '.join(sorted(OPERATORS))}",
            )
        ]
    problems: list[tuple[str, str]] = []
    for operator, operand in matcher.items():
        problem = _operand_problem(operator, operand)
        if problem:
            problems.append((f"{where}.{operator}", problem))
        elif operator in MATCHER_OPERATORS:
            problems += _check_matcher(operand, f"{where}.{operator}")
    return problems


def _operand_problem(operator: str, operand: Any) -> str | None:
    if isinstance(operand, Template | Merge | KeyedMapping):
        return None  # known only at run time
    if operator in ("in", "not_in") and not isinstance(operand, list):
        return "takes a list, e.g. {in: [COMPLETED, RUNNING]}"
    if operator in ("gt", "gte", "lt", "lte") and not _comparable(operand):
        return "takes a number (or a string, compared as text)"
    if operator in ("exists", "empty") and not isinstance(operand, bool):
        return "takes true or false"
    if operator == "matches":
        if not isinstance(operand, str):
            return "takes a regular expression string"
        try:
            re.compile(operand)
        except re.error as exc:
            return f"not a valid regular expression: {exc}"
    if operator == "glob" and not (
        isinstance(operand, str) or (isinstance(operand, list) and all(isinstance(p, str) for p in operand))
    ):
        return "takes a pattern or a list of patterns, e.g. 'Customer*'"
    return None


# --- evaluating (templates already resolved) ----------------------------------------------------------------


def condition_failures(condition: Mapping[str, Any], subject: Any) -> list[str]:
    """What does not hold, one readable line each; empty when the condition holds."""
    failures: list[str] = []
    for path, matcher in condition.items():
        segments = split_path(path)
        actual = lookup_through_null(subject, segments)
        if actual is MISSING and not is_existence_check(matcher):
            failures.append(f"{path}: missing: {missing_reason(subject, segments)}")
            continue
        failures += [f"{path}: {message}" for message in matcher_failures(matcher, actual)]
    return failures


def holds(condition: Mapping[str, Any], subject: Any) -> bool:
    return not condition_failures(condition, subject)


def matcher_failures(matcher: Any, actual: Any) -> list[str]:
    if actual is MISSING and not is_existence_check(matcher):
        return [f"expected {show(matcher)}, got (missing)"]
    if is_operator_mapping(matcher):
        failures: list[str] = []
        for operator, operand in matcher.items():
            # `exists` and `not` see that the path ran into a null (no value there); the others see the null.
            seen = actual if operator in _EXISTENCE_OPERATORS else _as_json(actual)
            failures += _OPERATIONS[operator](operand, seen)
        return failures
    if isinstance(matcher, Mapping):
        if actual is None or actual is THROUGH_NULL:
            # `last_run: {state: ...}` on a null last_run: the same as `last_run.state: ...`.
            return condition_failures(matcher, THROUGH_NULL)
        if actual is MISSING or not isinstance(actual, Mapping | list):
            return [f"expected an object with {', '.join(map(str, matcher))}, got {show(actual)}"]
        return condition_failures(matcher, actual)
    actual = _as_json(actual)
    return [] if json_equal(actual, matcher) else [f"expected {show(matcher)}, got {show(actual)}"]


def _as_json(actual: Any) -> Any:
    return None if actual is THROUGH_NULL else actual


def json_equal(left: Any, right: Any) -> bool:
    if left is MISSING or right is MISSING:
        return left is right
    if isinstance(left, bool) != isinstance(right, bool):
        return False  # JSON: true is not 1
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return bool(left == right)


def show(value: Any) -> str:
    if value is MISSING:
        return "(missing)"
    if value is THROUGH_NULL:
        return "null (the path runs into a null)"
    if isinstance(value, str):
        return value if value and value.strip() == value and value[0] not in "[{" else json.dumps(value)
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def item_label(item: Any, position: int) -> str:
    if isinstance(item, Mapping):
        for key in ("name", "task_id", "id"):
            if isinstance(item.get(key), str):
                return f"item {position} ({item[key]})"
    return f"item {position}"


def _comparable(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _unless(ok: bool, message: str) -> list[str]:
    return [] if ok else [message]


def _compare(symbol: str, test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], list[str]]:
    def check(operand: Any, actual: Any) -> list[str]:
        same_kind = _comparable(actual) and isinstance(actual, str) == isinstance(operand, str)
        return _unless(same_kind and test(actual, operand), f"expected {symbol} {show(operand)}, got {show(actual)}")

    return check


def _in(operand: Any, actual: Any) -> list[str]:
    options = operand if isinstance(operand, list) else [operand]
    return _unless(any(json_equal(actual, o) for o in options), f"expected one of {show(options)}, got {show(actual)}")


def _not_in(operand: Any, actual: Any) -> list[str]:
    options = operand if isinstance(operand, list) else [operand]
    return _unless(
        not any(json_equal(actual, o) for o in options), f"expected none of {show(options)}, got {show(actual)}"
    )


def _empty(operand: Any, actual: Any) -> list[str]:
    is_empty = actual is None or (isinstance(actual, str | list | Mapping) and not actual)
    return _unless(is_empty == bool(operand), f"expected {'' if operand else 'not '}empty, got {show(actual)}")


def _matches(operand: Any, actual: Any) -> list[str]:
    ok = isinstance(actual, str) and re.search(str(operand), actual) is not None
    return _unless(ok, f"expected a match for /{operand}/, got {show(actual)}")


def _glob(operand: Any, actual: Any) -> list[str]:
    patterns = operand if isinstance(operand, list) else [operand]
    ok = isinstance(actual, str) and any(fnmatch.fnmatchcase(actual, str(p)) for p in patterns)
    return _unless(ok, f"expected a name like {show(patterns)}, got {show(actual)}")


def _contains(operand: Any, actual: Any) -> list[str]:
    if isinstance(actual, list):
        ok = any(json_equal(item, operand) for item in actual)
    elif isinstance(actual, str):
        ok = isinstance(operand, str) and operand in actual
    elif isinstance(actual, Mapping):
        ok = operand in actual
    else:
        ok = False
    return _unless(ok, f"expected to contain {show(operand)}, got {show(actual)}")


def _length(operand: Any, actual: Any) -> list[str]:
    if not isinstance(actual, str | list | Mapping):
        return [f"expected something with a length, got {show(actual)}"]
    return [f"length {message}" for message in matcher_failures(operand, len(actual))]


def _not(operand: Any, actual: Any) -> list[str]:
    return _unless(bool(matcher_failures(operand, actual)), f"expected not {show(operand)}, got {show(actual)}")


def _each(operand: Any, actual: Any) -> list[str]:
    if not isinstance(actual, list):
        return [f"expected a list, got {show(actual)}"]
    failures: list[str] = []
    for position, item in enumerate(actual):
        failures += [f"{item_label(item, position)}: {m}" for m in matcher_failures(operand, item)]
    return failures


def _any(operand: Any, actual: Any) -> list[str]:
    if not isinstance(actual, list):
        return [f"expected a list, got {show(actual)}"]
    ok = any(not matcher_failures(operand, item) for item in actual)
    return _unless(ok, f"expected at least one item matching {show(operand)}, none of {len(actual)} does")


def _none(operand: Any, actual: Any) -> list[str]:
    if not isinstance(actual, list):
        return [f"expected a list, got {show(actual)}"]
    matching = [item_label(item, i) for i, item in enumerate(actual) if not matcher_failures(operand, item)]
    return _unless(not matching, f"expected no item matching {show(operand)}, but {', '.join(matching)} does")


_OPERATIONS: dict[str, Callable[[Any, Any], list[str]]] = {
    "eq": lambda operand, actual: _unless(json_equal(actual, operand), f"expected {show(operand)}, got {show(actual)}"),
    "ne": lambda operand, actual: _unless(not json_equal(actual, operand), f"expected not {show(operand)}"),
    "in": _in,
    "not_in": _not_in,
    "gt": _compare(">", lambda a, b: a > b),
    "gte": _compare(">=", lambda a, b: a >= b),
    "lt": _compare("<", lambda a, b: a < b),
    "lte": _compare("<=", lambda a, b: a <= b),
    "exists": lambda operand, actual: _unless(
        (actual is not MISSING and actual is not THROUGH_NULL) == bool(operand),
        f"expected {'a value' if operand else 'no value'}, got {show(actual)}",
    ),
    "empty": _empty,
    "matches": _matches,
    "glob": _glob,
    "contains": _contains,
    "length": _length,
    "not": _not,
    "all": _each,
    "any": _any,
    "none": _none,
}
