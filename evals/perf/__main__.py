"""`python -m evals.perf`: run the benchmarks, print their tables, write evals/results/perf.json.

`--quick` runs a reduced variant (short actions, one seed) for smoke tests.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from evals.perf.waits import print_table as print_waits_table
from evals.perf.waits import run_waits, write_results

RESULTS = Path(__file__).resolve().parent.parent / "results" / "perf.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.perf", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced variant: 2 s and 30 s actions, one seed")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results file (default {RESULTS})")
    args = parser.parse_args(argv)
    rows = run_waits((2.0, 30.0), (1,)) if args.quick else run_waits()
    print_waits_table(rows)
    write_results(rows, args.output)
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
