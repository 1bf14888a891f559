"""Texts of `--help` that belong to one command but are read when the parser is built: kept here, in a module
that imports nothing, so building the parser loads no command's dependencies."""

# Shown by `serve --help`: a remote bind that answers 421 to every request looks like a broken server.
REMOTE_BIND_HELP = """\
remote HTTP:
  --host beyond loopback needs --allow-remote, QDI_MCP_HTTP_TOKEN, and QDI_MCP_HTTP_ALLOWED_HOSTS listing the
  host names clients use (e.g. mcp.example.com:8000): requests naming any other Host are answered
  421 Misdirected Request (DNS-rebinding protection).

"""

__all__ = ["REMOTE_BIND_HELP"]
