"""What every tool handler receives and returns, and the registry that maps tool names to handlers.

A handler is plain async code: `(ctx, arguments) -> ToolResult`. It knows nothing about MCP; the server binds
progress reporting into `ctx.progress` and turns the result into a `CallToolResult`. Tool metadata (schemas,
annotations, safety) is not here: it lives in `tool_specs/` and the server reads it from there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from qdi_mcp.api import QlikClient
from qdi_mcp.specs import ToolSpec

if TYPE_CHECKING:
    # The server hands every call its work folder; tools use it and never import the guard.
    from qdi_mcp.guard.workdir import Workdir

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


async def _no_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


# One step of a multi-step call (a promotion) as it ended: (step, outcome, detail).
StepRecorder = Callable[[str, str, str | None], None]


def _no_steps(step: str, outcome: str, detail: str | None) -> None:
    return None


@dataclass
class ToolContext:
    # The spec of the tool being called: handlers read its per-tool facts (`resume_with`, `wrapped_by`) from it.
    tool: ToolSpec
    client: QlikClient
    workdir: Workdir
    progress: ProgressFn = _no_progress
    # Waits read these; tests and benchmarks shrink them instead of sleeping.
    options: dict[str, Any] = field(default_factory=dict)
    # What this call has started on the tenant and how to follow it, set once Qlik accepted the write: if the
    # client cancels the call afterwards, the audit line says what runs on and how to resume it.
    started: str | None = None
    # Work-folder files as this call first read them (issue 15, break 1): the confirmation hashes, the preview
    # checks and the handler uploads the same bytes, so a file swapped on disk mid-call cannot slip through.
    read_files: dict[str, bytes] = field(default_factory=dict)

    def read_import(self, path: str, *, argument: str = "path") -> bytes:
        """The zip at `path` in the work folder (checked: inside it, a safe zip), read once per call."""
        if path not in self.read_files:
            self.read_files[path] = self.workdir.read_import(path, argument=argument)
        return self.read_files[path]

    # Files this call wrote into the work folder (relative paths): the server audits them, even for a read tool.
    files_written: list[str] = field(default_factory=list)
    # Set by the server for a write: an audit line per step of a call that changes the tenant in several steps,
    # so a failure half-way leaves a record of what was done (handlers never import the guard's audit log).
    record_step: StepRecorder = _no_steps
    # Backups before design changes (tools.backups): how many to keep per project (QDI_MCP_BACKUP_KEEP), or None
    # when they are off (QDI_MCP_BACKUP=off; also the default of a context built outside the server).
    backups_kept: int | None = None


@dataclass
class ToolResult:
    structured: dict[str, Any]
    summary: str


Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolResult]]

HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of tool `name`; a test checks every spec has exactly one."""

    def register(fn: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"two handlers registered for {name}")
        HANDLERS[name] = fn
        return fn

    return register


def dump(model: BaseModel) -> dict[str, Any]:
    """A wire model as the snake_case dict tools return (unset fields dropped)."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=False)


# A list is for finding an id: each item says what picks it (name, type, space). Its owner and description are one
# qdi_get_project / qdi_get_task away; in a list they would cost every agent on every listing (Qlik's own project
# list does not show them either).
LIST_LEAVES_OUT = ("owner_id", "description")


def listed(item: dict[str, Any], *, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """`item` as a list shows it: without LIST_LEAVES_OUT and the keys in `also`."""
    return {key: value for key, value in item.items() if key not in LIST_LEAVES_OUT + also}


# A preview check runs before a destructive call's preview is shown (named by the spec's `preview.check`): it returns
# what it found, to show in the preview, or raises ToolFailure to refuse the call before anyone is asked. Sentences
# under the keys `current_state` and `consequence` are added to those texts of the preview (see tools/impact.py).
PreviewCheck = Callable[[ToolContext, dict[str, Any]], Awaitable[dict[str, Any]]]

PREVIEW_CHECKS: dict[str, PreviewCheck] = {}


def preview_check(name: str) -> Callable[[PreviewCheck], PreviewCheck]:
    def register(fn: PreviewCheck) -> PreviewCheck:
        if name in PREVIEW_CHECKS:
            raise RuntimeError(f"two preview checks registered as {name}")
        PREVIEW_CHECKS[name] = fn
        return fn

    return register


# A precondition (named by the spec's `precondition`) runs before anything else of a call, confirmation included:
# it returns None when the call has something to do, or the result that answers it when it has nothing to do (a
# stop of a task that is not running). Such a result is returned as is: nobody is asked, nothing is sent to Qlik.
# Its structured content has the spec fragment `precondition_unmet`'s shape.
Precondition = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolResult | None]]

PRECONDITIONS: dict[str, Precondition] = {}


def precondition(name: str) -> Callable[[Precondition], Precondition]:
    def register(fn: Precondition) -> Precondition:
        if name in PRECONDITIONS:
            raise RuntimeError(f"two preconditions registered as {name}")
        PRECONDITIONS[name] = fn
        return fn

    return register
