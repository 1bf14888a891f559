"""Confirmation tokens, end to end through MCP: they expire, confirm one call only, are bound to the tool and its
exact arguments, cannot be forged, and every replica that shares QDI_MCP_SECRET accepts the others' tokens (so
the HTTP server can run as several replicas behind a load balancer)."""

from __future__ import annotations

import base64
import json
import random
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from qdi_testkit import CUSTOMER_360, TENANT_URL

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.guard.tokens import ConfirmationTokens, MemoryUsedTokenStore, secret_from_env
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.tools.polling import PollSchedule

pytestmark = pytest.mark.anyio

SHARED_SECRET = "replicas-share-this-secret-0123456789abcdef"
OTHER_SECRET = "a-different-deployment-secret-0123456789abcd"
RELOAD = "qdi_request_task_reload"


class WallClock:
    """The tokens' clock (Unix time), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Replica:
    mcp: Client
    emulator: Emulator

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.mcp.call_tool(tool, arguments)
        return {"is_error": bool(result.is_error), **(result.structured_content or {})}


@asynccontextmanager
async def replica(
    tmp_path: Path, emulator: Emulator, secret: str, *, tokens: ConfirmationTokens | None = None
) -> AsyncIterator[Replica]:
    """One server process of a deployment: its own API client and server, configured from the environment."""
    env = {"QDI_MCP_SECRET": secret, "QDI_MCP_WORKDIR": str(tmp_path / "work")}
    settings = Settings.from_env(env, audit_log=tmp_path / "audit.jsonl")
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock)
    options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(3)}
    async with client:
        server = build_server(settings, client, tokens=tokens, context_options=options)
        async with Client(server) as mcp_client:
            yield Replica(mcp_client, emulator)


def truncate_reload(emulator: Emulator) -> dict[str, Any]:
    project_id = emulator.project_id(CUSTOMER_360)
    task_id = emulator.task_id(project_id, "CRM STORAGE")
    return {"project_id": project_id, "task_id": task_id, "reload_strategy": "TRUNCATE"}


def reloads(emulator: Emulator) -> int:
    return emulator.counters["request_task_reload"]


async def token_for(node: Replica, tool: str, arguments: dict[str, Any]) -> str:
    asked = await node.call(tool, arguments)
    assert asked["status"] == "confirmation_required", asked
    return asked["confirmation_token"]


def refusal(outcome: dict[str, Any], words: str) -> None:
    assert outcome["is_error"], outcome
    assert outcome["error"]["code"] == "confirmation_invalid", outcome["error"]
    assert words in outcome["error"]["message"], outcome["error"]["message"]


async def test_a_token_issued_by_one_replica_executes_on_another_with_the_same_secret(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    async with (
        replica(tmp_path / "a", emulator, SHARED_SECRET) as a,
        replica(tmp_path / "b", emulator, SHARED_SECRET) as b,
    ):
        token = await token_for(a, RELOAD, arguments)
        done = await b.call(RELOAD, arguments | {"confirmation_token": token})
        assert not done["is_error"] and done["success"] is True, done
    assert reloads(emulator) == 1


async def test_a_token_from_a_deployment_with_another_secret_is_refused(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    async with (
        replica(tmp_path / "a", emulator, SHARED_SECRET) as a,
        replica(tmp_path / "b", emulator, OTHER_SECRET) as b,
    ):
        token = await token_for(a, RELOAD, arguments)
        refusal(await b.call(RELOAD, arguments | {"confirmation_token": token}), "not issued by this server")
    assert reloads(emulator) == 0


async def test_with_a_shared_used_token_store_a_token_confirms_one_call_across_replicas(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    store = MemoryUsedTokenStore()  # stands in for a shared store (e.g. Redis SET NX) plugged into every replica
    a_tokens = ConfirmationTokens(secret_from_env(SHARED_SECRET), store=store)
    b_tokens = ConfirmationTokens(secret_from_env(SHARED_SECRET), store=store)
    async with (
        replica(tmp_path / "a", emulator, SHARED_SECRET, tokens=a_tokens) as a,
        replica(tmp_path / "b", emulator, SHARED_SECRET, tokens=b_tokens) as b,
    ):
        token = await token_for(a, RELOAD, arguments)
        assert not (await a.call(RELOAD, arguments | {"confirmation_token": token}))["is_error"]
        refusal(await b.call(RELOAD, arguments | {"confirmation_token": token}), "already used")
        refusal(await a.call(RELOAD, arguments | {"confirmation_token": token}), "already used")
    assert reloads(emulator) == 1


async def test_without_a_shared_store_single_use_holds_per_replica(tmp_path: Path) -> None:
    # What SECURITY.md promises for the default in-memory store: once per replica, never twice on one.
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    async with (
        replica(tmp_path / "a", emulator, SHARED_SECRET) as a,
        replica(tmp_path / "b", emulator, SHARED_SECRET) as b,
    ):
        token = await token_for(a, RELOAD, arguments)
        assert not (await a.call(RELOAD, arguments | {"confirmation_token": token}))["is_error"]
        refusal(await a.call(RELOAD, arguments | {"confirmation_token": token}), "already used")
        assert not (await b.call(RELOAD, arguments | {"confirmation_token": token}))["is_error"]
        refusal(await b.call(RELOAD, arguments | {"confirmation_token": token}), "already used")
    assert reloads(emulator) == 2


async def test_a_token_expires(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    wall = WallClock()
    tokens = ConfirmationTokens(secret_from_env(SHARED_SECRET), ttl_seconds=60, clock=wall)
    async with replica(tmp_path, emulator, SHARED_SECRET, tokens=tokens) as node:
        token = await token_for(node, RELOAD, arguments)
        wall.now += 61
        refusal(await node.call(RELOAD, arguments | {"confirmation_token": token}), "expired")
        fresh = await token_for(node, RELOAD, arguments)
        wall.now += 59
        assert not (await node.call(RELOAD, arguments | {"confirmation_token": fresh}))["is_error"]
    assert reloads(emulator) == 1


async def test_a_token_is_bound_to_the_tool_and_its_exact_arguments(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    other_task = emulator.task_id(arguments["project_id"], "ERP STORAGE")
    async with replica(tmp_path, emulator, SHARED_SECRET) as node:
        token = await token_for(node, RELOAD, arguments)
        variants = [
            arguments | {"task_id": other_task},
            arguments | {"dataset_ids": ["some-dataset"]},
            {k: v for k, v in arguments.items() if k != "reload_strategy"} | {"reload_strategy": "TRUNCATE "},
        ]
        for changed in variants:
            outcome = await node.call(RELOAD, changed | {"confirmation_token": token})
            assert outcome["is_error"], changed
            assert outcome["error"]["code"] in {"confirmation_invalid", "invalid_arguments"}, outcome["error"]
        stop = {"project_id": arguments["project_id"], "task_id": arguments["task_id"]}
        refusal(await node.call("qdi_stop_task", stop | {"confirmation_token": token}), "issued for")
        assert not (await node.call(RELOAD, arguments | {"confirmation_token": token}))["is_error"]
    assert reloads(emulator) == 1
    assert emulator.counters["stop_task"] == 0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_longer_life(payload: bytes, seconds: float) -> bytes:
    """The payload with its expiry moved: version, issue time and expiry lead it (qdi_mcp.guard.tokens)."""
    version, issued_at, expires_at = struct.unpack_from(">Bdd", payload)
    return struct.pack(">Bdd", version, issued_at, expires_at + seconds) + payload[struct.calcsize(">Bdd") :]


async def test_tokens_cannot_be_forged_or_altered(tmp_path: Path) -> None:
    emulator = Emulator(clock=ManualClock())
    arguments = truncate_reload(emulator)
    stranger = ConfirmationTokens(secret_from_env(OTHER_SECRET))
    async with replica(tmp_path, emulator, SHARED_SECRET) as node:
        genuine = await token_for(node, RELOAD, arguments)
        payload_text, signature = genuine.split(".")
        longer_life = b64(with_longer_life(unb64(payload_text), 86_400))
        forgeries = {
            "extended expiry, old signature": f"{longer_life}.{signature}",
            "signed with another secret": stranger.issue(RELOAD, arguments).token,
            "signature flipped": f"{payload_text}.{b64(bytes(b ^ 1 for b in unb64(signature)))}",
            "signature cut": f"{payload_text}.{signature[:20]}",
            "no signature": payload_text,
            "garbage": "x" * 64,
            "huge": "A" * 100_000,
        }
        for label, forged in forgeries.items():
            outcome = await node.call(RELOAD, arguments | {"confirmation_token": forged})
            # A token longer than the schema's maxLength is refused before the gate even reads it.
            expected = "invalid_arguments" if label == "huge" else "confirmation_invalid"
            assert outcome["is_error"] and outcome["error"]["code"] == expected, label
            assert forged[:40] not in json.dumps(outcome), "a refused token is not echoed back"
    assert reloads(emulator) == 0
