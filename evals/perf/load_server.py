"""The server under load: qdi-mcp over streamable HTTP on 127.0.0.1, against the emulator with rate limits ON.

`qdi-mcp serve --demo` keeps the demo emulator's rate limiting off (demos should not trip over it), so the load
benchmark builds the same server itself: `build_server` + `build_http_app` + uvicorn, with an
`Emulator(rate_limits=True, clock=SpeedClock(speed))` behind the QlikClient. It runs as a subprocess of the
benchmark, so its resident memory is the server's alone.

Time: the emulator runs `speed` times faster than real time, and so does everything on the server's side of
the API (the client's per-tier limiters, retry back-off, poll intervals): a 100-per-minute tier is 100 per
60 emulator seconds everywhere, and the emulator's accounting is the judge.

One extra route, `GET /perf/counters`, answers the emulator's books (requests and responses by operation)
and the busiest window of each rate tier, in emulator time. The first line on stdout is `port <n>`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import anyio
import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.cli.logs import configure_logging
from qdi_mcp.clock import SpeedClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.emulator.operations import OPERATIONS, match_operation
from qdi_mcp.server import build_server
from qdi_mcp.server.transports import bind_socket, build_http_app
from qdi_mcp.settings import Settings

HOST = "127.0.0.1"
TENANT_URL = "http://127.0.0.1:8765"  # only builds request URLs: the emulator answers in process
COUNTERS_PATH = "/perf/counters"
# what each tier admits in any one of its windows (Tier 1 and 2: 5 minutes; runtime state: 1 minute)
TIER_LIMITS = {op.tier.name: op.tier.budget for op in OPERATIONS}
TIER_WINDOWS = {op.tier.name: op.tier.window_seconds for op in OPERATIONS}


class TierRecorder(httpx.AsyncBaseTransport):
    """Notes when each API request reached the emulator (emulator time), by rate tier."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: SpeedClock) -> None:
        self.inner = inner
        self.clock = clock
        self.arrivals: dict[str, list[float]] = defaultdict(list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        operation = match_operation(request.method, request.url.path)
        if operation is not None:
            self.arrivals[operation.tier.name].append(self.clock.now())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def busiest_window(self) -> dict[str, int]:
        """Per tier, the most requests that arrived within any one window of that tier (emulator seconds)."""
        peaks: dict[str, int] = {}
        for tier, times in self.arrivals.items():
            ordered = sorted(times)
            peaks[tier] = max(
                bisect.bisect_left(ordered, start + TIER_WINDOWS[tier]) - index for index, start in enumerate(ordered)
            )
        return peaks


def with_counters(app: ASGIApp, emulator: Emulator, recorder: TierRecorder) -> ASGIApp:
    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == COUNTERS_PATH:
            body = json.dumps(
                {
                    "requests": dict(emulator.requests),
                    "responses": dict(emulator.responses),
                    "busiest_window": recorder.busiest_window(),
                    "tier_limits": TIER_LIMITS,
                }
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return serve


async def serve(speed: float, workdir: Path) -> None:
    import uvicorn

    # one clock for the emulator and the server's side of the API: both run `speed` times faster than real time
    clock = SpeedClock(speed)
    emulator = Emulator(rate_limits=True, clock=clock)
    recorder = TierRecorder(emulator.transport(), clock)
    settings = Settings.from_env({}, demo=True, workdir=workdir / "work", audit_log=workdir / "audit.jsonl")
    sock = bind_socket(HOST, 0)
    port = sock.getsockname()[1]
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=recorder, clock=clock)
    async with client:
        server = build_server(settings, client, context_options={"clock": clock})
        # The benchmark opens up to 100 sessions at once and measures throughput, not admission: room to spare
        # over the default cap (whose refusals tests/transports/test_http_serve.py checks).
        app = with_counters(build_http_app(server, host=HOST, port=port, max_sessions=500), emulator, recorder)
        config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="on")
        print(f"port {port}", flush=True)
        await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.perf.load_server", description=__doc__)
    parser.add_argument("--speed", type=float, default=50.0, help="emulator clock multiplier (default 50)")
    args = parser.parse_args(argv)
    configure_logging("WARNING", [])
    with tempfile.TemporaryDirectory(prefix="qdi-perf-load-") as folder:
        try:
            anyio.run(serve, args.speed, Path(folder))
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
