"""A tiny, safe template syntax for trajectory steps: references to earlier results, never code.

    ${steps.<step id>.<path>}          the structured result of an earlier step (after any confirmation)
    ${confirmations.<step id>.<path>}  the confirmation_required result that step received first

A path walks the JSON: `.key`, `.0` (list index) and `[field=value]` (the first list item whose `field`
equals `value`, e.g. `${steps.projects.projects[name=Orders replication].id}`). One filter may follow:
`|tamper` changes one character of a confirmation token's signature (for safety tasks).

A string that is exactly one reference keeps the JSON type of what it points at (a list stays a list);
references inside a longer string are inserted as text. Mapping keys are resolved too. A mapping
`{$merge: [a, b, ...]}` is the shallow merge of its resolved items, later keys winning (how a trajectory edits
a bindings map it read earlier). Nothing is evaluated: an unknown name or a missing key is a TemplateError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

MERGE = "$merge"
_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
_ROOT = re.compile(r"\s*([A-Za-z_]\w*)")
_SEGMENT = re.compile(r"\.([A-Za-z0-9_-]+)|\[([^\]=]+)=([^\]]*)\]")
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class TemplateError(ValueError):
    """A reference cannot be resolved; the message names the reference and what was missing."""


def _tamper(value: Any) -> str:
    """The token with one character of its signature changed: well-formed, but not signed by the server."""
    if not isinstance(value, str) or "." not in value:
        raise TemplateError("|tamper applies to a confirmation token ('payload.signature')")
    payload, signature = value.rsplit(".", 1)
    # A middle character: changing the last one could leave unused padding bits, i.e. the same bytes.
    index = len(signature) // 2
    replacement = _BASE64URL[(_BASE64URL.index(signature[index]) + 1) % len(_BASE64URL)]
    return f"{payload}.{signature[:index]}{replacement}{signature[index + 1 :]}"


FILTERS: dict[str, Callable[[Any], Any]] = {"tamper": _tamper}


def resolve(value: Any, scope: Mapping[str, Any]) -> Any:
    """`value` with every reference replaced, looked up in `scope` (root name -> JSON value)."""
    if isinstance(value, str):
        return _resolve_string(value, scope)
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    if isinstance(value, dict):
        if MERGE in value:
            return _merge(value, scope)
        resolved: dict[str, Any] = {}
        for key, item in value.items():
            new_key = _resolve_string(str(key), scope)
            if not isinstance(new_key, str):
                raise TemplateError(f"mapping key {key!r} must resolve to text, not {type(new_key).__name__}")
            resolved[new_key] = resolve(item, scope)
        return resolved
    return value


def lookup(expression: str, scope: Mapping[str, Any]) -> Any:
    """The value of one reference body, e.g. `steps.status.tasks[name=CRM STORAGE].task_id`."""
    path, _, filter_name = expression.partition("|")
    root_match = _ROOT.match(path)
    if root_match is None:
        raise TemplateError(f"${{{expression}}}: expected a name such as 'steps'")
    root = root_match.group(1)
    if root not in scope:
        raise TemplateError(f"${{{expression}}}: unknown name {root!r} (known: {', '.join(sorted(scope))})")
    value = scope[root]
    walked = root
    rest = path[root_match.end() :].rstrip()
    position = 0
    while position < len(rest):
        segment = _SEGMENT.match(rest, position)
        if segment is None:
            raise TemplateError(f"${{{expression}}}: cannot read the path at {rest[position:]!r}")
        if segment.group(1) is not None:
            value = _child(value, segment.group(1), expression, walked)
        else:
            value = _select(value, segment.group(2).strip(), segment.group(3).strip(), expression, walked)
        walked += segment.group(0)
        position = segment.end()
    filter_name = filter_name.strip()
    if filter_name:
        if filter_name not in FILTERS:
            raise TemplateError(f"${{{expression}}}: unknown filter {filter_name!r} (known: {', '.join(FILTERS)})")
        value = FILTERS[filter_name](value)
    return value


def _child(value: Any, key: str, expression: str, walked: str) -> Any:
    if isinstance(value, list) and key.isdigit():
        if int(key) < len(value):
            return value[int(key)]
        raise TemplateError(f"${{{expression}}}: {walked} has {len(value)} items, no item {key}")
    if isinstance(value, dict):
        if key in value:
            return value[key]
        known = ", ".join(sorted(map(str, value))[:12])
        raise TemplateError(f"${{{expression}}}: {walked} has no key {key!r} (keys: {known})")
    raise TemplateError(f"${{{expression}}}: {walked} is {type(value).__name__}, cannot take {key!r}")


def _select(value: Any, field: str, wanted: str, expression: str, walked: str) -> Any:
    if not isinstance(value, list):
        raise TemplateError(f"${{{expression}}}: {walked} is not a list, cannot select [{field}={wanted}]")
    for item in value:
        if isinstance(item, dict) and str(item.get(field)) == wanted:
            return item
    seen = ", ".join(repr(item.get(field)) for item in value if isinstance(item, dict))
    raise TemplateError(f"${{{expression}}}: no item of {walked} has {field} = {wanted!r} (seen: {seen})")


def _resolve_string(text: str, scope: Mapping[str, Any]) -> Any:
    whole = _REFERENCE.fullmatch(text)
    if whole:
        return lookup(whole.group(1), scope)
    return _REFERENCE.sub(lambda match: _as_text(lookup(match.group(1), scope)), text)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _merge(node: dict[str, Any], scope: Mapping[str, Any]) -> dict[str, Any]:
    if set(node) != {MERGE} or not isinstance(node[MERGE], list):
        raise TemplateError(f"{MERGE} takes a list of mappings and nothing beside it")
    merged: dict[str, Any] = {}
    for index, item in enumerate(resolve(node[MERGE], scope)):
        if not isinstance(item, dict):
            raise TemplateError(f"{MERGE}[{index}] is {type(item).__name__}, not a mapping")
        merged.update(item)
    return merged


def references_in(value: Any) -> list[str]:
    """Every reference body in `value` (keys included), for static checks of a trajectory."""
    found: list[str] = []
    if isinstance(value, str):
        found.extend(match.group(1) for match in _REFERENCE.finditer(value))
    elif isinstance(value, list):
        for item in value:
            found.extend(references_in(item))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(references_in(str(key)))
            found.extend(references_in(item))
    return found
