"""Benchmarks that print figures (and write them to evals/results/perf.json); tests never assert on them.

Each benchmark lives in its own module with a `run_…() -> list[dict]`, a `print_table(rows)` and (except
`waits`, whose goals `__main__` reads from its rows) a `goals(rows)` for the final goals table:
`coldstart` (spawn to first tools/list, against `minimal_server`), `overhead` (per-call cost in process),
`sizes` (what agents read), `waits` (polls and detection lag on the virtual clock), `load` (streamable HTTP
against `load_server`, the emulator's rate limits on). `report` holds what they share.
"""
