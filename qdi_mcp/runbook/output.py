"""How a run looks: a live display and a summary table on a terminal, plain lines otherwise (CI logs), or a
single JSON report with `--json`.

Plain lines: one when a call starts, one per finished step, and while a call waits a heartbeat with the wait's
latest progress at most every `PLAIN_HEARTBEAT_SECONDS`: CI services end a job that prints nothing for a while
(CircleCI after 10 minutes), and a prepare or a full load can take longer than that. The server's waits report
progress every few seconds, so the heartbeat needs no timer of its own."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qdi_mcp.runbook.model import Runbook, Step
from qdi_mcp.runbook.progress import ToolProgress
from qdi_mcp.runbook.report import (
    FAILED,
    NEEDS_CONFIRMATION,
    NOT_RUN,
    PASSED,
    WOULD_CALL,
    RunReport,
    StepRecord,
    to_jsonable,
)
from qdi_mcp.runbook.runner import SilentReporter

_WORDS = {PASSED: "ok", FAILED: "FAIL", NEEDS_CONFIRMATION: "CONFIRM", WOULD_CALL: "plan", NOT_RUN: "skip"}
_STYLES = {PASSED: "green", FAILED: "bold red", NEEDS_CONFIRMATION: "bold yellow", WOULD_CALL: "cyan", NOT_RUN: "dim"}
_MAX_DETAIL = 400
PLAIN_HEARTBEAT_SECONDS = 60.0


def step_details(record: StepRecord) -> str:
    """The one-line story of a step: its outcome, and for a planned step what it would be called with."""
    if record.status == NOT_RUN:
        return record.message or "not run"
    details = record.message
    confirmed = [call for call in record.calls if call.confirmed]
    if confirmed and confirmed[0].preview:
        preview = confirmed[0].preview
        details = f"confirmed with --yes: {preview.get('action')} on {preview.get('target')}. {details}"
    if record.status == WOULD_CALL and record.calls:
        call = record.calls[0]
        shown = json.dumps(to_jsonable(call.arguments), ensure_ascii=False, separators=(", ", ": "))
        more = f" (and {len(record.calls) - 1} more)" if len(record.calls) > 1 else ""
        each = f" for each of {call.item}" if call.item and call.item.startswith("<") else ""
        details = f"would call{each} with {shown}{more}" + (f"; {call.note}" if call.note else "") + f"; {details}"
    return _clip(details)


def count_steps(count: int) -> str:
    return f"{count} step" + ("" if count == 1 else "s")


def status_word(status: str) -> str:
    return _WORDS.get(status, status)


def finished_line(report: RunReport) -> str:
    """The last line of a run. Time and exit code in parentheses: a message may end in an instruction ("run with
    --yes"), which a trailing "in 0.0s" would seem to qualify."""
    return f"{report.status}: {report.message} ({report.duration_seconds:.1f}s, exit {report.exit_code})"


class PlainReporter:
    """Lines only, nothing moving: what CI logs need. A line when a call starts, a heartbeat while it waits (at
    most every `heartbeat_seconds`, with the wait's latest progress), a line per finished step."""

    def __init__(
        self,
        stream: TextIO,
        *,
        heartbeat_seconds: float = PLAIN_HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.heartbeat_seconds = heartbeat_seconds
        self._clock = clock
        self._total_steps = 0
        self._call = ""  # "[i/n] step · item": the call in flight
        self._call_started = 0.0
        self._last_line = 0.0

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self._last_line = self._clock()

    def run_started(self, runbook: Runbook, report: RunReport) -> None:
        self._total_steps = len(runbook.steps)
        mode = " (dry run: read tools only)" if report.dry_run else ""
        self._line(f"runbook {runbook.name}: {count_steps(len(runbook.steps))}{mode}")

    def call_started(self, step: Step, item: str | None) -> None:
        self._call = f"[{step.index + 1}/{self._total_steps}] {step.name}" + (f" · {_clip(item, 80)}" if item else "")
        self._line(f"{'start':<7} {self._call} ({step.tool})")
        self._call_started = self._last_line

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        now = self._clock()
        if now - self._last_line < self.heartbeat_seconds:
            return
        # The waits' messages carry the progress people read ("2/5 tasks done"); the number is for bars.
        said = _clip(message, 200) if message else "waiting"
        self._line(f"{'wait':<7} {self._call} {now - self._call_started:.0f}s: {said}")

    def step_finished(self, record: StepRecord, total_steps: int) -> None:
        word = status_word(record.status).ljust(7)
        self._line(
            f"{word} [{record.index + 1}/{total_steps}] {record.name} ({record.tool}) "
            f"{record.duration_seconds:.1f}s: {step_details(record)}"
        )

    def run_finished(self, report: RunReport) -> None:
        if report.invalid:
            return  # the command prints the problems
        self._line(finished_line(report))


class JsonReporter(SilentReporter):
    """Silent while running; the whole report as JSON at the end (stdout stays machine-readable)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def run_finished(self, report: RunReport) -> None:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str), file=self.stream, flush=True)


class RichReporter:
    """A live spinner/bar for the call in flight, a line per finished step, and a summary table at the end."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = ToolProgress(console)

    def run_started(self, runbook: Runbook, report: RunReport) -> None:
        mode = " [cyan](dry run: read tools only)[/]" if report.dry_run else ""
        self.console.print(f"[bold]{_escape(runbook.name)}[/]: {count_steps(len(runbook.steps))}{mode}")
        if runbook.description:
            self.console.print(Text(runbook.description.strip(), style="dim"))
        self.live.start()

    def call_started(self, step: Step, item: str | None) -> None:
        self.live.begin(f"{step.name}" + (f" · {item}" if item else ""))

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self.live.update(progress, total, message)

    def step_finished(self, record: StepRecord, total_steps: int) -> None:
        self.live.end()
        line = Text()
        line.append(f"{status_word(record.status):<7} ", style=_STYLES.get(record.status, ""))
        line.append(f"[{record.index + 1}/{total_steps}] {record.name} ", style="bold")
        line.append(f"({record.tool}) {record.duration_seconds:.1f}s ", style="dim")
        line.append(step_details(record))
        self.live.print(line)

    def run_finished(self, report: RunReport) -> None:
        self.live.stop()
        if report.invalid:
            return
        self.console.print(summary_table(report))
        style = _STYLES.get(report.status, "bold green" if report.exit_code == 0 else "bold red")
        self.console.print(
            Text(
                finished_line(report),
                style=style,
            )
        )


def summary_table(report: RunReport) -> Table:
    table = Table(title=f"{report.runbook}" + (" (dry run)" if report.dry_run else ""), title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("details", overflow="fold", ratio=1)
    for record in report.steps:
        step = Text(f"{record.index + 1}. {record.name}\n", style="bold")
        step.append(record.tool, style="dim")
        table.add_row(
            step,
            Text(status_word(record.status), style=_STYLES.get(record.status, "")),
            f"{record.duration_seconds:.1f}s",
            Text(_clip(step_details(record), 200)),
        )
    return table


def make_reporter(
    *,
    json_output: bool,
    stream: TextIO,
    is_terminal: bool,
    console: Console | None = None,
    heartbeat_seconds: float = PLAIN_HEARTBEAT_SECONDS,
) -> Any:
    if json_output:
        return JsonReporter(stream)
    if is_terminal:
        return RichReporter(console or Console(file=stream))
    return PlainReporter(stream, heartbeat_seconds=heartbeat_seconds)


def _clip(text: str, limit: int = _MAX_DETAIL) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
