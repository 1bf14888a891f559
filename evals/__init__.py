"""Evaluations and benchmarks of qdi-mcp, run against the embedded emulator (`python -m evals.perf`)."""
