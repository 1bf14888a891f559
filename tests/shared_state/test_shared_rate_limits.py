"""The tenant's rate-limit windows shared through one real Redis by limiters standing for separate replicas."""

from __future__ import annotations

import logging
import time

import anyio
import pytest
import redis
from redis_server import RedisServer

from qdi_mcp.api import RateTier, TierLimiter, shared_ratelimit
from qdi_mcp.api.shared_ratelimit import SharedTierLimiter
from qdi_mcp.shared_state import Keyspace

pytestmark = pytest.mark.anyio
LIMIT = 4
WINDOW = 1.0


def replica(server: RedisServer, tenant: str = "acme.eu.qlikcloud.com") -> SharedTierLimiter:
    return SharedTierLimiter(server.url, Keyspace(tenant), limits={RateTier.TIER2: LIMIT}, window=WINDOW)


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_two_replicas_together_stay_within_one_budget(fresh_redis: RedisServer) -> None:
    a, b = replica(fresh_redis), replica(fresh_redis)
    admitted: list[float] = []

    async def one(limiter: SharedTierLimiter) -> None:
        await limiter.acquire(RateTier.TIER2)
        admitted.append(time.monotonic())

    async with anyio.create_task_group() as group:
        for index in range(3 * LIMIT):
            group.start_soon(one, (a, b)[index % 2])
    assert len(admitted) == 3 * LIMIT
    # Each replica alone would have let 4 through per window, 8 together; shared, the two admit 4 in any window
    # (Redis's clock decides; ours reads a little later, so allow for the read, never for a fifth request).
    assert most_in_any_window(admitted, WINDOW * 0.9) <= LIMIT
    # Separate limiters (the old behaviour) admit twice as many: the check above can fail.
    c, d = (
        TierLimiter(limits={RateTier.TIER2: LIMIT}, window=WINDOW),
        TierLimiter(limits={RateTier.TIER2: LIMIT}, window=WINDOW),
    )
    alone: list[float] = []
    for limiter in (c, d) * LIMIT:
        await limiter.acquire(RateTier.TIER2)
        alone.append(time.monotonic())
    assert most_in_any_window(alone, WINDOW * 0.9) == 2 * LIMIT
    await a.aclose()
    await b.aclose()


async def test_a_429_seen_by_one_replica_holds_the_tier_in_every_replica(fresh_redis: RedisServer) -> None:
    a, b = replica(fresh_redis), replica(fresh_redis)
    await a.block(RateTier.TIER1, 0.6)
    raw = redis.Redis(port=fresh_redis.port, password=fresh_redis.password)
    assert 0 < raw.pttl("qdi-mcp:v1:acme.eu.qlikcloud.com:rate-block:tier1") <= 600
    started = time.monotonic()
    await b.acquire(RateTier.TIER1)
    assert time.monotonic() - started >= 0.4  # held by a block it never saw itself
    await b.acquire(RateTier.TIER2)  # other tiers are not held
    # A shorter Retry-After never shortens a block.
    await a.block(RateTier.TIER2, 5.0)
    await b.block(RateTier.TIER2, 0.1)
    assert raw.pttl("qdi-mcp:v1:acme.eu.qlikcloud.com:rate-block:tier2") > 4000
    await a.aclose()
    await b.aclose()


async def test_tenants_sharing_one_redis_keep_separate_windows(fresh_redis: RedisServer) -> None:
    acme, other = replica(fresh_redis, "acme"), replica(fresh_redis, "other")
    for _ in range(LIMIT):
        await acme.acquire(RateTier.TIER2)
    started = time.monotonic()
    for _ in range(LIMIT):
        await other.acquire(RateTier.TIER2)
    assert time.monotonic() - started < WINDOW / 2  # a full window at acme costs other nothing
    raw = redis.Redis(port=fresh_redis.port, password=fresh_redis.password)
    assert raw.zcard("qdi-mcp:v1:acme:rate-window:tier2") == LIMIT
    assert raw.zcard("qdi-mcp:v1:other:rate-window:tier2") == LIMIT
    await acme.aclose()
    await other.aclose()


async def test_redis_down_falls_back_to_the_replica_windows_then_comes_back(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_ratelimit, "RETRY_SHARED_AFTER_SECONDS", 0.3)
    limiter = replica(own_redis)
    await limiter.acquire(RateTier.TIER2)
    assert limiter.shared
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="qdi_mcp.api"):
        with anyio.fail_after(10):  # never a hang
            for _ in range(LIMIT):
                await limiter.acquire(RateTier.TIER2)
        assert not limiter.shared
        assert caplog.text.count("limiting per replica") == 1  # one warning per outage, not per call
        assert own_redis.password not in caplog.text
        # Still limited while down: the replica's own window holds the budget (4 taken above, the 5th waits).
        started = time.monotonic()
        await limiter.acquire(RateTier.TIER2)
        assert time.monotonic() - started >= WINDOW * 0.5
        own_redis.start_on_same_port()
        await anyio.sleep(0.35)
        await limiter.acquire(RateTier.TIER2)
    assert limiter.shared
    assert "are back" in caplog.text
    await limiter.aclose()


async def test_an_admission_counts_from_its_answer_not_from_its_admission(fresh_redis: RedisServer) -> None:
    """On a busy host a request reaches Qlik seconds after its admission; counted from the answer, a window can
    never end before the tenant's does."""
    limiter = replica(fresh_redis)
    raw = redis.Redis(port=fresh_redis.port, password=fresh_redis.password)
    key = "qdi-mcp:v1:acme.eu.qlikcloud.com:rate-window:tier2"
    await limiter.acquire(RateTier.TIER2)
    [(member, admitted_at)] = raw.zrange(key, 0, -1, withscores=True)
    await anyio.sleep(0.3)
    await limiter.answered(RateTier.TIER2)
    assert raw.zscore(key, member) - admitted_at >= 250  # ms
    await limiter.answered(RateTier.TIER2)  # a second answer for one admission changes nothing
    assert raw.zcard(key) == 1
    await limiter.aclose()
