"""Ids from an agent stay inside their own path segment on the configured tenant; the tenant URL is checked
before any credential is sent; redirects never carry credentials to another host.

Requests are recorded at the transport, as they leave the API client (the raw, encoded URL), so the checks do not
depend on how the emulator decodes paths.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from mcp import Client
from qdi_testkit import CUSTOMER_360, TENANT_URL, make_settings, open_stack

from qdi_mcp.api import InvalidTenantUrl, OAuthClientCredentials, QlikClient
from qdi_mcp.cli.backend import open_client
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import Emulator
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.tools.polling import PollSchedule

TENANT = httpx.URL(TENANT_URL)
EVIL = "https://evil.example.com"
Responder = Callable[[httpx.Request], httpx.Response | None]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Every request as it leaves the client; `respond` may answer instead of the emulator (a hostile proxy)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, respond: Responder | None = None) -> None:
        self.inner = inner
        self.respond = respond
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.respond(request) if self.respond else None
        if answer is not None:
            return answer
        if request.url.host != TENANT.host:
            return httpx.Response(200, json={"stolen": True})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingEmulator(Emulator):
    def __init__(self, respond: Responder | None = None, **kwargs: object) -> None:
        super().__init__(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]
        self.recorder = RecordingTransport(super().transport(), respond)

    def transport(self) -> httpx.AsyncBaseTransport:
        return self.recorder


HOSTILE_IDS = [
    "/",
    "a/b",
    "../../../etc/passwd",
    "..",
    ".",
    "%2F",
    "a%2F..%2Fb",
    "p?admin=1&x=",
    "p#fragment",
    "p\r\nX-Injected: 1",
    "p\x00q\x1b[31m",
    "\u202eevil",
    "ünïcödé 名前 😀",
    "@evil.example.com",
    "https://evil.example.com/x",
]


def segments(request: httpx.Request) -> list[str]:
    return request.url.raw_path.decode("ascii").split("?")[0].split("/")


def assert_stays_in_its_segment(request: httpx.Request, template: str, values: dict[str, str]) -> None:
    """The request is `template` on the tenant, each {placeholder} one segment that decodes to the given id."""
    assert (request.url.scheme, request.url.host, request.url.port) == (TENANT.scheme, TENANT.host, TENANT.port)
    expected = template.split("/")
    sent = segments(request)
    assert len(sent) == len(expected), request.url.raw_path
    for want, got in zip(expected, sent, strict=True):
        if want.startswith("{"):
            assert unquote(got) == values[want.strip("{}")]
            assert not set(got) & set("/?#\\") and got not in {".", ".."}
        else:
            assert got == want
    assert b"?" not in request.url.raw_path or request.url.query in {b"", b"detailed=true"}


@pytest.mark.anyio
@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=repr)
async def test_hostile_ids_stay_inside_their_segment_on_the_tenant(tmp_path: Path, hostile: str) -> None:
    emulator = RecordingEmulator()
    async with open_stack(tmp_path, emulator=emulator) as stack:
        pid = stack.project_id(CUSTOMER_360)
        calls = [
            ("qdi_get_project", {"project_id": hostile}, "/api/v1/di-projects/{projectId}"),
            ("qdi_get_project", {"project_id": pid + "/" + hostile}, "/api/v1/di-projects/{projectId}"),
            ("qdi_get_task_state", {"project_id": pid, "task_id": hostile}, "/api/v1/di-projects/{projectId}"
             "/di-tasks/{dataTaskId}/runtime/state"),
            ("qdi_start_task", {"project_id": hostile, "task_id": hostile}, "/api/v1/di-projects/{projectId}"
             "/di-tasks/{dataTaskId}/runtime/actions/start"),
            ("qdi_get_action", {"action_id": hostile}, "/api/v1/di-projects/actions/{actionId}"),
        ]  # fmt: skip
        for tool, arguments, template in calls:
            emulator.recorder.requests.clear()
            result = await stack.mcp.call_tool(tool, arguments)
            assert result.is_error, (tool, result.structured_content)
            assert result.structured_content["error"]["code"] in {"not_found", "invalid_arguments"}
            values = {
                "projectId": arguments.get("project_id", ""),
                "dataTaskId": arguments.get("task_id", ""),
                "actionId": arguments.get("action_id", ""),
            }
            for request in emulator.recorder.requests:
                assert_stays_in_its_segment(request, template, values)
        assert stack.emulator.counters.total() == 0  # no hostile id changed anything


@pytest.mark.anyio
async def test_ten_kilobyte_and_blank_ids_are_refused_before_any_request(tmp_path: Path) -> None:
    emulator = RecordingEmulator()
    async with open_stack(tmp_path, emulator=emulator) as stack:
        noise = "".join(random.Random(9).choice("ab/.%?#\x00é") for _ in range(10_000))
        for arguments in ({"project_id": noise}, {"project_id": " "}, {"project_id": "\t\n"}):
            result = await stack.mcp.call_tool("qdi_get_project", arguments)
            error = result.structured_content["error"]
            assert error["code"] == "invalid_arguments" and error["field"] == "project_id", error
    assert emulator.recorder.requests == []


VALID_TENANTS = [
    ("https://acme.eu.qlikcloud.com", "https://acme.eu.qlikcloud.com"),
    ("https://ACME.us.QlikCloud.com/", "https://acme.us.qlikcloud.com"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://localhost:9000", "http://localhost:9000"),
    ("http://[::1]:8765", "http://[::1]:8765"),
]
INVALID_TENANTS = [
    "ftp://acme.eu.qlikcloud.com",
    "file:///etc/passwd",
    "acme.eu.qlikcloud.com",
    "https://user:hunter2-password@acme.eu.qlikcloud.com",
    "https://acme.eu.qlikcloud.com@evil.example.com",
    "https://evil.example.com",
    "https://acme.eu.qlikcloud.com.evil.example.com",
    "https://evilqlikcloud.com",
    "https://.qlikcloud.com",
    "http://acme.eu.qlikcloud.com",
    "https://169.254.169.254",
    "http://10.0.0.7:8080",
    "https://evil.example.com/?.qlikcloud.com",
    "https://evil.example.com#.qlikcloud.com",
    "https://evil.example.com\\.qlikcloud.com",
    "https://acme.eu.qlikcloud.com/api/v1",
    "https://acme.eu.qlikcloud.com\r\nHost: evil",
    "",
]


@pytest.mark.anyio
@pytest.mark.parametrize(("url", "origin"), VALID_TENANTS)
async def test_qlik_cloud_and_loopback_tenants_are_accepted(url: str, origin: str) -> None:
    settings = Settings.from_env({"QLIK_TENANT_URL": url, "QLIK_API_KEY": "k" * 20})
    async with open_client(settings) as client:
        assert client.tenant_url == origin


@pytest.mark.anyio
@pytest.mark.parametrize("url", INVALID_TENANTS, ids=repr)
async def test_other_tenant_urls_are_refused_without_echoing_credentials(url: str) -> None:
    settings = Settings.from_env({"QLIK_TENANT_URL": url, "QLIK_API_KEY": "k" * 20})
    with pytest.raises((InvalidTenantUrl, ValueError)) as refused:
        async with open_client(settings):
            pass
    assert "tenant URL" in str(refused.value) or "QLIK_TENANT_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.anyio
async def test_a_host_outside_qlik_cloud_is_accepted_only_when_the_operator_allows_it() -> None:
    env = {"QLIK_TENANT_URL": "https://qlik.internal.example", "QLIK_API_KEY": "k" * 20}
    with pytest.raises(InvalidTenantUrl, match="not a Qlik Cloud tenant"):
        async with open_client(Settings.from_env(env)):
            pass
    allowed = Settings.from_env(env | {"QDI_MCP_ALLOWED_HOSTS": "qlik.internal.example"})
    async with open_client(allowed) as client:
        assert client.tenant_url == "https://qlik.internal.example"


def redirect_to_evil(path_part: str) -> Responder:
    def respond(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == TENANT.host and path_part in request.url.path:
            return httpx.Response(307, headers={"Location": f"{EVIL}/steal{request.url.path}"})
        return None

    return respond


@pytest.mark.anyio
async def test_a_redirect_is_not_followed_so_the_api_key_never_reaches_another_host(tmp_path: Path) -> None:
    emulator = RecordingEmulator(respond=redirect_to_evil("/di-projects/"))
    async with open_stack(tmp_path, emulator=emulator) as stack:
        result = await stack.mcp.call_tool("qdi_get_project", {"project_id": stack.project_id(CUSTOMER_360)})
        error = result.structured_content["error"]
        assert result.is_error and "redirect" in error["message"].lower()
        assert error["http_status"] == 307 and error["retryable"] is False
    hosts = {request.url.host for request in emulator.recorder.requests}
    assert hosts == {TENANT.host}
    assert len(emulator.recorder.requests) == 1  # not retried either


@asynccontextmanager
async def oauth_stack(tmp_path: Path, emulator: RecordingEmulator) -> AsyncIterator[Client]:
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    auth = OAuthClientCredentials("ci-client", "ci-client-secret-0123456789")
    client = QlikClient(TENANT_URL, auth=auth, transport=emulator.transport(), clock=clock)
    options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(7)}
    async with client:
        server = build_server(make_settings(tmp_path), client, context_options=options)
        async with Client(server) as mcp_client:
            yield mcp_client


@pytest.mark.anyio
async def test_a_redirected_token_request_never_sends_the_client_secret_elsewhere(tmp_path: Path) -> None:
    emulator = RecordingEmulator(respond=redirect_to_evil("/oauth/token"), oauth_clients={"ci-client": "x" * 27})
    async with oauth_stack(tmp_path, emulator) as mcp_client:
        result = await mcp_client.call_tool("qdi_list_projects", {})
        assert result.is_error and result.structured_content["error"]["code"] == "redirect_refused"
    assert {request.url.host for request in emulator.recorder.requests} == {TENANT.host}
    assert [request.url.path for request in emulator.recorder.requests] == ["/oauth/token"]


def test_no_tool_argument_lets_an_agent_choose_a_host_or_url() -> None:
    from qdi_mcp.specs import load_specs

    suspicious = ("url", "host", "tenant", "endpoint", "base", "server", "redirect")
    for spec in load_specs():
        for name in spec.input_schema.get("properties", {}):
            assert not any(word in name.lower() for word in suspicious), (spec.name, name)
