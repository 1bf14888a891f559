"""What agents see: tools/list equals the specs, every spec has a handler, and the whole list is snapshotted so
any change to names, schemas or annotations is deliberate (QDI_UPDATE_SNAPSHOTS=1 rewrites the snapshot)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from qdi_testkit import open_stack

from qdi_mcp.specs import load_specs
from qdi_mcp.tools import HANDLERS

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "tools_list.json"


def test_every_spec_has_exactly_one_handler_and_no_handler_lacks_a_spec() -> None:
    assert set(HANDLERS) == {spec.name for spec in load_specs()}


@pytest.mark.anyio
async def test_tools_list_serves_each_spec_verbatim(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        listed = {tool.name: tool for tool in (await stack.mcp.list_tools()).tools}
    specs = {spec.name: spec for spec in load_specs()}
    assert set(listed) == set(specs)
    for name, tool in listed.items():
        spec = specs[name]
        assert tool.description == spec.description
        assert tool.title == spec.title
        assert tool.input_schema == spec.input_schema
        assert tool.output_schema == spec.output_schema
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint == spec.annotations["readOnlyHint"]
        assert tool.annotations.destructive_hint == spec.annotations["destructiveHint"]
        assert tool.annotations.idempotent_hint == spec.annotations["idempotentHint"]
        assert tool.annotations.open_world_hint == spec.annotations["openWorldHint"]


@pytest.mark.anyio
async def test_tools_list_matches_the_checked_in_snapshot(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        tools = (await stack.mcp.list_tools()).tools
    current = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    current.sort(key=lambda tool: tool["name"])
    if os.environ.get("QDI_UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if os.environ.get("CI"):
            pytest.fail("the tools/list snapshot was missing in CI; generate it with QDI_UPDATE_SNAPSHOTS=1")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == expected, "tools/list changed: review the diff, then rerun with QDI_UPDATE_SNAPSHOTS=1"
