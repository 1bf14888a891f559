"""Lint of what agents see: the tool definitions from `qdi_mcp.specs.load_specs()`.

Rules (each finding names the tool and the rule):
- `name`: the name matches the public pattern `^qdi_[a-z0-9_]{1,48}$`, without doubled or trailing `_`.
- `what`: the description opens with a sentence of at least four words saying what the tool does.
- `when`: it says when to use it: a usage cue ("use", "when", "before", "after", "prefer", "instead",
  "start here", "first", "typically", ...) or a pointer to another tool that is better in some case.
- `parameters`: every input property, nested ones included, has a non-empty description.
- `wire_name`: the description, the argument descriptions and the spec's `hints:` name our tools and arguments,
  never Qlik's wire (`allowRecreate`, `PUT .../bindings`, `recreate-datasets`; see `wire_names`).
- `similar`: no two descriptions are near-identical (difflib ratio >= SIMILARITY_THRESHOLD): a model could not
  tell the tools apart.
Sizes: the model-visible size of each tool (`qdi_mcp.specs.model_visible_size`) and of the whole set, compared
with `evals/baseline/tool_sizes.json`; the total may not grow by more than SIZE_GROWTH_LIMIT unless the
baseline is regenerated on purpose (`python -m evals --update-baseline`, or QDI_EVALS_UPDATE_BASELINE=1).
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.harness.wire_names import wire_names
from qdi_mcp.specs import ToolSpec, model_visible_size

BASELINE_PATH = Path(__file__).resolve().parents[1] / "baseline" / "tool_sizes.json"
UPDATE_BASELINE_ENV = "QDI_EVALS_UPDATE_BASELINE"
NAME_PATTERN = re.compile(r"^qdi_[a-z0-9_]{1,48}$")
SIMILARITY_THRESHOLD = 0.9
SIZE_GROWTH_LIMIT = 0.05
MIN_FIRST_SENTENCE_WORDS = 4
USAGE_CUE = re.compile(
    r"\b(use|used|using|when|whenever|before|after|afterwards|first|then|instead|prefer|start here|typically|"
    r"only if|to (?:find|see|check|diagnose|resume|copy|fill))\b",
    re.IGNORECASE,
)
_TOOL_REFERENCE = re.compile(r"\bqdi_[a-z0-9_]+")
_SENTENCE_END = re.compile(r"[.;:](?:\s|$)")

# Findings already reported to the lead, waiting for a spec change (specs are not ours to edit). They are
# listed as "pending" instead of failing; a test fails once one no longer occurs, so this list cannot rot.
PENDING_SPEC_FIXES: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Finding:
    tool: str
    rule: str
    message: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.tool, self.rule)


@dataclass
class SizeReport:
    sizes: dict[str, int]
    total: int
    baseline_total: int | None
    baseline_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def limit(self) -> int | None:
        if self.baseline_total is None:
            return None
        return int(self.baseline_total * (1 + SIZE_GROWTH_LIMIT))

    @property
    def within_budget(self) -> bool:
        return self.limit is not None and self.total <= self.limit

    @property
    def growth(self) -> float | None:
        if not self.baseline_total:
            return None
        return self.total / self.baseline_total - 1

    def problem(self) -> str | None:
        if self.baseline_total is None:
            return f"no size baseline at {BASELINE_PATH}; create it with `python -m evals --update-baseline`"
        if not self.within_budget:
            grown = sorted(
                ((n, s - self.baseline_sizes.get(n, 0)) for n, s in self.sizes.items()),
                key=lambda item: -item[1],
            )[:3]
            detail = ", ".join(f"{name} +{delta}" for name, delta in grown if delta > 0)
            return (
                f"tool definitions grew to {self.total} characters, {self.growth:+.1%} over the baseline "
                f"{self.baseline_total} (limit +{SIZE_GROWTH_LIMIT:.0%}; most growth: {detail}). Trim them, or "
                f"accept it on purpose: `python -m evals --update-baseline` (or {UPDATE_BASELINE_ENV}=1 pytest)"
            )
        return None


@dataclass
class LintReport:
    findings: list[Finding]
    pending: list[Finding]
    stale_pending: list[tuple[str, str]]
    sizes: SizeReport
    closest_pair: tuple[str, str, float] | None

    @property
    def ok(self) -> bool:
        return not self.findings and not self.stale_pending and self.sizes.problem() is None

    def problems(self) -> list[str]:
        lines = [f"{f.tool}: [{f.rule}] {f.message}" for f in self.findings]
        lines += [
            f"{tool}: [{rule}] listed in PENDING_SPEC_FIXES but no longer found; remove it from evals/harness/lint.py"
            for tool, rule in self.stale_pending
        ]
        size_problem = self.sizes.problem()
        if size_problem:
            lines.append(size_problem)
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
            "pending_spec_fixes": [asdict(f) for f in self.pending],
            "stale_pending": [list(item) for item in self.stale_pending],
            "sizes": {
                "total": self.sizes.total,
                "baseline_total": self.sizes.baseline_total,
                "limit": self.sizes.limit,
                "tools": self.sizes.sizes,
            },
            "closest_descriptions": list(self.closest_pair) if self.closest_pair else None,
        }


def first_sentence(text: str) -> str:
    match = _SENTENCE_END.search(text)
    return text[: match.start()] if match else text


def _check_name(spec: ToolSpec) -> Iterator[Finding]:
    if not NAME_PATTERN.match(spec.name) or "__" in spec.name or spec.name.endswith("_"):
        yield Finding(spec.name, "name", f"does not match {NAME_PATTERN.pattern} (single underscores, none trailing)")


def _check_what(spec: ToolSpec) -> Iterator[Finding]:
    words = first_sentence(spec.description).split()
    if len(words) < MIN_FIRST_SENTENCE_WORDS:
        yield Finding(
            spec.name, "what", f"the first sentence ({' '.join(words)!r}) is too short to say what the tool does"
        )


def _check_when(spec: ToolSpec) -> Iterator[Finding]:
    others = set(_TOOL_REFERENCE.findall(spec.description)) - {spec.name}
    if not USAGE_CUE.search(spec.description) and not others:
        yield Finding(
            spec.name,
            "when",
            "says what it does but not when to use it (no cue such as 'use when', 'before', 'prefer', 'instead', "
            "and no pointer to a better tool for other cases)",
        )


def _undescribed(schema: Any, path: str) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    for name, child in (schema.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        if not isinstance(child, dict) or not str(child.get("description") or "").strip():
            yield child_path
        yield from _undescribed(child, child_path)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _undescribed(items, f"{path}[]")


def _check_parameters(spec: ToolSpec) -> Iterator[Finding]:
    for path in _undescribed(spec.input_schema, ""):
        yield Finding(spec.name, "parameters", f"input property {path!r} has no description")


def _descriptions(schema: Any, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("description"), str):
        yield path, schema["description"]
    for name, child in (schema.get("properties") or {}).items():
        yield from _descriptions(child, f"{path}.{name}")
    yield from _descriptions(schema.get("items"), f"{path}[]")


def _check_wire_names(spec: ToolSpec) -> Iterator[Finding]:
    texts = [("description", spec.description), *_descriptions(spec.input_schema, "input")]
    texts += [(f"hints.{name}", template) for name, template in spec.hints.items()]
    for where, text in texts:
        names = wire_names(text)
        if names:
            yield Finding(
                spec.name, "wire_name", f"{where} names {', '.join(names)}: name our tools and arguments instead"
            )


def similar_descriptions(specs: Sequence[ToolSpec]) -> list[tuple[str, str, float]]:
    """Every pair of tools with their description similarity, most similar first."""
    pairs = [
        (a.name, b.name, difflib.SequenceMatcher(None, a.description, b.description).ratio())
        for a, b in itertools.combinations(specs, 2)
    ]
    return sorted(pairs, key=lambda pair: -pair[2])


def _check_similar(specs: Sequence[ToolSpec]) -> Iterator[Finding]:
    for first, second, ratio in similar_descriptions(specs):
        if ratio < SIMILARITY_THRESHOLD:
            break
        yield Finding(first, "similar", f"description is {ratio:.0%} identical to {second}'s; say how they differ")


def lint_specs(specs: Iterable[ToolSpec]) -> list[Finding]:
    """Every finding of every rule except sizes (see `size_report`)."""
    ordered = sorted(specs, key=lambda s: s.name)
    findings: list[Finding] = []
    for spec in ordered:
        for rule in (_check_name, _check_what, _check_when, _check_parameters, _check_wire_names):
            findings.extend(rule(spec))
    findings.extend(_check_similar(ordered))
    return findings


def current_sizes(specs: Iterable[ToolSpec]) -> dict[str, int]:
    return {spec.name: model_visible_size(spec) for spec in sorted(specs, key=lambda s: s.name)}


def load_baseline(path: Path = BASELINE_PATH) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("total"), int) or not isinstance(data.get("tools"), dict):
        raise ValueError(f"{path}: expected {{'total': int, 'tools': {{name: int}}}}; regenerate it")
    return data


def write_baseline(specs: Iterable[ToolSpec], path: Path = BASELINE_PATH) -> dict[str, Any]:
    sizes = current_sizes(specs)
    data = {
        "what": "model-visible bytes per tool (name + description + input schema); see evals/harness/lint.py",
        "total": sum(sizes.values()),
        "tools": sizes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def size_report(specs: Iterable[ToolSpec], baseline: dict[str, Any] | None) -> SizeReport:
    sizes = current_sizes(specs)
    return SizeReport(
        sizes=sizes,
        total=sum(sizes.values()),
        baseline_total=baseline["total"] if baseline else None,
        baseline_sizes=dict(baseline["tools"]) if baseline else {},
    )


def run_lint(
    specs: Sequence[ToolSpec],
    *,
    baseline_path: Path = BASELINE_PATH,
    pending: frozenset[tuple[str, str]] = PENDING_SPEC_FIXES,
) -> LintReport:
    found = lint_specs(specs)
    new = [f for f in found if f.key not in pending]
    known = [f for f in found if f.key in pending]
    found_keys = {f.key for f in found}
    stale = sorted(key for key in pending if key not in found_keys)
    pairs = similar_descriptions(specs)
    return LintReport(
        findings=new,
        pending=known,
        stale_pending=stale,
        sizes=size_report(specs, load_baseline(baseline_path)),
        closest_pair=pairs[0] if pairs else None,
    )
