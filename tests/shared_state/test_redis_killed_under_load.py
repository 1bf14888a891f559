"""Redis killed in the middle of a load run: no call hangs, no token executes twice, reads keep working."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from qdi_testkit import TENANT_URL, make_settings
from redis_server import RedisServer

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.api.shared_ratelimit import SharedTierLimiter
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.server import build_server
from qdi_mcp.shared_state import Keyspace

pytestmark = pytest.mark.anyio
ORDERS_ID = "6650f0c1a2b3c4d5e6f70003"
STOP = {"project_id": ORDERS_ID, "task_id": "orders_replication-jeqy"}
TOKENS = 10
READS = 40


async def test_killing_redis_mid_load_hangs_nothing_and_executes_no_token_twice(
    tmp_path: Path, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = Emulator(rate_limits=True)
    settings = make_settings(tmp_path, secret="k" * 40, state_url=own_redis.url)
    limiter = SharedTierLimiter(own_redis.url, Keyspace("127.0.0.1:8765"))
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), limiter=limiter)
    outcomes: dict[str, list[str]] = {}
    reads: list[bool] = []
    async with client:
        server = build_server(settings, client)
        async with Client(server) as mcp:
            tokens = []
            for _ in range(TOKENS):
                preview = await mcp.call_tool("qdi_stop_task", STOP)
                assert preview.structured_content is not None
                tokens.append(preview.structured_content["confirmation_token"])

            async def confirmed(token: str) -> None:
                result = await mcp.call_tool("qdi_stop_task", STOP | {"confirmation_token": token})
                body: dict[str, Any] = result.structured_content or {}
                error = body.get("error") or {}
                passed = not result.is_error or not str(error.get("code", "")).startswith("confirmation_")
                # A confirmed stop of a task that already stops is answered not_running: nothing is sent.
                sent = "answered" if body.get("status") == "not_running" else "sent"
                outcomes.setdefault(token, []).append(f"passed, {sent}" if passed else str(error.get("message", "")))

            async def read() -> None:
                result = await mcp.call_tool("qdi_get_task_state", STOP)
                reads.append(not result.is_error)

            with caplog.at_level(logging.WARNING), anyio.fail_after(60):  # nothing may hang
                async with anyio.create_task_group() as group:
                    for index in range(READS):
                        group.start_soon(read)
                        if index % 4 == 0:
                            token = tokens[index // 4]
                            group.start_soon(confirmed, token)
                            group.start_soon(confirmed, token)  # the same token twice, at once
                        if index == READS // 2:
                            own_redis.stop()  # Redis dies in the middle of the run
                        await anyio.sleep(0.005)
    assert all(reads) and len(reads) == READS  # reads went on with the replica's own limits
    passed = [sum(text.startswith("passed") for text in results) for results in outcomes.values()]
    assert all(len(results) == 2 for results in outcomes.values())
    # A token's two simultaneous uses: at most one passed its confirmation, never both, Redis up or down...
    assert max(passed) == 1
    # ...and the tenant received exactly the stops that passed and were not answered by the precondition.
    sent = sum(results.count("passed, sent") for results in outcomes.values())
    assert sent >= 1 and emulator.requests.get("stop_task", 0) == sent
    refusals = [text for results in outcomes.values() for text in results if not text.startswith("passed")]
    assert any("already used" in text for text in refusals)
    # Uses after Redis died could not be recorded: refused, saying why and that nothing was done.
    assert any("cannot record a used confirmation in the shared state" in text for text in refusals)
    assert all(own_redis.password not in text for text in refusals)
    assert own_redis.password not in caplog.text
