"""Project designs (for lineage) shared by replicas through one real Redis: exported once between changes, and a
write through any replica makes every replica read the new design."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from redis_server import RedisServer

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.shared_state import Keyspace, SharedDesignCache
from qdi_mcp.tools.lineage import LINEAGE_TTL_SECONDS, forget, project_lineage

pytestmark = pytest.mark.anyio
CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"


@asynccontextmanager
async def replica(emulator: Emulator, server: RedisServer) -> AsyncIterator[QlikClient]:
    """One replica's API client: its own connection to the shared Redis, the same tenant."""
    cache = SharedDesignCache(server.url, Keyspace("acme.eu.qlikcloud.com"))
    client = QlikClient(
        "http://127.0.0.1:8765",
        auth=ApiKeyAuth(DEFAULT_API_KEY),
        transport=emulator.transport(),
        clock=emulator.clock,
        design_cache=cache,
    )
    async with client:
        yield client


def exports(emulator: Emulator) -> int:
    return emulator.requests.get("export_project", 0)


async def test_replicas_export_a_project_once_and_a_write_anywhere_is_seen_everywhere(
    fresh_redis: RedisServer,
) -> None:
    emulator = Emulator(clock=ManualClock())
    async with replica(emulator, fresh_redis) as a, replica(emulator, fresh_redis) as b:
        first = await project_lineage(a, CUSTOMER_360_ID)
        assert exports(emulator) == 1
        second = await project_lineage(b, CUSTOMER_360_ID)
        assert exports(emulator) == 1  # replica B read A's export from Redis
        assert second.stages() == first.stages()
        await forget(b)  # a write through replica B...
        await project_lineage(a, CUSTOMER_360_ID)
        assert exports(emulator) == 2  # ...makes replica A export again, at once (not after its TTL)
        await project_lineage(b, CUSTOMER_360_ID)
        assert exports(emulator) == 2
        emulator.clock.advance(LINEAGE_TTL_SECONDS + 1)  # type: ignore[attr-defined]
        await project_lineage(a, CUSTOMER_360_ID)  # A's own copy is old; the shared one is still there
        assert exports(emulator) == 2


async def test_redis_down_means_each_replica_keeps_its_own_copy_as_without_shared_state(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = Emulator(clock=ManualClock())
    async with replica(emulator, own_redis) as a:
        await project_lineage(a, CUSTOMER_360_ID)
        own_redis.stop()
        with caplog.at_level(logging.WARNING, logger="qdi_mcp"), anyio.fail_after(10):
            await project_lineage(a, CUSTOMER_360_ID)  # the copy kept under the last generation is not trusted
            assert exports(emulator) == 2
            lineage = await project_lineage(a, CUSTOMER_360_ID)  # the replica's own copy, for the TTL
            assert exports(emulator) == 2
            await forget(a)  # a write through this replica
            await project_lineage(a, CUSTOMER_360_ID)
            assert exports(emulator) == 3
            emulator.clock.advance(LINEAGE_TTL_SECONDS + 1)  # type: ignore[attr-defined]
            await project_lineage(a, CUSTOMER_360_ID)
            assert exports(emulator) == 4
        assert lineage.stages()
        assert caplog.text.count("shared design cache") == 1
        assert own_redis.password not in caplog.text
