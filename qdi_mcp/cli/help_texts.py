"""Texts of `--help` that belong to one command but are read when the parser is built: kept here, in a module
that imports nothing, so building the parser loads no command's dependencies."""

# Shown by `serve --help`: a remote bind that answers 421 to every request looks like a broken server.
REMOTE_BIND_HELP = """\
remote HTTP:
  --host beyond loopback needs --allow-remote, QDI_MCP_HTTP_TOKEN, and QDI_MCP_HTTP_ALLOWED_HOSTS listing the
  host names clients use (e.g. mcp.example.com:8000): requests naming any other Host are answered
  421 Misdirected Request (DNS-rebinding protection).

"""
# Shown by `runbook --help`: CI scripts branch on these (qdi_mcp.runbook.report's EXIT_* constants).
RUNBOOK_EXIT_CODES = """\
exit codes:
  0  every step passed (in a dry run: every step it called)
  1  a step failed or an expectation did not hold
  2  the runbook, a --var or the configuration is invalid (nothing ran)
  3  a destructive step needs confirmation: confirm: true in the runbook and --yes (nothing ran)

"""

__all__ = ["REMOTE_BIND_HELP", "RUNBOOK_EXIT_CODES"]
