"""OpenTelemetry: the SDK's span per request stays when spans can be recorded, and is dropped when they cannot.

The MCP SDK ships an OpenTelemetry middleware on every server. With only the OpenTelemetry API installed (the
MCP SDK's own dependency) its spans are no-ops that still cost time on every call, so `build_server` keeps the
middleware only when the OpenTelemetry SDK is importable. Both ways, tools answer the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from qdi_testkit import make_settings

import qdi_mcp.server.core as server_module
from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.server import build_server, tracing_can_record

pytestmark = pytest.mark.anyio
TENANT_URL = "http://127.0.0.1:8765"


def _middleware_names(server: object) -> list[str]:
    return [type(m).__name__ for m in server.middleware]  # type: ignore[attr-defined]


@pytest.mark.parametrize("recordable", [True, False])
async def test_span_middleware_follows_whether_spans_can_be_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recordable: bool
) -> None:
    monkeypatch.setattr(server_module, "tracing_can_record", lambda: recordable)
    emulator = Emulator(clock=ManualClock())
    async with QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport()) as client:
        server = build_server(make_settings(tmp_path), client)
        assert ("OpenTelemetryMiddleware" in _middleware_names(server)) is recordable
        async with Client(server) as mcp_client:
            result = await mcp_client.call_tool("qdi_get_project", {"project_id": emulator.project_id("Customer 360")})
    assert not result.is_error
    assert result.structured_content["project"]["name"] == "Customer 360"


def test_spans_cannot_be_recorded_without_the_opentelemetry_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def find_spec(name: str) -> object | None:
        seen.append(name)
        return None

    monkeypatch.setattr(server_module.importlib.util, "find_spec", find_spec)
    assert tracing_can_record() is False
    assert seen == ["opentelemetry.sdk"]


def test_spans_can_be_recorded_when_the_opentelemetry_sdk_is_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module.importlib.util, "find_spec", lambda name: object())
    assert tracing_can_record() is True


def test_no_opentelemetry_at_all_means_nothing_to_record(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")

    monkeypatch.setattr(server_module.importlib.util, "find_spec", missing)
    assert tracing_can_record() is False
