"""Which paths a JSON value can have, read from its JSON schema (a tool's output schema).

    reach(spec.output_schema, ["tasks", "0", "state"]).schemas   # [{"type": ["string", "null"]}]
    reach(spec.output_schema, ["tasks", "0", "stat"]).schemas    # []: no such path; .dead_ends say why

Alternatives (`anyOf`, `oneOf`, `allOf`) are read as "a path valid in any branch is valid": a destructive
tool's result is its result, a confirmation request or a refusal, and an expectation may look at any of them.
An object that lists its `properties` has those fields and no others, unless `additionalProperties` says
other keys may come (a map, such as task counts per state); an object that lists none may have any key. As
in `paths.lookup`, keys may contain dots (binding names such as `task.crm_landing-xqm0.sourceConnection`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

Schema = Mapping[str, Any] | bool

ANY: Final[Mapping[str, Any]] = {}
"""A schema that says nothing about the value: every path below it may exist."""

_ALTERNATIVES = ("anyOf", "oneOf", "allOf")
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


@dataclass(frozen=True)
class DeadEnd:
    """Where a path stopped: after `consumed` segments, at a value of this schema."""

    consumed: int
    schema: Schema


@dataclass
class Reach:
    schemas: list[Schema] = field(default_factory=list)  # what the value at the path can be; empty: no such path
    dead_ends: list[DeadEnd] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return bool(self.schemas)

    def deepest(self) -> tuple[int, list[Schema]]:
        """How far the path got at best, and the schemas it stopped at there (for the error message)."""
        consumed = max((end.consumed for end in self.dead_ends), default=0)
        return consumed, [end.schema for end in self.dead_ends if end.consumed == consumed]


def reach(schema: Schema, segments: Sequence[str]) -> Reach:
    found = Reach()
    _walk(schema, segments, 0, found)
    return found


def branches(schema: Schema) -> list[Schema]:
    """The alternatives a schema stands for (itself when it has none)."""
    if not isinstance(schema, Mapping):
        return [schema]
    nested = [branch for key in _ALTERNATIVES for branch in schema.get(key) or ()]
    if not nested:
        return [schema]
    return [leaf for branch in nested for leaf in branches(branch)]


def kinds(schema: Schema) -> frozenset[str]:
    """The JSON types the schema allows, or {"any"} when it does not say."""
    if schema is False:
        return frozenset()
    if not isinstance(schema, Mapping) or "$ref" in schema:
        return frozenset({"any"})
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    if any(key in schema for key in ("properties", "additionalProperties", "patternProperties", "required")):
        return frozenset({"object"})
    if "items" in schema or "prefixItems" in schema:
        return frozenset({"array"})
    if "const" in schema:
        return frozenset({_json_type(schema["const"])})
    if isinstance(schema.get("enum"), list):
        return frozenset(_json_type(value) for value in schema["enum"])
    return frozenset({"any"})


def is_open(schemas: Sequence[Schema]) -> bool:
    """True when any of the schemas leaves the value unknown (then nothing below it can be checked)."""
    return any("any" in kinds(schema) for schema in schemas)


def list_items(schemas: Sequence[Schema]) -> list[Schema] | None:
    """The schemas of the items, when the value can be a list; None when it cannot."""
    items: list[Schema] = []
    for schema in schemas:
        found = kinds(schema)
        if "any" in found:
            items.append(ANY)
        elif "array" in found and isinstance(schema, Mapping):
            items.append(schema.get("items", ANY))
    return items or None


def field_names(schemas: Sequence[Schema]) -> list[str]:
    names: set[str] = set()
    for schema in schemas:
        if isinstance(schema, Mapping):
            names.update(schema.get("properties") or {})
    return sorted(names)


def describe_kinds(schemas: Sequence[Schema]) -> str:
    words = {"object": "an object", "array": "a list", "string": "text", "integer": "a number", "number": "a number"}
    found = sorted({words.get(kind, kind) for schema in schemas for kind in kinds(schema)})
    return " or ".join(found) or "nothing"


def _walk(schema: Schema, segments: Sequence[str], index: int, found: Reach) -> None:
    for branch in branches(schema):
        if index == len(segments):
            found.schemas.append(branch)
            continue
        types = kinds(branch)
        if "any" in types:
            found.schemas.append(ANY)
            continue
        moved = False
        if "object" in types and isinstance(branch, Mapping):
            moved = _walk_object(branch, segments, index, found)
        if "array" in types and isinstance(branch, Mapping) and _is_item_number(segments[index]):
            _walk(branch.get("items", ANY), segments, index + 1, found)
            moved = True
        if not moved:
            found.dead_ends.append(DeadEnd(index, branch))


def _walk_object(schema: Mapping[str, Any], segments: Sequence[str], index: int, found: Reach) -> bool:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    # Declared properties are the contract: an object lists its fields unless it says other keys may come
    # (a map such as counts per state) or says nothing about its keys at all.
    open_keys = (
        extra is True
        or isinstance(extra, Mapping)
        or bool(schema.get("patternProperties"))
        or (extra is None and not properties)
    )
    moved = False
    # Every split: a key may hold dots, and which split the value has is only known at run time.
    for end in range(len(segments), index, -1):
        key = ".".join(segments[index:end])
        if key in properties:
            _walk(properties[key], segments, end, found)
            moved = True
        elif open_keys:
            _walk(extra if isinstance(extra, Mapping) else ANY, segments, end, found)
            moved = True
    return moved


def _is_item_number(segment: str) -> bool:
    try:
        int(segment)
    except ValueError:
        return False
    return True


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return _JSON_TYPES.get(type(value), "any")
