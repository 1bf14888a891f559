"""`python -m evals`: offline agent evals (reference trajectories, end-state checks), the lint of what agents
see, and optionally the same tasks played by a real model.

    python -m evals                        # every task offline + lint + results budget; exit 1 if anything fails
    python -m evals --task fix-failed-prepare --task promote-to-production
    python -m evals --update-baseline      # accept the current tool definition sizes
    python -m evals --model-trials 3       # also run a configured model, 3 trials per task (pass^3)

Exit codes: 0 all green, 1 a task or the lint failed, 2 invalid tasks or configuration.
Model results are reported, never turned into a failing exit code: they vary from run to run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

from evals.harness.agent import format_trials, run_model_trials, summarise_trials
from evals.harness.lint import UPDATE_BASELINE_ENV, run_lint, write_baseline
from evals.harness.models import NO_MODEL_MESSAGE, ModelConfigError, model_from_env
from evals.harness.report import RESULTS_PATH, format_table, results_budget_problem, write_json
from evals.harness.runner import run_offline
from evals.harness.tasks import TASKS_DIR, TaskError, load_tasks
from qdi_mcp.specs import load_specs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", default=[], metavar="ID", help="run only this task (repeatable)")
    parser.add_argument("--tasks-dir", type=Path, default=TASKS_DIR, help=f"task files (default {TASKS_DIR})")
    parser.add_argument("--json", type=Path, default=RESULTS_PATH, help=f"results file (default {RESULTS_PATH})")
    parser.add_argument("--update-baseline", action="store_true", help="rewrite evals/baseline/tool_sizes.json")
    parser.add_argument("--model-trials", type=int, default=0, metavar="K", help="trials per task with a model")
    return parser


def _model_section(trials: int, tasks: Sequence, out: list[str]) -> dict | None:
    model = model_from_env()
    if model is None:
        out.append(NO_MODEL_MESSAGE)
        return None
    if trials < 1:
        out.append(f"model runs: {model.label} is configured; add --model-trials K to run it")
        anyio.run(model.aclose)
        return None

    async def run() -> list:
        try:
            return await run_model_trials(model, tasks, trials)
        finally:
            await model.aclose()

    summary = summarise_trials(anyio.run(run), trials)
    out.append(format_trials(summary, model.label))
    return {"model": model.label, **summary}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    specs = load_specs()
    if args.update_baseline or os.environ.get(UPDATE_BASELINE_ENV) == "1":
        baseline = write_baseline(specs)
        print(f"tool size baseline updated: {baseline['total']} characters over {len(baseline['tools'])} tools")
    try:
        tasks = load_tasks(args.tasks_dir, only=args.task)
    except TaskError as exc:
        print(f"evals: {exc}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    outcomes = run_offline(tasks)
    print(format_table(outcomes))
    print(f"({len(outcomes)} tasks offline in {time.perf_counter() - started:.1f} s)")
    # The budget is a mean over the whole task set: a subset (--task) says nothing about it.
    budget_problem = None if args.task else results_budget_problem(outcomes)
    if budget_problem:
        print(f"BUDGET FAIL {budget_problem}")

    lint = run_lint(specs)
    print(
        f"lint: {len(specs)} tools, {lint.sizes.total} model-visible bytes (baseline {lint.sizes.baseline_total}, "
        f"limit {lint.sizes.limit}); {len(lint.pending)} findings pending a spec fix"
    )
    for finding in lint.pending:
        print(f"  pending: {finding.tool}: [{finding.rule}] {finding.message}")
    for problem in lint.problems():
        print(f"LINT FAIL {problem}")

    lines: list[str] = []
    try:
        model = _model_section(args.model_trials, tasks, lines)
    except ModelConfigError as exc:
        print(f"evals: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))

    write_json(args.json, outcomes, lint=lint.to_dict(), model_runs=model)
    print(f"results: {args.json}")
    return 0 if all(o.passed for o in outcomes) and lint.ok and not budget_problem else 1


if __name__ == "__main__":
    sys.exit(main())
