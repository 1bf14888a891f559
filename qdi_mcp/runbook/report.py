"""What a run did, step by step: the records the runner fills in, the exit code, and the `--json` report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qdi_mcp.runbook.errors import Problem
from qdi_mcp.runbook.templates import Unresolved
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT

REPORT_VERSION = 1

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_NEEDS_CONFIRMATION = 3

# Step and call statuses.
PASSED = "passed"
FAILED = "failed"
NEEDS_CONFIRMATION = "needs_confirmation"
WOULD_CALL = "would_call"  # dry run: shown, not called
NOT_RUN = "not_run"  # the run stopped before this step


@dataclass
class CallRecord:
    """One tool call (a step without for_each makes one; a for_each step one per item)."""

    item: str | None
    arguments: Any
    status: str
    summary: str = ""
    result: Any = None
    error: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)  # expectations that did not hold
    preview: dict[str, Any] | None = None  # what a confirmed destructive call was about to do
    confirmed: bool = False
    note: str | None = None
    duration_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "item": self.item,
            "status": self.status,
            "arguments": to_jsonable(self.arguments),
            "summary": self.summary,
            "duration_seconds": round(self.duration_seconds, 3),
        }
        optional = {
            "result": to_jsonable(self.result),
            "error": self.error,
            "failed_expectations": self.failures or None,
            "preview": self.preview,
            "confirmed": self.confirmed or None,
            "note": self.note,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


@dataclass
class StepRecord:
    index: int
    name: str
    tool: str
    safety: str
    for_each: bool = False
    status: str = NOT_RUN
    message: str = ""
    duration_seconds: float = 0.0
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def result(self) -> Any:
        """What `${steps.<name>.result}` means: the structured result, or the list of them for for_each."""
        if self.for_each:
            return [call.result for call in self.calls]
        return self.calls[0].result if self.calls else None

    @property
    def error(self) -> Any:
        errors = [call.error for call in self.calls if call.error]
        return errors[0] if errors else None

    def template_values(self) -> dict[str, Any]:
        return {"result": self.result, "status": self.status, "error": self.error}

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "number": self.index + 1,  # as the text output and problems name it ("step 3")
            "name": self.name,
            "tool": self.tool,
            "safety": self.safety,
            "status": self.status,
            "message": self.message,
            "duration_seconds": round(self.duration_seconds, 3),
            "for_each": self.for_each,
            "calls": [call.to_json() for call in self.calls],
        }


@dataclass
class RunReport:
    runbook: str
    source: str
    variables: Mapping[str, Any]
    dry_run: bool = False
    description: str | None = None
    started_at: str = field(default_factory=lambda: _now_iso())
    duration_seconds: float = 0.0
    steps: list[StepRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    message: str = ""

    @property
    def invalid(self) -> bool:
        return bool(self.problems)

    @property
    def status(self) -> str:
        statuses = {step.status for step in self.steps}
        if self.invalid:
            return "invalid"
        if FAILED in statuses:
            return FAILED  # a failure outranks a pending confirmation: re-running with --yes would not help
        if NEEDS_CONFIRMATION in statuses:
            return NEEDS_CONFIRMATION
        return "planned" if self.dry_run else PASSED

    @property
    def exit_code(self) -> int:
        return {
            "invalid": EXIT_INVALID,
            FAILED: EXIT_FAILED,
            NEEDS_CONFIRMATION: EXIT_NEEDS_CONFIRMATION,
        }.get(self.status, EXIT_PASSED)

    def counts(self) -> dict[str, int]:
        return dict(Counter(step.status for step in self.steps))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "runbook": self.runbook,
            "description": self.description,
            "file": self.source,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "vars": to_jsonable(self.variables),
            "counts": self.counts(),
            "steps": [step.to_json() for step in self.steps],
            "problems": [{"location": p.location, "message": p.message} for p in self.problems],
        }


def to_jsonable(value: Any) -> Any:
    """Report-safe JSON: dry-run unknowns as text, and never a confirmation token."""
    if isinstance(value, Unresolved):
        return str(value)
    if isinstance(value, Mapping):
        return {key: to_jsonable(item) for key, item in value.items() if key != CONFIRMATION_TOKEN_ARGUMENT}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
