"""The API key, the OAuth client secret and the access tokens never appear in logs (DEBUG included, every
logger), errors, results, the audit log, reprs, or the output of `qdi-mcp tools` and `qdi-mcp call`.

Everything is captured and searched. To give secrets every chance to leak, a hostile proxy echoes the request's
Authorization header back in JSON and HTML error bodies, and faults make writes end in `outcome_unknown`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import Client
from qdi_testkit import CUSTOMER_360, ORDERS, TENANT_URL, make_settings
from starlette.types import ASGIApp, Receive, Scope, Send

from qdi_mcp.api import ApiKeyAuth, Auth, OAuthClientCredentials, QdiApiError, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import Emulator
from qdi_mcp.guard.redact import Redactor, SecretFilter
from qdi_mcp.server import build_server
from qdi_mcp.tools.polling import PollSchedule

API_KEY = "qdi-api-key-" + secrets.token_urlsafe(24)
CLIENT_ID = "ci-robot"
CLIENT_SECRET = "qdi-client-secret-" + secrets.token_urlsafe(24)
CLI_TIMEOUT_SECONDS = 60


class EchoingProxy(httpx.AsyncBaseTransport):
    """Forwards to the emulator, except ids starting with 'echo-': those get an error that repeats the caller's
    Authorization header, as a misconfigured proxy or a careless service might. Records every header sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.authorizations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("Authorization", "")
        if authorization:
            self.authorizations.append(authorization)
        bare = authorization.removeprefix("Bearer ")
        if "echo-json" in request.url.path:
            detail = f"token {bare} is not allowed here (header: {authorization})"
            body = {"errors": [{"code": bare, "title": authorization, "detail": detail}], "traceId": "t-echo"}
            return httpx.Response(400, json=body)
        if "echo-html" in request.url.path:
            page = f"<html><body><h1>502</h1><p>Authorization: {authorization}</p><p>{bare}</p></body></html>"
            return httpx.Response(502, text=page, headers={"Content-Type": "text/html"})
        if "echo-401" in request.url.path:
            return httpx.Response(401, json={"errors": [{"detail": f"expired token {bare}"}]})
        return await self.inner.handle_async_request(request)

    def access_tokens(self) -> set[str]:
        return {value.removeprefix("Bearer ") for value in self.authorizations} - {API_KEY}


@asynccontextmanager
async def stack_with(tmp_path: Path, auth: Auth, emulator: Emulator, **settings: Any) -> AsyncIterator[Client]:
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    proxy = EchoingProxy(emulator.transport())
    client = QlikClient(TENANT_URL, auth=auth, transport=proxy, clock=clock)
    options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(5)}
    async with client:
        server = build_server(make_settings(tmp_path, **settings), client, context_options=options)
        async with Client(server) as mcp_client:
            mcp_client.proxy = proxy  # type: ignore[attr-defined]
            mcp_client.qlik = client  # type: ignore[attr-defined]
            yield mcp_client


async def exercise(mcp_client: Client, emulator: Emulator) -> list[str]:
    """Successes, Qlik errors, echoed credentials, lost answers and confirmations; returns every result as JSON."""
    pid = emulator.project_id(CUSTOMER_360)
    task = {"project_id": pid, "task_id": emulator.task_id(pid, "ERP LANDING")}
    running = {
        "project_id": emulator.project_id(ORDERS),
        "task_id": emulator.tasks(emulator.project_id(ORDERS))[0]["id"],
    }
    emulator.faults.inject("start_task", "status", status=500, after_execution=True)
    emulator.faults.inject("update_bindings", "invalid_json", after_execution=True)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("qdi_list_projects", {}),
        ("qdi_get_project", {"project_id": "echo-json"}),
        ("qdi_get_project", {"project_id": "echo-html"}),
        ("qdi_get_project", {"project_id": "echo-401"}),
        ("qdi_get_project", {"project_id": "does-not-exist"}),
        ("qdi_start_task", task),
        ("qdi_update_bindings", {"project_id": pid, "variables": emulator.bindings(pid)}),
        ("qdi_prepare_project_and_wait", {"project_id": pid}),
        ("qdi_stop_task", running),
    ]
    outputs = []
    for tool, arguments in calls:
        outputs.append((await mcp_client.call_tool(tool, arguments)).model_dump_json(by_alias=True))
    token = json.loads(outputs[-1])["structuredContent"]["confirmation_token"]
    confirmed = await mcp_client.call_tool("qdi_stop_task", running | {"confirmation_token": token})
    outputs.append(confirmed.model_dump_json(by_alias=True))
    for method, argument in (("get_project", "echo-json"), ("get_project", "echo-html")):
        try:
            await getattr(mcp_client.qlik, method)(argument)  # type: ignore[attr-defined]
        except QdiApiError as exc:
            outputs += [str(exc), repr(exc), repr(exc.errors)]
    return outputs


