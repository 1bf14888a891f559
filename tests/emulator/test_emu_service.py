"""OAuth, rate limits, snapshot, configuration from the environment, and the serve() safety check."""

from __future__ import annotations

import json

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.clock import ManualClock, SpeedClock
from qdi_mcp.emulator import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    Emulator,
    check_bind_host,
)


async def token(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    body = {
        "client_id": client_id,
        "client_secret": secret,
        "grant_type": "client_credentials",
        "scope": "user_default",
    }
    return await http.post("/oauth/token", json=body)


@pytest.mark.anyio
async def test_oauth_client_credentials_token_is_accepted_by_the_api() -> None:
    emu = Emulator(clock=ManualClock())
    async with client_for(emu, key=None) as http:
        issued = await token(http, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)
        assert issued.status_code == 200
        body = issued.json()
        response = await http.get(API, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert body["token_type"] == "bearer" and body["expires_in"] > 0 and body["scope"] == "user_default"
    assert response.status_code == 200


@pytest.mark.anyio
async def test_oauth_tokens_expire_on_the_emulator_clock() -> None:
    emu = Emulator(clock=ManualClock(), token_lifetime=60)
    async with client_for(emu, key=None) as http:
        access = (await token(http, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)).json()["access_token"]
        emu.clock.advance(61)
        response = await http.get(API, headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 401 and "expired" in response.json()["errors"][0]["detail"]


@pytest.mark.anyio
async def test_oauth_rejects_bad_secrets_and_grants_in_the_envelope() -> None:
    emu = Emulator(clock=ManualClock(), oauth_clients={"ci-bot": "s3cret"})
    async with client_for(emu, key=None) as http:
        wrong_secret = await token(http, "ci-bot", "guess")
        default_client = await token(http, DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)
        configured = await token(http, "ci-bot", "s3cret")
        wrong_grant = await http.post(
            "/oauth/token", json={"client_id": "ci-bot", "client_secret": "s3cret", "grant_type": "password"}
        )
        form = await http.post(
            "/oauth/token", data={"client_id": "ci-bot", "client_secret": "s3cret", "grant_type": "client_credentials"}
        )
    assert wrong_secret.status_code == 401 and default_client.status_code == 401
    assert "guess" not in wrong_secret.text and "s3cret" not in wrong_secret.text
    assert set(wrong_secret.json()) == {"errors", "traceId"}
    assert configured.status_code == 200 and form.status_code == 200
    assert wrong_grant.status_code == 400


def test_secrets_never_show_in_reprs() -> None:
    emu = Emulator(clock=ManualClock(), api_key="super-secret-key", oauth_clients={"bot": "hidden-secret"})
    shown = repr(emu) + repr(emu.auth) + json.dumps(emu.snapshot())
    assert "super-secret-key" not in shown and "hidden-secret" not in shown


@pytest.mark.anyio
async def test_rate_limits_answer_429_with_retry_after_per_tier_and_recover() -> None:
    # qlik.dev rate-limiting page: Tier 2 is "100 per min", "evaluated over a 5-minute window to support bursts":
    # 500 in any 5 minutes, then 429 with Retry-After, and the whole tier blocked until then.
    emu = Emulator(clock=ManualClock(), rate_limits=True)
    project_id = emu.project_id("Customer 360")
    async with client_for(emu) as http:
        for _ in range(500):
            assert (await http.post(API, json={"name": "", "space": "x"})).status_code == 400  # Tier 2 calls
        limited = await http.post(API, json={"name": "Late", "space": "x"})
        other_tier = await http.get(f"{API}/{project_id}")  # Tier 1 is counted separately
        emu.clock.advance(150)
        still_limited = await http.post(API, json={})
        emu.clock.advance(151)
        recovered = await http.post(API, json={})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) == 300
    assert limited.json()["errors"][0] == {
        "code": "HTTP-429",
        "title": "API rate limit reached.",
        "detail": "You need to wait 300 seconds until limit is lifted.",
        "status": 429,
    }
    assert other_tier.status_code == 200
    assert still_limited.status_code == 429 and int(still_limited.headers["retry-after"]) == 150
    assert recovered.status_code == 400  # admitted again (and still a bad body)


@pytest.mark.anyio
async def test_a_refused_tier_stays_blocked_until_retry_after_even_when_a_slot_frees_earlier() -> None:
    emu = Emulator(clock=ManualClock(), rate_limits=True)
    async with client_for(emu) as http:
        assert (await http.post(API, json={})).status_code == 400  # the oldest call of the window, at t=0
        emu.clock.advance(200)
        for _ in range(499):
            await http.post(API, json={})
        limited = await http.post(API, json={})  # the oldest leaves the window at t=300: wait 100 s
        emu.clock.advance(100)
        freed = await http.post(API, json={})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) == 100
    assert freed.status_code == 400
    blocked = Emulator(clock=ManualClock(), rate_limits=True)
    async with client_for(blocked) as http:
        await http.post(API, json={})  # t=0
        blocked.clock.advance(200)
        for _ in range(499):
            await http.post(API, json={})
        blocked.clock.advance(0.5)
        refused = await http.post(API, json={})  # Retry-After rounds 99.5 s up: blocked until t=300.5
        blocked.clock.advance(99.7)
        # t=300.2: the t=0 call has left the window, but the tier stays blocked for the announced time
        before_the_announced_time = await http.post(API, json={})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 100
    assert before_the_announced_time.status_code == 429


@pytest.mark.anyio
async def test_runtime_state_tier_allows_120_per_minute_and_limits_are_off_by_default() -> None:
    limited = Emulator(clock=ManualClock(), rate_limits=True)
    unlimited = Emulator(clock=ManualClock())
    project_id = limited.project_id("Orders replication")
    task_id = limited.task_id(project_id, "ORDERS REPLICATION")
    url = f"{API}/{project_id}/di-tasks/{task_id}/runtime/state"
    for emu, expected in ((limited, 429), (unlimited, 200)):
        async with client_for(emu) as http:
            statuses = [(await http.get(url)).status_code for _ in range(121)]
        assert statuses[:120] == [200] * 120 and statuses[120] == expected


def test_snapshot_is_json_serialisable_and_describes_the_tenant() -> None:
    emu = Emulator(clock=ManualClock())
    emu.faults.inject("list_projects", "drop")
    snapshot = json.loads(json.dumps(emu.snapshot()))
    assert {p["name"] for p in snapshot["projects"]} >= {"Customer 360", "Sales QVD"}
    assert snapshot["now"] == "2025-03-03T09:00:00Z" and snapshot["faults"][0]["kind"] == "drop"
    replication = next(p for p in snapshot["projects"] if p["name"] == "Orders replication")["tasks"][0]
    assert replication["runtime"]["lastRun"]["state"] == "RUNNING" and replication["isCdc"] is True


def test_demo_false_keeps_spaces_and_connections_but_no_projects() -> None:
    emu = Emulator(clock=ManualClock(), demo=False)
    snapshot = emu.snapshot()
    assert snapshot["projects"] == [] and len(snapshot["spaces"]) >= 2 and snapshot["connections"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_serve_accepts_loopback_hosts(host: str) -> None:
    check_bind_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])  # noqa: S104
def test_serve_refuses_other_hosts_unless_allowed(host: str) -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        check_bind_host(host)
    check_bind_host(host, allow_remote=True)


def test_manual_clock_refuses_to_go_backwards() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SpeedClock(0)
