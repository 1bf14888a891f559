"""YAML runbooks: named steps that call qdi-mcp tools through the same MCP server and policy an agent gets.

    runbook = load_runbook(Path("examples/runbooks/health-check.yaml"))
    variables = runbook.resolve_vars({"projects": "Orders*"})
    async with open_session(settings, client) as session:   # client: an open QlikClient
        report = await run_runbook(runbook, session, options=RunOptions(variables))
    report.exit_code   # 0 passed, 1 failed, 2 invalid, 3 needs confirmation

Modules: `loader` (YAML + JSON schema + `checks`), `templates` (`${...}`), `conditions` (expect/where),
`expectations` and `schema_paths` (expect/where paths checked against the tools' output schemas), `runner`,
`session` (the in-memory MCP client), `report`, `output` and `progress` (what people see).
"""

from qdi_mcp.runbook.errors import Problem, RunbookError, TemplateError
from qdi_mcp.runbook.loader import SCHEMA, load_runbook, parse_runbook, runbook_from_document
from qdi_mcp.runbook.model import Runbook, Step, coerce_var, parse_var_arguments
from qdi_mcp.runbook.output import JsonReporter, PlainReporter, RichReporter, make_reporter
from qdi_mcp.runbook.progress import ToolProgress
from qdi_mcp.runbook.report import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NEEDS_CONFIRMATION,
    EXIT_PASSED,
    CallRecord,
    RunReport,
    StepRecord,
)
from qdi_mcp.runbook.runner import Reporter, RunOptions, SilentReporter, run_runbook
from qdi_mcp.runbook.session import ToolSession, open_session

__all__ = [
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_NEEDS_CONFIRMATION",
    "EXIT_PASSED",
    "SCHEMA",
    "CallRecord",
    "JsonReporter",
    "PlainReporter",
    "Problem",
    "Reporter",
    "RichReporter",
    "RunOptions",
    "RunReport",
    "Runbook",
    "RunbookError",
    "SilentReporter",
    "Step",
    "StepRecord",
    "TemplateError",
    "ToolProgress",
    "ToolSession",
    "coerce_var",
    "load_runbook",
    "make_reporter",
    "open_session",
    "parse_runbook",
    "parse_var_arguments",
    "run_runbook",
    "runbook_from_document",
]
