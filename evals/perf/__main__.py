"""`python -m evals.perf`: run the benchmarks, print one table per figure and a final goals table, and write
evals/results/perf.json (one key per benchmark, plus "goals").

Every figure that has a goal is a ratio against a reference measured in the same run, or a count: absolute
times drift on shared machines. `--quick` runs a reduced variant of each benchmark (for smoke tests);
`--only` picks benchmarks by name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.perf import coldstart, load, overhead, replicas, sizes
from evals.perf.report import print_goals, write_results
from evals.perf.waits import print_table as print_waits_table
from evals.perf.waits import run_waits

RESULTS = Path(__file__).resolve().parent.parent / "results" / "perf.json"

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Benchmark:
    run: Callable[[bool], Rows]
    print_table: Callable[[Rows], None]
    goals: Callable[[Rows], Rows]


def _waits_goals(rows: Rows) -> Rows:
    goals = [
        {
            "figure": f"wait {row['action_seconds']:g}s: detection lag (max)",
            "measured": f"{row['lag_max_seconds']:.3f}s",
            "goal": f"<= {row['lag_goal_seconds']:g}s",
            "ok": row["lag_ok"],
        }
        for row in rows
    ]
    goals += [
        {
            "figure": f"wait {row['action_seconds']:g}s: polls (max)",
            "measured": str(row["polls_max"]),
            "goal": f"<= {row['polls_goal']}",
            "ok": row["polls_ok"],
        }
        for row in rows
        if row["polls_goal"] is not None
    ]
    return goals


BENCHMARKS: dict[str, Benchmark] = {
    "coldstart": Benchmark(
        lambda quick: coldstart.run_coldstart(coldstart.QUICK_RUNS if quick else coldstart.RUNS),
        coldstart.print_table,
        coldstart.goals,
    ),
    "overhead": Benchmark(
        lambda quick: overhead.run_overhead(overhead.QUICK_BATCHES if quick else overhead.BATCHES),
        overhead.print_table,
        overhead.goals,
    ),
    "sizes": Benchmark(lambda quick: sizes.run_sizes(), sizes.print_table, sizes.goals),
    "waits": Benchmark(
        lambda quick: run_waits((2.0, 30.0), (1,)) if quick else run_waits(), print_waits_table, _waits_goals
    ),
    "load": Benchmark(lambda quick: load.run_load(quick=quick), load.print_table, load.goals),
    "replicas": Benchmark(replicas.run_replicas, replicas.print_table, replicas.goals),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.perf", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a reduced variant of every benchmark (smoke tests)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results file (default {RESULTS})")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        help="run only this benchmark (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    selected = args.only or list(BENCHMARKS)
    goals: Rows = []
    for name in selected:
        benchmark = BENCHMARKS[name]
        rows = benchmark.run(args.quick)
        benchmark.print_table(rows)
        print()
        write_results(name, rows, args.output)
        goals += benchmark.goals(rows)
        sys.stdout.flush()
    print_goals(goals)
    write_results("goals", goals, args.output)
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
