"""Single use of a confirmation token across processes that share one real Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis_server import RedisServer

from qdi_mcp.guard.tokens import ConfirmationError, ConfirmationTokens
from qdi_mcp.guard.used_tokens import KEEP_AFTER_EXPIRY_SECONDS, RedisUsedTokenStore
from qdi_mcp.shared_state import Keyspace

SECRET = b"k" * 32
ARGS = {"project_id": "p1", "task_id": "t1"}


def replica(server: RedisServer, tenant: str = "acme.eu.qlikcloud.com") -> ConfirmationTokens:
    """What one replica holds: the shared secret and a store in the shared Redis (its own connection)."""
    return ConfirmationTokens(SECRET, store=RedisUsedTokenStore(server.url, Keyspace(tenant)))


def test_a_token_confirms_one_call_among_replicas(fresh_redis: RedisServer) -> None:
    a, b = replica(fresh_redis), replica(fresh_redis)
    token = a.issue("qdi_stop_task", ARGS).token
    b.verify("qdi_stop_task", ARGS, token)
    with pytest.raises(ConfirmationError) as replayed:
        a.verify("qdi_stop_task", ARGS, token)
    assert replayed.value.reason == "used"


def test_twenty_concurrent_uses_on_two_replicas_confirm_exactly_one(fresh_redis: RedisServer) -> None:
    replicas = [replica(fresh_redis), replica(fresh_redis)]
    token = replicas[0].issue("qdi_stop_task", ARGS).token
    start = threading.Barrier(20)

    def use(index: int) -> str:
        start.wait()
        try:
            replicas[index % 2].verify("qdi_stop_task", ARGS, token)
        except ConfirmationError as exc:
            return exc.reason
        return "confirmed"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(use, range(20)))
    assert outcomes.count("confirmed") == 1
    assert outcomes.count("used") == 19


def test_keys_carry_the_tenant_and_expire_an_hour_after_the_token(fresh_redis: RedisServer) -> None:
    acme, other = replica(fresh_redis, "acme.eu.qlikcloud.com"), replica(fresh_redis, "other.us.qlikcloud.com")
    issued = acme.issue("qdi_stop_task", ARGS)
    acme.verify("qdi_stop_task", ARGS, issued.token)
    raw = redis.Redis(port=fresh_redis.port, password=fresh_redis.password)
    keys = [key.decode() for key in raw.keys("*")]
    assert keys == [f"qdi-mcp:v1:acme.eu.qlikcloud.com:used-token:{issued.token_id}"]
    expires_in = raw.ttl(keys[0])
    assert abs(expires_in - (issued.expires_at + KEEP_AFTER_EXPIRY_SECONDS - time.time())) <= 2
    # Another tenant's record never answers for this one: the same id is a different key.
    assert RedisUsedTokenStore(fresh_redis.url, Keyspace("other.us.qlikcloud.com")).claim(issued.token_id, 9e9)
    assert other is not acme


def test_redis_down_refuses_the_confirmation_quickly_and_never_lets_it_through(own_redis: RedisServer) -> None:
    store = RedisUsedTokenStore(own_redis.url, Keyspace("acme"))
    tokens = ConfirmationTokens(SECRET, store=store)
    token = tokens.issue("qdi_stop_task", ARGS).token
    own_redis.stop()
    started = time.monotonic()
    with pytest.raises(ConfirmationError) as refused:
        tokens.verify("qdi_stop_task", ARGS, token)
    assert refused.value.reason == "unrecorded" and "nothing was done" in str(refused.value)
    assert time.monotonic() - started < 5  # bounded by the shared state's timeout, never a hang
    assert "cannot record a used confirmation in the shared state redis://:***@127.0.0.1" in str(refused.value)
    assert own_redis.password not in str(refused.value)
    # Back up (a new server on the same port): the store reconnects by itself and the token works once.
    own_redis.start_on_same_port()
    tokens.verify("qdi_stop_task", ARGS, token)
    with pytest.raises(ConfirmationError):
        tokens.verify("qdi_stop_task", ARGS, token)
