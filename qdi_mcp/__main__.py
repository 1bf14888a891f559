from qdi_mcp.cli import main

raise SystemExit(main())
