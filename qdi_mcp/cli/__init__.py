"""The command line: the `qdi-mcp` entry point, its commands and the choice of back end (tenant or emulator)."""

from qdi_mcp.cli.main import main

__all__ = ["main"]
