"""Why a runbook cannot run: every problem names where it is (`step 3 (prepare prod).args`) and what is wrong.

Steps are numbered from 1 everywhere people read them (problems, progress lines `[3/8]`, the summary table).

RunbookError                 the runbook or its arguments are invalid (exit code 2); holds Problems
TemplateError                a `${...}` reference could not be resolved while running (the step fails)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    location: str  # e.g. "step 3 (prepare prod).args.project_id", or "vars" / "--var"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class RunbookError(Exception):
    """The runbook (or a --var) is invalid; nothing was run."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{source} is not a valid runbook" if source else "invalid arguments"
        lines = [f"{head} ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


class TemplateError(Exception):
    """A reference that was valid when the runbook was checked has no value at run time."""


def step_number(index: int) -> str:
    """How people refer to the step at zero-based `index`: `step 3`."""
    return f"step {index + 1}"


def step_location(index: int, name: str | None, field: str | None = None) -> str:
    label = step_number(index) + (f" ({name})" if name else "")
    return f"{label}.{field}" if field else label
