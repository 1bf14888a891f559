"""Looking up dotted paths (`tasks.0.state`) in JSON-like values, shared by templates and conditions.

Keys may contain dots themselves (binding names such as `task.crm_landing-xqm0.sourceConnection`): at each
mapping the longest run of segments that is a key wins, so such keys are reachable without any quoting.
A segment `[field=value]` selects the first item of a list whose `field` reads `value`
(`projects[name=Customer 360 (prod)].id`): ids are known only at run time, names are what people write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final


class _Missing:
    """No value at this path (different from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(missing)"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class _ThroughNull:
    """A path that ran into a null on its way (a never-run task's `last_run.state`): read as null by every
    matcher but `exists`, for which there is no value there."""

    def __repr__(self) -> str:
        return "null"


THROUGH_NULL: Final = _ThroughNull()


def split_path(path: str) -> list[str]:
    """`a.b[name=x.y].c` -> ["a", "b", "[name=x.y]", "c"]: dots inside a selection belong to its value."""
    if not path.strip():
        return []
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    for char in path:
        if char == "[" and depth == 0:
            segments.append("".join(current))
            current = [char]
            depth = 1
        elif char == "]" and depth == 1:
            current.append(char)
            segments.append("".join(current))
            current = []
            depth = 0
        elif char == "." and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    # a selection is glued to what precedes it (`b[name=x]`) and may be followed by a dot: drop the empty
    # pieces that leaves, but keep every other empty segment so the caller can report `a..b`
    kept = [part.strip() for index, part in enumerate(segments) if part or not _beside_selection(segments, index)]
    return kept


def _beside_selection(segments: list[str], index: int) -> bool:
    before = segments[index - 1] if index > 0 else ""
    after = segments[index + 1] if index + 1 < len(segments) else ""
    return is_selection(before) or is_selection(after)


def is_selection(segment: str) -> bool:
    return segment.startswith("[") and segment.endswith("]") and "=" in segment


def selection(segment: str) -> tuple[str, str]:
    field, _, wanted = segment[1:-1].partition("=")
    return field.strip(), wanted.strip()


def join_path(segments: Sequence[str]) -> str:
    return "".join(part if is_selection(part) else f".{part}" for part in segments).lstrip(".")


def lookup(value: Any, segments: Sequence[str]) -> Any:
    """The value at `segments` inside `value`, or MISSING."""
    found, consumed = _walk(value, segments)
    return found if consumed == len(segments) else MISSING


def lookup_through_null(value: Any, segments: Sequence[str]) -> Any:
    """`lookup`, except that a path running into a null gives THROUGH_NULL: a never-run task's `last_run` is
    null, and its `last_run.state` is no more missing than the run is (only a key that is absent is MISSING)."""
    if value is THROUGH_NULL:
        return THROUGH_NULL
    found, consumed = _walk(value, segments)
    if consumed == len(segments):
        return found
    return THROUGH_NULL if found is None else MISSING


def missing_reason(value: Any, segments: Sequence[str]) -> str:
    """Why `lookup(value, segments)` is MISSING, naming the first segment that does not exist."""
    parent, consumed = _walk(value, segments)
    if consumed == len(segments):
        return "there is a value"
    where = join_path(segments[:consumed]) or "the value"
    segment = segments[consumed]
    if isinstance(parent, list) and is_selection(segment):
        field, wanted = selection(segment)
        seen = ", ".join(repr(item.get(field)) for item in parent if isinstance(item, Mapping))
        return f"no item of {where} has {field} = {wanted!r} (seen: {seen or 'none'})"
    if isinstance(parent, Mapping):
        keys = ", ".join(sorted(map(str, parent))[:12]) or "none"
        return f"no key {segment!r} in {where} (keys: {keys})"
    if isinstance(parent, list):
        return f"no item {segment!r} in {where} (a list of {len(parent)})"
    return f"{where} is {describe(parent)}, so it has no {segment!r}"


def _walk(value: Any, segments: Sequence[str]) -> tuple[Any, int]:
    """How far `segments` lead into `value`: the value reached and how many segments were used."""
    current = value
    index = 0
    while index < len(segments):
        if isinstance(current, Mapping):
            for end in range(len(segments), index, -1):
                key = ".".join(segments[index:end])
                if key in current:
                    current = current[key]
                    index = end
                    break
            else:
                return current, index
        elif isinstance(current, list) and is_selection(segments[index]):
            found = _select(current, *selection(segments[index]))
            if found is MISSING:
                return current, index
            current = found
            index += 1
        elif isinstance(current, list):
            position = _list_index(segments[index], len(current))
            if position is None:
                return current, index
            current = current[position]
            index += 1
        else:
            return current, index
    return current, index


def _select(items: list[Any], field: str, wanted: str) -> Any:
    for item in items:
        if isinstance(item, Mapping) and field in item and str(item[field]) == wanted:
            return item
    return MISSING


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _list_index(segment: str, length: int) -> int | None:
    try:
        position = int(segment)
    except ValueError:
        return None
    if position < 0:
        position += length  # `.-1` is the last item
    return position if 0 <= position < length else None
