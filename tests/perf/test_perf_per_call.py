"""Per-call work the server does once: the text content renders the structure already redacted, and the
2026 HTTP transport reads a tool's input schema from the server instead of running tools/list on every call."""

from __future__ import annotations

import json
from pathlib import Path

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.guard.fence import DATA_CLOSE, DATA_OPEN
from qdi_mcp.server import build_server
from qdi_mcp.settings import Settings
from qdi_mcp.specs import load_specs
from qdi_mcp.tools import ToolResult

TENANT_URL = "http://127.0.0.1:8765"
SECRET = "s3cret-value-for-tests-0123456789abcdef"  # noqa: S105 - a fake secret the redactor must hide


def make_server(tmp_path: Path, **settings: object):  # noqa: ANN201 - the SDK's Server type is generic
    emulator = Emulator(clock=ManualClock())
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport())
    values = {"demo": True, "workdir": tmp_path / "work", "audit_log": tmp_path / "audit.jsonl", **settings}
    return build_server(Settings.from_env({}, **values), client)


def data_in_text(text: str) -> object:
    return json.loads(text.split(DATA_OPEN, 1)[1].removesuffix(DATA_CLOSE))


def test_result_text_shows_exactly_the_redacted_structured_content(tmp_path: Path) -> None:
    qdi = make_server(tmp_path, secret=SECRET).qdi
    structured = {"name": f"uses {SECRET}", "token": "tok-123456789", "nested": {"Authorization": "Bearer abcdefgh12"}}

    result = qdi.success_result(ToolResult(structured, f"Summary mentioning {SECRET}."))

    text = result.content[0].text
    assert SECRET not in text and "abcdefgh12" not in text
    assert text.startswith("Summary mentioning ***.")
    assert data_in_text(text) == result.structured_content
    # Our secrets and credentials are masked; tenant data under a secret-looking name is not (an agent may
    # write it back to Qlik), see tests/server/test_server_tenant_data.py.
    assert result.structured_content == {
        "name": "uses ***",
        "token": "tok-123456789",
        "nested": {"Authorization": "Bearer ***"},
    }


def test_the_server_answers_input_schemas_of_served_tools_only(tmp_path: Path) -> None:
    server = make_server(tmp_path, read_only=True)
    specs = {spec.name: spec for spec in load_specs()}

    assert server.get_tool_input_schema("qdi_get_project") == specs["qdi_get_project"].input_schema
    assert server.get_tool_input_schema("qdi_stop_task") is None, "hidden in read-only mode"
    assert server.get_tool_input_schema("qdi_no_such_tool") is None
