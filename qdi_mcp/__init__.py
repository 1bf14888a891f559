"""qdi-mcp: an MCP server for Qlik Cloud Data Integration projects."""

__version__ = "0.1.0"
