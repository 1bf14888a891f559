"""What every benchmark shares: the results file (one key per benchmark) and the final goals table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO


def mark(ok: bool | None) -> str:
    return "ok" if ok else "MISSED"


def goal(figure: str, measured: str, target: str, ok: bool | None) -> dict[str, Any]:
    """One row of the goals table."""
    return {"figure": figure, "measured": measured, "goal": target, "ok": bool(ok)}


def write_results(key: str, rows: list[dict[str, Any]], path: Path) -> None:
    """Store `rows` under `key` in the results file, keeping what other benchmarks wrote there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            document = {}
    document[key] = rows
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def print_goals(goals: list[dict[str, Any]], file: TextIO | None = None) -> bool:
    """The final table: figure, measured, goal, met? Returns whether every goal was met."""
    out = file or sys.stdout
    print("Goals", file=out)
    header = f"{'figure':<44} {'measured':>14} {'goal':>14} {'met?':>6}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for goal in goals:
        print(
            f"{goal['figure']:<44} {goal['measured']:>14} {goal['goal']:>14} {mark(goal['ok']):>6}",
            file=out,
        )
    met = all(goal["ok"] for goal in goals)
    print(f"goals: {'all met' if met else 'NOT all met'}", file=out)
    return met
