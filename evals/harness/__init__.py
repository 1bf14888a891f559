"""The offline agent-eval harness: task files, fixtures, the in-process stack, the reference runner, end-state
checks, the lint of tool definitions, reports, and the optional real-model runner.

Modules: `tasks` (schema and loader), `templates` (references between steps), `fixtures` (start states),
`stack` (emulator -> client -> server -> mcp.Client on a virtual clock), `runner` (reference trajectories),
`checks` and `state` (end-state checks), `transcript` (calls and bytes), `report`, `lint`, `models` and
`agent` (real-model runs).
"""

from evals.harness.runner import TaskOutcome, run_offline, run_reference
from evals.harness.tasks import EvalTask, TaskError, load_tasks

__all__ = ["EvalTask", "TaskError", "TaskOutcome", "load_tasks", "run_offline", "run_reference"]
