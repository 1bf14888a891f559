"""Preconditions (issue 17, item 3): checks the server runs before a call asks anyone to confirm it, answering a
call that has nothing to do instead of running it. Named by a spec's `precondition:`; registered in
`tools.base.PRECONDITIONS`.

`task_running`: a stop of a task that is not running (never run, finished, failed, stopped, or already stopping)
has nothing to stop. Asking a person to confirm it, sending Qlik a request it refuses with a 400 and auditing an
"executed" stop would all be wrong, so the call is answered `not_running` with the task's state.
"""

from __future__ import annotations

from typing import Any

from qdi_mcp.tenant_text import plain, tenant
from qdi_mcp.tools.base import ToolContext, ToolResult, precondition
from qdi_mcp.tools.impact import RUNNING_STATES


@precondition("task_running")
async def task_running(ctx: ToolContext, args: dict[str, Any]) -> ToolResult | None:
    project_id, task_id = args["project_id"], args["task_id"]
    state = await ctx.client.get_task_state(project_id, task_id)
    run = state.last_run.state if state.last_run else None
    if run in RUNNING_STATES:
        return None
    name = tenant(state.name) if state.name else task_id
    if run == "STOPPING":
        why = f"Task {name} is already stopping; nothing was sent. Follow it with {ctx.tool.resume_with}."
    else:
        last = f"last run {run}" if run else "never run"
        why = f"Task {name} is not running ({last}): there is nothing to stop, and nothing was sent."
    result = {
        "status": "not_running",
        "project_id": project_id,
        "task_id": task_id,
        "state": run,
        "message": plain(why),
    }
    return ToolResult(result, why)
