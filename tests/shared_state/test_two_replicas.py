"""Two `qdi-mcp serve --transport http` processes sharing one real Redis, in front of one emulated tenant with
Qlik's rate limits on (evals/perf/replicas.py builds the deployment; the benchmark prints the same figures)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from redis_server import RedisServer

from evals.perf.replicas import Deployment, confirmed_call_raced, deployment, load_split

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Deployment]:
    redis_server.flush()
    with deployment(
        tmp_path_factory.mktemp("replicas"), redis_server.url_text, cache_dir=os.environ.get("QDI_MCP_CACHE_DIR")
    ) as deployed:
        yield deployed


async def test_a_token_confirms_exactly_one_call_across_two_replicas(replicas: Deployment) -> None:
    raced = await confirmed_call_raced(replicas, per_replica=10)
    assert raced["sent"] == 20
    assert raced["executed"] == 1
    assert raced["tenant_stops"] == 1  # the tenant saw one stop, not one per replica
    assert raced["refused"] == 19
    lines = [line for line in replicas.audit_lines() if line.get("tool") == "qdi_stop_task"]
    outcomes = [line["outcome"] for line in lines]
    assert outcomes.count("executed") == 1
    assert outcomes.count("refused") == 19, outcomes


async def test_concurrent_calls_on_two_replicas_stay_within_the_tenants_budget(replicas: Deployment) -> None:
    load = await load_split(replicas)
    assert load["errors"] == 0, load["first_error"]
    assert load["tenant_429"] == 0
    runtime = load["rate"]["runtime_state"]
    assert runtime["admitted"] >= 150  # more than a minute's budget was asked for...
    assert runtime["busiest_60s"] <= 120  # ...and no minute saw more than Qlik admits
    for tier in ("tier1", "tier2"):
        assert load["rate"][tier]["busiest_300s"] <= {"tier1": 5000, "tier2": 500}[tier]
