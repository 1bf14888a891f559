"""`qdi-mcp emulator`: the emulated Qlik tenant over HTTP, for curl, other clients, and runbook rehearsals."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def run_emulator(args: argparse.Namespace) -> int:
    from qdi_mcp.emulator import DEFAULT_API_KEY, serve

    speed = args.speed if args.speed is not None else float(os.environ.get("QDI_EMULATOR_SPEED", "1.0"))
    api_key = os.environ.get("QDI_EMULATOR_API_KEY") or DEFAULT_API_KEY
    try:
        asyncio.run(serve(args.host, args.port, speed=speed, api_key=api_key, allow_remote=args.allow_remote))
    except ValueError as exc:
        print(f"qdi-mcp emulator: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
