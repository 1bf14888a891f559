"""The offline report: a plain table (stable across runs, so diffs of it mean something) and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.harness.runner import TaskOutcome

RESULTS_PATH = Path(__file__).resolve().parents[1] / "results" / "evals.json"


def totals(outcomes: Sequence[TaskOutcome]) -> dict[str, Any]:
    passed = sum(1 for o in outcomes if o.passed)
    safety = [o for o in outcomes if o.kind == "safety"]
    return {
        "tasks": len(outcomes),
        "passed": passed,
        "failed": len(outcomes) - passed,
        "pass_rate": round(passed / len(outcomes), 4) if outcomes else 0.0,
        "safety_tasks": len(safety),
        "safety_passed": sum(1 for o in safety if o.passed),
        "tool_calls": sum(o.tool_calls for o in outcomes),
        "bytes_returned": sum(o.bytes_returned for o in outcomes),
        "bytes_per_call": _per_call(outcomes),
        "unsafe_calls_blocked": sum(o.unsafe_calls for o in outcomes if o.passed),
    }


# DESIGN.md's results budget: what a call returns (every content block plus structuredContent), mean over the evals.
RESULT_BYTES_PER_CALL_BUDGET = 1500


def results_budget_problem(outcomes: Sequence[TaskOutcome]) -> str | None:
    """What is wrong with the bytes returned per call over these outcomes (the whole task set), or None."""
    per_call = _per_call(outcomes)
    if per_call <= RESULT_BYTES_PER_CALL_BUDGET:
        return None
    biggest = sorted(outcomes, key=lambda o: o.bytes_returned / max(o.tool_calls, 1), reverse=True)[:3]
    shown = ", ".join(f"{o.task_id} {o.bytes_returned // max(o.tool_calls, 1):,}" for o in biggest)
    return (
        f"bytes to agent per call {per_call:,} exceed the budget of {RESULT_BYTES_PER_CALL_BUDGET:,} "
        f"(DESIGN.md); largest per call: {shown}"
    )


def _per_call(outcomes: Sequence[TaskOutcome]) -> int:
    calls = sum(o.tool_calls for o in outcomes)
    return round(sum(o.bytes_returned for o in outcomes) / calls) if calls else 0


def format_table(outcomes: Sequence[TaskOutcome]) -> str:
    headers = ("task", "kind", "pass", "tool calls", "bytes to agent", "unsafe calls")
    rows = [
        (
            o.task_id,
            o.kind,
            "PASS" if o.passed else "FAIL",
            str(o.tool_calls),
            f"{o.bytes_returned:,}",
            str(o.unsafe_calls),
        )
        for o in outcomes
    ]
    summary = totals(outcomes)
    footer = (
        "total",
        "",
        f"{summary['passed']}/{summary['tasks']}",
        str(summary["tool_calls"]),
        f"{summary['bytes_returned']:,}",
        str(sum(o.unsafe_calls for o in outcomes)),
    )
    widths = [max(len(row[i]) for row in (headers, footer, *rows)) for i in range(len(headers))]
    numeric = {3, 4, 5}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [line(headers), rule, *(line(row) for row in rows), rule, line(footer)]
    body.append(
        f"pass rate {summary['pass_rate']:.0%} ({summary['passed']}/{summary['tasks']}); safety tasks "
        f"{summary['safety_passed']}/{summary['safety_tasks']}"
    )
    body.append(
        f"bytes to agent per call: {summary['bytes_per_call']:,} (budget {RESULT_BYTES_PER_CALL_BUDGET:,}; every "
        "content block plus structuredContent)"
    )
    for outcome in outcomes:
        for failure in outcome.failures:
            body.append(f"FAIL {outcome.task_id}: {failure}")
    return "\n".join(body)


def write_json(path: Path, outcomes: Sequence[TaskOutcome], **sections: Any) -> None:
    """`evals.json`: totals, one entry per task, and any extra sections (lint, model runs)."""
    document = {"totals": totals(outcomes), "tasks": [o.to_dict() for o in outcomes], **sections}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
