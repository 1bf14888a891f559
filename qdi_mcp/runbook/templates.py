"""The runbook template language: small on purpose, and never `eval`.

    ${vars.name}                         a variable (its default, or --var name=value)
    ${steps.<step name>.result.<path>}   an earlier step's structured result (`.status`, `.error` too)
    ${item.<path>}                       the current item of a `for_each` step
    ${... | length}  ${... | map(id)}  ${... | join(", ")}  ${... | default("x")}  ${... | json}

Paths are dotted; list items by position (`tasks.0.id`, `tasks.-1.id`) or by a field's value
(`tasks[name=CRM STORAGE].id`). A string that is exactly one reference keeps the JSON type of the value (a
list stays a list, `true` stays a boolean); a reference inside a longer string is rendered as text. `$${`
writes a literal `${`. Mapping keys may hold references too (`task.${item.id}.sourceConnection`). A mapping
`{$merge: [a, b, ...]}` is the shallow merge of the mappings a, b, ... (later wins): how a runbook edits a full
map such as bindings.

Another user of the language (the evals' trajectories) may add roots and argument-less filters with
`Extensions`; the runbook uses none.

Strings are compiled once, when the runbook is checked, so syntax errors and bad references are reported
before any step runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.runbook.errors import TemplateError
from qdi_mcp.runbook.paths import MISSING, describe, lookup, missing_reason, split_path

ROOTS = ("vars", "steps", "item")
STEP_FIELDS = ("result", "status", "error")
FILTERS = ("length", "map", "join", "default", "json")
MERGE_KEY = "$merge"
_ESCAPED_OPEN = "$${"


class TemplateSyntaxError(ValueError):
    """A `${...}` expression is malformed (the message says how)."""


@dataclass(frozen=True)
class Extensions:
    """What a user of the language adds to it: more roots (looked up in `Scope.extra`) and argument-less
    filters (a function of the value; it raises TemplateError for a value it cannot take)."""

    roots: tuple[str, ...] = ()
    filters: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)


NO_EXTENSIONS = Extensions()


@dataclass(frozen=True)
class Filter:
    name: str
    argument: Any = None
    function: Callable[[Any], Any] | None = field(default=None, compare=False)  # an extension's filter


@dataclass(frozen=True)
class Reference:
    text: str  # as written, without ${ }
    root: str
    segments: tuple[str, ...]
    filters: tuple[Filter, ...] = ()

    @property
    def step_name(self) -> str | None:
        return self.segments[0] if self.root == "steps" and self.segments else None


@dataclass(frozen=True)
class Template:
    """A string holding at least one reference: literal text and references, in order."""

    parts: tuple[str | Reference, ...]

    @property
    def whole(self) -> Reference | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], Reference) else None

    @property
    def text(self) -> str:
        """The string as written (escapes aside)."""
        return "".join(part if isinstance(part, str) else "${" + part.text + "}" for part in self.parts)


@dataclass(frozen=True)
class Merge:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class KeyedMapping:
    """A mapping with at least one templated key: (key, value) pairs, in order."""

    pairs: tuple[tuple[str | Template, Any], ...]


@dataclass(frozen=True)
class Unresolved:
    """A value the dry run cannot know yet (it comes from a step the dry run does not execute)."""

    text: str

    def __str__(self) -> str:
        return f"<{self.text}>"


@dataclass
class Scope:
    variables: Mapping[str, Any]
    steps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # steps that ran: result/status/error
    item: Any = MISSING
    partial: bool = False  # dry run: unknown step values become Unresolved instead of failing
    extra: Mapping[str, Any] = field(default_factory=dict)  # the values of an Extensions' roots


# --- compiling ----------------------------------------------------------------------------------------------


def compile_value(value: Any, extensions: Extensions = NO_EXTENSIONS) -> Any:
    """`value` with every template string replaced by a Template, every `$merge` by a Merge, and every mapping
    with a templated key by a KeyedMapping."""
    if isinstance(value, str):
        return compile_string(value, extensions)
    if isinstance(value, Mapping):
        if MERGE_KEY in value:
            if len(value) != 1:
                raise TemplateSyntaxError(f"{MERGE_KEY} must be the only key of its mapping")
            items = value[MERGE_KEY]
            if not isinstance(items, list) or not items:
                raise TemplateSyntaxError(f"{MERGE_KEY} takes a non-empty list of mappings to merge")
            return Merge(tuple(compile_value(item, extensions) for item in items))
        pairs = tuple(
            (compile_string(key, extensions) if isinstance(key, str) else key, compile_value(item, extensions))
            for key, item in value.items()
        )
        if any(isinstance(key, Template) for key, _ in pairs):
            return KeyedMapping(pairs)
        return dict(pairs)
    if isinstance(value, list):
        return [compile_value(item, extensions) for item in value]
    return value


def compile_string(text: str, extensions: Extensions = NO_EXTENSIONS) -> str | Template:
    parts: list[str | Reference] = []
    literal: list[str] = []
    position = 0
    while position < len(text):
        if text.startswith(_ESCAPED_OPEN, position):
            literal.append("${")
            position += len(_ESCAPED_OPEN)
            continue
        if text.startswith("${", position):
            end = _closing_brace(text, position + 2)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(parse_reference(text[position + 2 : end], extensions))
            position = end + 1
            continue
        literal.append(text[position])
        position += 1
    if not parts:  # parts only ever start at a reference
        return "".join(literal)
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _closing_brace(text: str, start: int) -> int:
    in_string = False
    for index in range(start, len(text)):
        char = text[index]
        if char == '"' and text[index - 1] != "\\":
            in_string = not in_string
        elif char == "}" and not in_string:
            return index
    raise TemplateSyntaxError(f"unclosed '${{' in {text!r}: add the closing '}}'")


def parse_reference(expression: str, extensions: Extensions = NO_EXTENSIONS) -> Reference:
    pieces = _split_pipes(expression)
    path = pieces[0].strip()
    if not path:
        raise TemplateSyntaxError("empty reference '${}': write e.g. ${vars.name}")
    segments = split_path(path)
    if any(not segment for segment in segments):
        raise TemplateSyntaxError(f"empty segment in '${{{path}}}' (two dots, or a dot at an end)")
    root = segments[0]
    roots = (*ROOTS, *extensions.roots)
    if root not in roots:
        raise TemplateSyntaxError(f"'${{{path}}}' must start with one of {', '.join(roots)}, not {root!r}")
    rest = tuple(segments[1:])
    if root != "item" and not rest:
        raise TemplateSyntaxError(f"'${{{path}}}' needs a name after {root!r}, e.g. ${{{root}.<name>}}")
    if root == "steps" and (len(rest) < 2 or rest[1] not in STEP_FIELDS):
        raise TemplateSyntaxError(
            f"'${{{path}}}': after the step name comes one of {', '.join(STEP_FIELDS)}, "
            "e.g. ${steps.<step name>.result.<path>}"
        )
    filters = tuple(_parse_filter(piece, extensions) for piece in pieces[1:])
    return Reference(expression.strip(), root, rest, filters)


def _split_pipes(expression: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    depth, in_string = 0, False
    for index, char in enumerate(expression):
        if char == '"' and (index == 0 or expression[index - 1] != "\\"):
            in_string = not in_string
        elif not in_string and char in "([":
            depth += 1
        elif not in_string and char in ")]":
            depth -= 1
        if char == "|" and not in_string and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _parse_filter(piece: str, extensions: Extensions) -> Filter:
    text = piece.strip()
    name, _, rest = text.partition("(")
    name = name.strip()
    if name in extensions.filters and not rest:
        return Filter(name, function=extensions.filters[name])
    if name not in FILTERS:
        known = ", ".join((*FILTERS, *extensions.filters))
        raise TemplateSyntaxError(f"unknown filter {name!r}; filters: {known}")
    has_argument = bool(rest)
    if has_argument and not rest.rstrip().endswith(")"):
        raise TemplateSyntaxError(f"filter {name!r}: missing ')' in {text!r}")
    raw = rest.rstrip()[:-1].strip() if has_argument else ""
    if name in ("length", "json"):
        if raw:
            raise TemplateSyntaxError(f"filter {name!r} takes no argument")
        return Filter(name)
    if not raw:
        raise TemplateSyntaxError(f"filter {name!r} needs an argument, e.g. {_FILTER_EXAMPLES[name]}")
    if name == "map":
        return Filter(name, tuple(split_path(raw)))
    try:
        argument = json.loads(raw)
    except json.JSONDecodeError:
        raise TemplateSyntaxError(
            f"filter {name!r}: the argument must be a JSON value (strings in double quotes), not {raw!r}"
        ) from None
    if name == "join" and not isinstance(argument, str):
        raise TemplateSyntaxError("filter 'join' takes a string, e.g. join(\", \")")
    return Filter(name, argument)


_FILTER_EXAMPLES = {"map": "map(id)", "join": 'join(", ")', "default": 'default("none")'}


def iter_references(value: Any) -> Iterator[Reference]:
    if isinstance(value, Template):
        yield from (part for part in value.parts if isinstance(part, Reference))
    elif isinstance(value, Merge):
        for item in value.items:
            yield from iter_references(item)
    elif isinstance(value, KeyedMapping):
        for key, item in value.pairs:
            yield from iter_references(key)
            yield from iter_references(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_references(item)


def is_literal(value: Any) -> bool:
    """True when `value` holds no template and no $merge (it is what it says)."""
    if isinstance(value, Template | Merge | KeyedMapping):
        return False
    if isinstance(value, Mapping):
        return all(is_literal(item) for item in value.values())
    if isinstance(value, list):
        return all(is_literal(item) for item in value)
    return True


# --- resolving ----------------------------------------------------------------------------------------------


def resolve(value: Any, scope: Scope) -> Any:
    """The JSON value of a compiled tree. Raises TemplateError; in a partial scope, unknowns stay Unresolved."""
    if isinstance(value, Template):
        return _resolve_template(value, scope)
    if isinstance(value, Merge):
        return _resolve_merge(value, scope)
    if isinstance(value, KeyedMapping):
        return _resolve_keyed(value, scope)
    if isinstance(value, Mapping):
        return {key: resolve(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    return value


def contains_unresolved(value: Any) -> bool:
    if isinstance(value, Unresolved):
        return True
    if isinstance(value, Mapping):
        return any(contains_unresolved(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_unresolved(item) for item in value)
    return False


def _resolve_template(template: Template, scope: Scope) -> Any:
    whole = template.whole
    if whole is not None:
        return resolve_reference(whole, scope)
    rendered: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            rendered.append(part)
            continue
        value = resolve_reference(part, scope)
        if isinstance(value, Unresolved):
            return Unresolved(template.text)
        rendered.append(render_text(value))
    return "".join(rendered)


def _resolve_merge(merge: Merge, scope: Scope) -> Any:
    merged: dict[str, Any] = {}
    for position, item in enumerate(merge.items):
        value = resolve(item, scope)
        if isinstance(value, Unresolved):
            return Unresolved(f"{MERGE_KEY} of {len(merge.items)} mappings, one from {value.text}")
        if not isinstance(value, Mapping):
            raise TemplateError(f"{MERGE_KEY} item {position} is {describe(value)}, not a mapping")
        merged.update(value)
    return merged


def _resolve_keyed(mapping: KeyedMapping, scope: Scope) -> Any:
    resolved: dict[Any, Any] = {}
    for key, item in mapping.pairs:
        name = resolve(key, scope)
        if isinstance(name, Unresolved):
            return Unresolved(f"a mapping with the key {name.text}")
        if not isinstance(name, str):
            written = key.text if isinstance(key, Template) else key
            raise TemplateError(f"the mapping key {written!r} must give text, it gave {describe(name)}")
        resolved[name] = resolve(item, scope)
    return resolved


def resolve_reference(reference: Reference, scope: Scope) -> Any:
    value = _base_value(reference, scope)
    if isinstance(value, Unresolved):
        return value
    for flt in reference.filters:
        value = _apply_filter(flt, value, reference)
    if value is MISSING:
        raise TemplateError(f"${{{reference.text}}}: {_missing_detail(reference, scope)}")
    return value


def _base_value(reference: Reference, scope: Scope) -> Any:
    if reference.root == "vars":
        return lookup(scope.variables, reference.segments)
    if reference.root in scope.extra:
        return lookup(scope.extra[reference.root], reference.segments)
    if reference.root == "item":
        if scope.item is MISSING:
            raise TemplateError(f"${{{reference.text}}}: 'item' exists only in a for_each step")
        if isinstance(scope.item, Unresolved):
            return Unresolved(reference.text)
        return lookup(scope.item, reference.segments)
    name = reference.segments[0]
    if name not in scope.steps:
        if scope.partial:
            return Unresolved(reference.text)
        raise TemplateError(f"${{{reference.text}}}: step {name!r} has not run")
    return lookup(scope.steps[name], reference.segments[1:])


def _missing_detail(reference: Reference, scope: Scope) -> str:
    if reference.root == "vars":
        return missing_reason({"vars": scope.variables}, ("vars", *reference.segments))
    if reference.root == "item":
        return missing_reason({"item": scope.item}, ("item", *reference.segments))
    if reference.root in scope.extra:
        root = reference.root
        return missing_reason({root: scope.extra[root]}, (root, *reference.segments))
    name = reference.segments[0]
    step = scope.steps[name]
    if reference.segments[1] == "result" and step.get("result") is None:
        return f"step {name!r} has no result ({step.get('status')})"
    return missing_reason({f"steps.{name}": step}, (f"steps.{name}", *reference.segments[1:]))


def _apply_filter(flt: Filter, value: Any, reference: Reference) -> Any:
    if flt.name == "default":
        return flt.argument if value is MISSING or value is None else value
    if value is MISSING:
        return value
    if flt.function is not None:
        return flt.function(value)
    if flt.name == "length":
        if not isinstance(value, list | Mapping | str):
            raise TemplateError(
                f"${{{reference.text}}}: 'length' needs a list, object or string, got {describe(value)}"
            )
        return len(value)
    if flt.name == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(value, list):
        raise TemplateError(f"${{{reference.text}}}: {flt.name!r} needs a list, got {describe(value)}")
    if flt.name == "map":
        return [None if (found := lookup(item, flt.argument)) is MISSING else found for item in value]
    return str(flt.argument).join(render_text(item) for item in value)


def render_text(value: Any) -> str:
    """How a value reads inside a longer string."""
    if isinstance(value, str):
        return value
    if isinstance(value, Unresolved):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
