"""Benchmarks that print figures (and write them to evals/results/perf.json); tests never assert on them.

Each benchmark lives in its own module with a `run_…() -> list[dict]` and a `print_table(rows)`.
"""
