"""`qdi-mcp serve --demo --transport http` as a real subprocess on 127.0.0.1, reached by `mcp.Client(url)` and by
plain httpx for what a hostile page or a stranger would send.

The servers start with `--port 0` and announce their URL on stderr once the port is bound, so no test polls
or sleeps; each server is terminated (then killed if needed) when its module's tests are done.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from qdi_processes import QdiProcess, base_env, start_http_server

from qdi_mcp.server.transports import MAX_REQUEST_BODY_BYTES
from qdi_mcp.specs import load_specs

CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"
ALL_TOOLS = len(load_specs())
HTTP_TOKEN = "test-token-0123456789abcdef"
EXTRA_HOST = "qdi.example"
EXTRA_ORIGIN = "https://console.qdi.example"
START_TIMEOUT_SECONDS = 20
CALL_TIMEOUT_SECONDS = 30
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "httpx", "version": "0"}},
}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QdiProcess, str]]:
    server, url = start_http_server(tmp_path_factory.mktemp("http-open"))
    try:
        yield server, url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QdiProcess, str]]:
    server, url = start_http_server(
        tmp_path_factory.mktemp("http-token"),
        QDI_MCP_HTTP_TOKEN=HTTP_TOKEN,
        QDI_MCP_HTTP_ALLOWED_HOSTS=f"{EXTRA_HOST}:*",
        QDI_MCP_HTTP_ALLOWED_ORIGINS=EXTRA_ORIGIN,
    )
    try:
        yield server, url
    finally:
        server.stop()


async def post(url: str, body: bytes | dict[str, Any], **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=CALL_TIMEOUT_SECONDS) as http:
        return await http.post(url, content=content, headers={**MCP_HEADERS, **headers})


# --- a real MCP client over streamable HTTP ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_client_lists_all_tools_and_calls_a_read_tool(open_server: tuple[QdiProcess, str]) -> None:
    _, url = open_server
    assert url.startswith("http://127.0.0.1:")
    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        async with Client(url) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("qdi_get_project", {"project_id": CUSTOMER_360_ID})

    assert len(tools) == ALL_TOOLS
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["project"]["name"] == "Customer 360"


@pytest.mark.anyio
async def test_http_workflow_call_streams_progress_notifications(open_server: tuple[QdiProcess, str]) -> None:
    _, url = open_server
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        async with Client(url) as client:
            result = await client.call_tool(
                "qdi_prepare_project_and_wait", {"project_id": CUSTOMER_360_ID}, progress_callback=on_progress
            )

    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["state"] == "COMPLETED"
    assert progress, "no notifications/progress arrived over HTTP"
    assert progress == sorted(progress)


# --- DNS rebinding: Host and Origin ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_accepts_an_initialize_from_a_loopback_origin(open_server: tuple[QdiProcess, str]) -> None:
    _, url = open_server
    origin = url.removesuffix("/mcp")

    response = await post(url, INITIALIZE, Origin=origin)

    assert response.status_code == 200
    assert "qdi-mcp" in response.text


@pytest.mark.anyio
async def test_http_refuses_a_request_whose_host_header_names_another_site(
    open_server: tuple[QdiProcess, str],
) -> None:
    _, url = open_server

    response = await post(url, INITIALIZE, Host="attacker.example")

    assert response.status_code == 421
    assert "qdi-mcp" not in response.text


@pytest.mark.anyio
async def test_http_refuses_a_request_from_a_foreign_origin(open_server: tuple[QdiProcess, str]) -> None:
    _, url = open_server

    response = await post(url, INITIALIZE, Origin="http://attacker.example")

    assert response.status_code == 403
    assert "qdi-mcp" not in response.text


@pytest.mark.anyio
async def test_http_refuses_a_loopback_host_on_another_port(open_server: tuple[QdiProcess, str]) -> None:
    # A page served by another local program must not reach this server through a rebound name.
    _, url = open_server
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    response = await post(url, INITIALIZE, Host=f"127.0.0.1:{port + 1}")

    assert response.status_code == 421


# --- request size --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_accepts_a_body_just_under_the_size_cap(open_server: tuple[QdiProcess, str]) -> None:
    _, url = open_server
    message = json.dumps(INITIALIZE).encode()
    body = message + b" " * (MAX_REQUEST_BODY_BYTES - len(message))  # trailing whitespace is valid JSON

    response = await post(url, body)

    assert len(body) == MAX_REQUEST_BODY_BYTES
    assert response.status_code == 200


@pytest.mark.anyio
async def test_http_refuses_a_body_over_the_size_cap(open_server: tuple[QdiProcess, str]) -> None:
    _, url = open_server
    message = json.dumps(INITIALIZE).encode()
    body = message + b" " * (MAX_REQUEST_BODY_BYTES + 1 - len(message))

    response = await post(url, body)

    assert response.status_code == 413


@pytest.mark.anyio
async def test_http_refuses_an_oversized_chunked_body_that_declares_no_length(
    open_server: tuple[QdiProcess, str],
) -> None:
    _, url = open_server
    chunk = b" " * 65536

    async def chunks() -> Any:
        yield json.dumps(INITIALIZE).encode()
        for _ in range(MAX_REQUEST_BODY_BYTES // len(chunk) + 1):
            yield chunk

    async with httpx.AsyncClient(timeout=CALL_TIMEOUT_SECONDS) as http:
        response = await http.post(url, content=chunks(), headers=MCP_HEADERS)

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413


# --- bearer token --------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {HTTP_TOKEN}", f"Bearer {HTTP_TOKEN}x", HTTP_TOKEN],
)
async def test_http_with_a_token_answers_401_without_the_exact_bearer_header(
    guarded_server: tuple[QdiProcess, str], authorization: str | None
) -> None:
    _, url = guarded_server
    headers = {"Authorization": authorization} if authorization else {}

    response = await post(url, INITIALIZE, **headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert HTTP_TOKEN not in response.text
    assert "qdi-mcp" not in response.text  # nothing of the server answered


@pytest.mark.anyio
async def test_http_with_a_token_serves_a_client_that_sends_it(guarded_server: tuple[QdiProcess, str]) -> None:
    server, url = guarded_server
    headers = {"Authorization": f"Bearer {HTTP_TOKEN}"}

    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        async with (
            httpx2.AsyncClient(headers=headers, timeout=CALL_TIMEOUT_SECONDS) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            tools = (await client.list_tools()).tools
            result = await client.call_tool("qdi_list_projects", {})

    assert len(tools) == ALL_TOOLS
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["count"] == 4
    assert HTTP_TOKEN not in "".join(server.stderr)


@pytest.mark.anyio
async def test_http_token_does_not_replace_the_host_and_origin_checks(
    guarded_server: tuple[QdiProcess, str],
) -> None:
    _, url = guarded_server
    authorized = {"Authorization": f"Bearer {HTTP_TOKEN}"}

    foreign_host = await post(url, INITIALIZE, Host="attacker.example", **authorized)
    foreign_origin = await post(url, INITIALIZE, Origin="http://attacker.example", **authorized)

    assert foreign_host.status_code == 421
    assert foreign_origin.status_code == 403


@pytest.mark.anyio
async def test_http_accepts_the_extra_host_and_origin_named_in_the_environment(
    guarded_server: tuple[QdiProcess, str],
) -> None:
    _, url = guarded_server
    port = url.rsplit(":", 1)[1].split("/")[0]
    authorized = {"Authorization": f"Bearer {HTTP_TOKEN}"}

    by_name = await post(url, INITIALIZE, Host=f"{EXTRA_HOST}:{port}", Origin=EXTRA_ORIGIN, **authorized)

    assert by_name.status_code == 200
    assert "qdi-mcp" in by_name.text


# --- unsafe binds fail before anything listens -------------------------------------------------------------------


def run_serve_http(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "qdi_mcp", "serve", "--demo", "--transport", "http", *args],
        env=base_env(tmp_path, **env),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        check=False,
    )


def test_http_bind_to_all_interfaces_without_allow_remote_exits_2_without_serving(tmp_path: Path) -> None:
    completed = run_serve_http(tmp_path, "--host", "0.0.0.0", "--port", "0")  # noqa: S104 - the refused case

    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert "--allow-remote" in lines[0]
    assert "serving" not in completed.stderr


def test_http_remote_bind_with_allow_remote_but_no_token_exits_2_naming_the_token(tmp_path: Path) -> None:
    completed = run_serve_http(tmp_path, "--host", "0.0.0.0", "--port", "0", "--allow-remote")  # noqa: S104

    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert "QDI_MCP_HTTP_TOKEN" in lines[0]
    assert "serving" not in completed.stderr


def _refuse_to_bind(calls: list[tuple[str, int]]) -> Callable[[str, int], Any]:
    def fake_bind(host: str, port: int) -> Any:
        calls.append((host, port))
        raise AssertionError("the port must not be bound for an unsafe configuration")

    return fake_bind


@pytest.mark.parametrize(
    ("extra", "env", "complaint"),
    [
        (["--host", "0.0.0.0"], {}, "--allow-remote"),  # noqa: S104
        (["--host", "192.0.2.10", "--allow-remote"], {}, "QDI_MCP_HTTP_TOKEN"),
        (["--host", "0.0.0.0", "--allow-remote", "--http-token", "short"], {}, "too short"),  # noqa: S104
        (["--host", "0.0.0.0", "--allow-remote"], {"QDI_MCP_HTTP_TOKEN": "tiny"}, "too short"),  # noqa: S104
    ],
)
def test_unsafe_http_binds_are_refused_before_any_socket_is_bound(
    tmp_path: Path,
    restore_logging: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    env: dict[str, str],
    complaint: str,
) -> None:
    import qdi_mcp.cli.serve as serve_command
    from qdi_mcp.cli import main

    for name in ("QLIK_TENANT_URL", "QLIK_API_KEY", "QDI_MCP_HTTP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QDI_MCP_WORKDIR", str(tmp_path / "work"))
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(serve_command, "bind_socket", _refuse_to_bind(calls))

    exit_code = main(["serve", "--demo", "--transport", "http", "--port", "0", *extra])

    assert exit_code == 2
    assert calls == []
    err = capsys.readouterr().err
    assert complaint in err
    assert "short" not in err.replace("too short", "") and "tiny" not in err  # the token itself is not echoed


# --- issue 15: HTTP sessions are bounded (a cap, and an idle timeout) --------------------------------------------


@pytest.mark.anyio
async def test_sessions_beyond_the_cap_are_refused_and_idle_ones_are_closed(tmp_path: Path) -> None:
    # The red team opened 3,000 sessions and never closed them. With a cap of 2 the third gets 503; once the
    # first two idle out (1 s here) their ids answer 404 and new sessions are admitted again.
    server, url = start_http_server(tmp_path, QDI_MCP_HTTP_MAX_SESSIONS="2", QDI_MCP_HTTP_SESSION_IDLE_SECONDS="1")
    try:
        opened = [await post(url, INITIALIZE) for _ in range(3)]
        assert [response.status_code for response in opened] == [200, 200, 503]
        first_session = opened[0].headers["mcp-session-id"]

        await anyio.sleep(2.5)  # no request in flight on either session: both are past the idle timeout

        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        stale = await post(url, listing, **{"mcp-session-id": first_session, "mcp-protocol-version": "2025-06-18"})
        assert stale.status_code == 404
        again = await post(url, INITIALIZE)
        assert again.status_code == 200 and again.headers["mcp-session-id"] != first_session
    finally:
        server.stop()