def captured_logs(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def debug_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("qdi_mcp", "httpx", "httpcore", "mcp", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)


def assert_nowhere(secret_values: set[str], **places: str) -> None:
    assert all(len(value) >= 16 for value in secret_values)
    for where, text in places.items():
        for value in secret_values:
            assert value not in text, f"a secret leaked into {where}"


@pytest.mark.anyio
async def test_oauth_client_secret_and_access_tokens_never_leak(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    debug_everything(caplog)
    emulator = Emulator(clock=ManualClock(), oauth_clients={CLIENT_ID: CLIENT_SECRET})
    auth = OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)
    async with stack_with(tmp_path, auth, emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as mcp_client:
        outputs = await exercise(mcp_client, emulator)
        tokens = mcp_client.proxy.access_tokens()  # type: ignore[attr-defined]
        reprs = repr(mcp_client.qlik) + repr(auth)  # type: ignore[attr-defined]
    assert len(tokens) >= 2, "the 401 should have made the client fetch a second token"
    assert json.loads(outputs[4])["structuredContent"]["error"]["code"] == "not_found"  # the calls really ran
    assert_nowhere(
        {CLIENT_SECRET, *tokens},
        results="\n".join(outputs),
        logs=captured_logs(caplog),
        audit=(tmp_path / "audit.jsonl").read_text(encoding="utf-8"),
        reprs=reprs,
    )


@pytest.mark.anyio
async def test_the_api_key_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    debug_everything(caplog)
    emulator = Emulator(clock=ManualClock(), api_key=API_KEY)
    auth = ApiKeyAuth(API_KEY)
    async with stack_with(tmp_path, auth, emulator, api_key=API_KEY) as mcp_client:
        outputs = await exercise(mcp_client, emulator)
        reprs = repr(mcp_client.qlik) + repr(auth) + repr(make_settings(tmp_path, api_key=API_KEY))  # type: ignore[attr-defined]
    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert '"outcome":"outcome_unknown"' in audit and '"outcome":"executed"' in audit
    assert_nowhere({API_KEY}, results="\n".join(outputs), logs=captured_logs(caplog), audit=audit, reprs=reprs)


# --- the CLI, in its own process, against an emulator served on loopback ----------------------------------------


def recording_authorizations(app: ASGIApp, seen: list[str]) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.extend(value.decode() for name, value in scope["headers"] if name == b"authorization")
        await app(scope, receive, send)

    return asgi


@contextmanager
def served_emulator(emulator: Emulator, seen: list[str]) -> Iterator[str]:
    """The emulator on a loopback port bound (and listening) before the server starts, so no start-up wait."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    config = uvicorn.Config(
        recording_authorizations(emulator.app, seen), log_level="warning", lifespan="off", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


def run_cli(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "QDI_MCP_WORKDIR": str(tmp_path / "work"),
        "QDI_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "QDI_MCP_LOG_LEVEL": "DEBUG",
    }
    finished = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "qdi_mcp", *args],
        env=base | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    assert finished.returncode in (0, 1, 3), finished.stderr[-2000:]  # 3: a confirmation is needed
    return f"exit {finished.returncode}\n{finished.stdout}\n{finished.stderr}"


CLI_RUNS = {
    "api_key": [
        ["tools"],
        ["tools", "--json"],
        ["call", "qdi_list_projects"],
        ["call", "qdi_stop_task", "--no-confirm", "--args", "{running}"],
    ],
    "oauth": [
        ["call", "qdi_list_projects"],
        ["call", "qdi_get_project", "--args", '{{"project_id": "no-such-project"}}'],
        ["call", "qdi_stop_task", "--args", "{running}"],
    ],
}


@pytest.mark.parametrize("credentials", sorted(CLI_RUNS))
def test_cli_tools_and_call_never_print_credentials(tmp_path: Path, credentials: str) -> None:
    emulator = Emulator(api_key=API_KEY, oauth_clients={CLIENT_ID: CLIENT_SECRET})
    seen: list[str] = []
    if credentials == "api_key":
        env = {"QLIK_API_KEY": API_KEY}
    else:
        env = {"QLIK_CLIENT_ID": CLIENT_ID, "QLIK_CLIENT_SECRET": CLIENT_SECRET}
    orders = emulator.project_id(ORDERS)
    running = json.dumps({"project_id": orders, "task_id": emulator.tasks(orders)[0]["id"]})
    with served_emulator(emulator, seen) as tenant_url:
        env["QLIK_TENANT_URL"] = tenant_url
        outputs = [
            run_cli(tmp_path, env, *(arg.format(running=running) for arg in run)) for run in CLI_RUNS[credentials]
        ]
    joined = "\n".join(outputs)
    assert "Customer 360" in joined and ("stop_requested" in joined or "confirmation_required" in joined)
    tokens = {value.removeprefix("Bearer ") for value in seen} - {API_KEY}
    assert bool(tokens) == (credentials == "oauth")  # the OAuth runs really used access tokens
    audit = (tmp_path / "audit.jsonl").read_text(encoding="utf-8")
    assert_nowhere({API_KEY, CLIENT_SECRET, *tokens}, cli_output=joined, audit=audit)


# --- issue 15: runtime access tokens are secrets by value, and the bare-Bearer rule is tested ----------------


def test_a_bearer_value_quoted_without_the_word_authorization_is_masked() -> None:
    # The rule alone, with nothing registered: a Qlik error body or log line quoting the header's value.
    token = "eyJ" + secrets.token_urlsafe(30)
    for redactor in (Redactor(), Redactor(by_key_name=False)):
        masked = redactor.redact_text(f"upstream refused Bearer {token} (expired)")
        assert token not in masked and "Bearer ***" in masked


@pytest.mark.anyio
async def test_an_access_token_obtained_at_run_time_is_masked_by_value_in_results_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A tenant that echoes the token in its own data (no "Bearer" before it, no "Authorization" near it): only
    # masking by value can hide it, so the token must be registered the moment the client obtains it.
    caplog.set_level(logging.INFO)
    log_redactor = Redactor()
    caplog.handler.addFilter(SecretFilter(log_redactor))
    emulator = Emulator(clock=ManualClock(), oauth_clients={CLIENT_ID: CLIENT_SECRET})
    auth = OAuthClientCredentials(CLIENT_ID, CLIENT_SECRET)
    async with stack_with(tmp_path, auth, emulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as mcp_client:
        pid = emulator.project_id(CUSTOMER_360)
        await mcp_client.call_tool("qdi_list_projects", {})
        (token,) = mcp_client.proxy.access_tokens()  # type: ignore[attr-defined]
        emulator.tenant.projects[pid].description = f"copied from the session {token} by a careless script"
        result = await mcp_client.call_tool("qdi_get_project", {"project_id": pid})
        logging.getLogger("qdi_mcp.test").info("the tenant answered with %s", token)
    shown = result.model_dump_json(by_alias=True)
    assert "copied from the session *** by a careless script" in shown  # the description did come back
    assert_nowhere({token}, results=shown, logs=captured_logs(caplog))
