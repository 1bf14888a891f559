"""One module per CLI command; imported lazily so `qdi-mcp --help` stays fast."""
