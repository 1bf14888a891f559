"""`qdi-mcp runbook FILE.yaml`: run a reviewed YAML runbook through the same server and policy an agent gets.

Exit codes: 0 every step passed, 1 a step failed or an expectation did not hold, 2 invalid runbook or
arguments (nothing ran), 3 a destructive step needs confirmation (`confirm: true` in the runbook and --yes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from qdi_mcp.cli.backend import open_client
from qdi_mcp.runbook import (
    EXIT_INVALID,
    Reporter,
    RunbookError,
    RunOptions,
    RunReport,
    load_runbook,
    make_reporter,
    open_session,
    parse_var_arguments,
    run_runbook,
)
from qdi_mcp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from qdi_mcp.api import QlikClient


def run_runbook_command(settings: Settings, args: argparse.Namespace) -> int:
    stdout: TextIO = sys.stdout
    return anyio.run(
        lambda: run_runbook_file(
            Path(args.file),
            settings,
            var_arguments=args.var or [],
            dry_run=args.dry_run,
            yes=args.yes,
            json_output=args.json,
            stdout=stdout,
            is_terminal=stdout.isatty(),
        )
    )


async def run_runbook_file(
    path: Path,
    settings: Settings,
    *,
    var_arguments: Sequence[str] = (),
    dry_run: bool = False,
    yes: bool = False,
    json_output: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    is_terminal: bool = False,
    reporter: Reporter | None = None,
    client: QlikClient | None = None,
    emulator: Any | None = None,
    context_options: dict[str, Any] | None = None,
) -> int:
    """Check and run the runbook at `path`; the exit code. Tests pass a pre-built client (or emulator) and
    the waits' clock options."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        runbook = load_runbook(path)
        variables = runbook.resolve_vars(parse_var_arguments(var_arguments))
        if not settings.demo:
            settings.require_tenant()
    except RunbookError as exc:
        _invalid(exc, json_output=json_output, stdout=stdout, stderr=stderr, source=str(path))
        return EXIT_INVALID
    except SettingsError as exc:
        print(f"qdi-mcp: {exc}", file=stderr)
        return EXIT_INVALID
    reporter = reporter or make_reporter(json_output=json_output, stream=stdout, is_terminal=is_terminal)
    options = RunOptions(variables, dry_run=dry_run, yes=yes)
    async with AsyncExitStack() as stack:
        qlik = (
            client if client is not None else await stack.enter_async_context(open_client(settings, emulator=emulator))
        )
        session = await stack.enter_async_context(open_session(settings, qlik, context_options=context_options))
        report = await run_runbook(runbook, session, options=options, reporter=reporter)
    if report.invalid and not json_output:
        print(f"qdi-mcp runbook: {path}: {report.message}:", file=stderr)
        for problem in report.problems:
            print(f"  {problem}", file=stderr)
    return report.exit_code


def _invalid(exc: RunbookError, *, json_output: bool, stdout: TextIO, stderr: TextIO, source: str) -> None:
    if json_output:
        report = RunReport(runbook="", source=source, variables={}, problems=list(exc.problems), message=str(exc))
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False), file=stdout)
    print(f"qdi-mcp runbook: {exc}", file=stderr)
