"""Lint of what agents read back: hints that name Qlik's wire instead of our tools, and text said twice.

Rules (each finding names the rule):
- `wire_name`: a hint (any `hint` in a result) names the Qlik API instead of our tools and arguments
  (`evals.harness.wire_names`; the spec lint applies the same rule to descriptions and spec `hints:`).
- `repeated`: one result says the same sentence twice. A model reads the text content (the summary line and the
  data fence below it); a program reads structuredContent. Each of them is checked on its own: within the text
  (the summary line and every string in the fence) and within structuredContent. A sentence is a string of at
  least MIN_SENTENCE_WORDS words and MIN_SENTENCE_LENGTH characters; it is repeated when another string of the
  same view contains it (a hint quoting an error message counts).
Names, ids, states and codes are how results refer to things: repeating them is no finding. Ids, states and codes
are short or have no spaces; a name may be long, so a string under a `name` key is never taken for a sentence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from evals.harness.transcript import CallRecord
from evals.harness.wire_names import wire_names
from qdi_mcp.guard.fence import DATA_CLOSE, DATA_OPEN, INLINE_CLOSE, INLINE_OPEN

MIN_SENTENCE_WORDS = 5
MIN_SENTENCE_LENGTH = 30


def lint_result(call: CallRecord) -> list[str]:
    """Every finding for one tool result, as `[rule] message` lines."""
    findings = [
        f"[wire_name] {path} names {', '.join(names)}: name our tools and arguments instead"
        for path, hint in _strings(call.structured, "")
        if path.rsplit(".", 1)[-1] == "hint" and (names := wire_names(hint))
    ]
    summary, fenced = _text_views(call.text)
    text_strings = ([("summary", summary)] if summary else []) + list(_strings(fenced, "fence"))
    for view in (text_strings, list(_strings(call.structured, "structured"))):
        findings += [f"[repeated] {where}" for where in _repeats(view)]
    return findings


def _text_views(text: str) -> tuple[str, Any]:
    """The summary line (inline fences removed: their content is the same text) and the fence's data."""
    summary, _, rest = text.partition("\n")
    summary = summary.replace(INLINE_OPEN, "").replace(INLINE_CLOSE, "")
    if not (rest.startswith(DATA_OPEN) and rest.endswith(DATA_CLOSE)):
        return summary, None
    return summary, json.loads(rest[len(DATA_OPEN) : -len(DATA_CLOSE)])


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _is_sentence(text: str) -> bool:
    return len(text) >= MIN_SENTENCE_LENGTH and len(text.split()) >= MIN_SENTENCE_WORDS


def _repeats(strings: list[tuple[str, str]]) -> Iterator[str]:
    for path, text in strings:
        if not _is_sentence(text) or path.rsplit(".", 1)[-1] == "name":
            continue
        sentence = text.strip().rstrip(".")
        for other_path, other in strings:
            if other_path != path and sentence in other:
                yield f"{path} says again what {other_path} says: {sentence[:80]!r}"
                break
