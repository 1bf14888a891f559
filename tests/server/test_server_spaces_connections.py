"""Spaces, data connections and binding checks through a real MCP client against the emulator."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, CUSTOMER_360_PROD, SALES_QVD, call_ok, open_stack

from qdi_mcp.emulator.demo import DEV_SPACE_ID, PROD_SPACE_ID
from qdi_mcp.tools.spaces import SPACE_NAMES_TTL_SECONDS

pytestmark = pytest.mark.anyio

PLANTED = "pl4nted-S3cret-value"


async def test_list_spaces_filters_by_name_and_type_and_pages_with_a_cursor(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        everything = await call_ok(stack, "qdi_list_spaces", {})
        assert [(s["id"], s["name"], s["type"]) for s in everything["spaces"]] == [
            (DEV_SPACE_ID, "DEV_SPACE", "data"),
            (PROD_SPACE_ID, "PROD_SPACE", "data"),
        ]
        assert everything["next_cursor"] is None
        assert [s["name"] for s in (await call_ok(stack, "qdi_list_spaces", {"name": "prod"}))["spaces"]] == [
            "PROD_SPACE"
        ]
        assert (await call_ok(stack, "qdi_list_spaces", {"type": "shared"}))["spaces"] == []
        first = await call_ok(stack, "qdi_list_spaces", {"limit": 1})
        rest = await call_ok(stack, "qdi_list_spaces", {"limit": 1, "cursor": first["next_cursor"]})
        assert [s["name"] for s in first["spaces"] + rest["spaces"]] == ["DEV_SPACE", "PROD_SPACE"]
        assert rest["next_cursor"] is None


async def test_list_connections_gives_ready_binding_references_of_existing_connections(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        listed = await call_ok(stack, "qdi_list_connections", {"space_id": DEV_SPACE_ID})
        assert {c["binding_reference"] for c in listed["connections"]} == {
            "{{id(connection, DEV_SPACE.MySQL_DEV)}}",
            "{{id(connection, DEV_SPACE.Salesforce)}}",
            "{{id(connection, DEV_SPACE.Snowflake_DEV)}}",
        }
        assert all(c["space_name"] == "DEV_SPACE" and c["type"] for c in listed["connections"])
        # every connection reference in the demo's bindings names a listed connection, except the one binding the
        # demo leaves empty on purpose (Sales QVD's landing source)
        every = await call_ok(stack, "qdi_list_connections", {"limit": 100})
        known = {c["binding_reference"] for c in every["connections"]}
        for name in (CUSTOMER_360, CUSTOMER_360_PROD, SALES_QVD):
            for value in stack.emulator.bindings(stack.project_id(name)).values():
                if isinstance(value, str) and value.startswith("{{id(connection"):
                    assert value in known, (name, value)


async def test_bad_paging_arguments_are_refused_without_a_request(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        before = stack.reads_and_writes()
        for args in ({"limit": 0}, {"limit": 101}, {"type": "private"}):
            result = await stack.mcp.call_tool("qdi_list_spaces", args)
            assert result.is_error
            assert next(iter(args)) in json.dumps(result.structured_content)
        assert stack.reads_and_writes() == before


async def test_a_planted_connection_secret_shows_in_no_result_and_no_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_stack(tmp_path) as stack:
        for connection in stack.emulator.tenant.connections.values():
            connection.secret = PLANTED
            connection.connect_statement = f'CUSTOM CONNECT TO "provider=x;password={PLANTED}"'
        result = await stack.mcp.call_tool("qdi_list_connections", {"limit": 100})
        pid = stack.project_id(SALES_QVD)
        variables = stack.emulator.bindings(pid)
        variables["task.unknown.sourceConnection"] = "{{id(connection, DEV_SPACE.MySQL_DEVV)}}"
        refused = await stack.mcp.call_tool(
            "qdi_update_bindings", {"project_id": pid, "variables": variables, "remove_missing": True}
        )
        audit = (tmp_path / "audit.jsonl").read_text() if (tmp_path / "audit.jsonl").exists() else ""
    assert not result.is_error and refused.is_error
    shown = [result.model_dump_json(), refused.model_dump_json(), audit, caplog.text]
    assert all(PLANTED not in text for text in shown)


async def test_update_bindings_refuses_an_unknown_connection_with_a_did_you_mean(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(SALES_QVD)
        before = stack.emulator.bindings(pid)
        empty = next(k for k, v in before.items() if k.endswith("sourceConnection") and not v)
        result = await stack.mcp.call_tool(
            "qdi_update_bindings",
            {"project_id": pid, "variables": {**before, empty: "{{id(connection, DEV_SPACE.MySQL_Dev)}}"}},
        )
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "invalid_arguments" and error["field"] == "variables"
        assert "did you mean '{{id(connection, DEV_SPACE.MySQL_DEV)}}'" in error["message"]
        assert "qdi_list_connections" in error["hint"]
        assert stack.emulator.bindings(pid) == before and stack.emulator.counters["update_bindings"] == 0


async def test_update_bindings_lists_each_change_old_to_new(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(SALES_QVD)
        before = stack.emulator.bindings(pid)
        empty = next(k for k, v in before.items() if k.endswith("sourceConnection") and not v)
        reference = "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
        result = await call_ok(
            stack, "qdi_update_bindings", {"project_id": pid, "variables": {**before, empty: reference}}
        )
        assert result["changed"] == [{"name": empty, "old": before[empty], "new": reference}]
        assert stack.emulator.bindings(pid)[empty] == reference


async def test_project_results_name_their_space_and_a_missing_space_is_null(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        listed = await call_ok(stack, "qdi_list_projects", {})
        assert {p["space_name"] for p in listed["projects"]} == {"DEV_SPACE", "PROD_SPACE"}
        project = (await call_ok(stack, "qdi_get_project", {"project_id": pid}))["project"]
        assert (project["space_id"], project["space_name"]) == (DEV_SPACE_ID, "DEV_SPACE")
        assert (project["type"], project["platform_type"]) == ("DATA_PIPELINE", "SNOWFLAKE")
        status = await call_ok(stack, "qdi_get_project_status", {"project_id": pid})
        assert status["project"]["space_name"] == "DEV_SPACE"
        created = await call_ok(
            stack,
            "qdi_create_project",
            {"name": "Replica", "type": "DATA_MOVEMENT", "space_id": PROD_SPACE_ID, "platform_type": "NONE"},
        )
        assert created["project"]["space_name"] == "PROD_SPACE"
        assert created["project"]["platform_type"] == "NONE"
        # one listing of the spaces served all of those calls (names are kept SPACE_NAMES_TTL_SECONDS)
        assert stack.emulator.requests["list_spaces"] == 1
        del stack.emulator.tenant.spaces[DEV_SPACE_ID]  # the space went away (or the caller lost access)
        stack.clock.advance(SPACE_NAMES_TTL_SECONDS + 1)
        project = (await call_ok(stack, "qdi_get_project", {"project_id": pid}))["project"]
        assert project["space_name"] is None
        stack.clock.advance(SPACE_NAMES_TTL_SECONDS + 1)
        stack.emulator.faults.inject("list_spaces", "status", status=500, times=10)
        project = (await call_ok(stack, "qdi_get_project", {"project_id": pid}))["project"]
        assert project["space_name"] is None
