"""A live spinner, and a bar once the tool reports a total, for a tool call that waits (terminals only).

Fed by MCP progress notifications (`call_tool(..., progress_callback=display.update)`): the waits report
finished tasks plus a fraction of the time budget, against the number of tasks, so the bar moves on every
poll. Shared by `qdi-mcp runbook` and `qdi-mcp call`.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


class ToolProgress:
    def __init__(self, console: Console, *, transient: bool = True) -> None:
        self.console = console
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[message]}", markup=False),
            console=console,
            transient=transient,
        )
        self._task: TaskID | None = None
        self._started = False
        self.updates = 0  # how many progress notifications arrived (tests and summaries read it)

    def __enter__(self) -> ToolProgress:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if not self._started:
            self._progress.start()
            self._started = True

    def stop(self) -> None:
        self.end()
        if self._started:
            self._progress.stop()
            self._started = False

    def begin(self, description: str) -> None:
        """Show a spinner for a new call (replacing the previous one)."""
        self.end()
        self._task = self._progress.add_task(description, total=None, message="waiting for the server")

    def end(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None

    async def update(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates += 1
        if self._task is None:
            return
        self._progress.update(
            self._task,
            completed=progress if total else 0,
            total=total or None,
            message=_one_line(message or ""),
        )

    def print(self, *objects: object) -> None:
        """Print above the live display (it stays at the bottom)."""
        self._progress.console.print(*objects)


def _one_line(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
