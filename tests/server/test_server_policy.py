"""Which tools are served (read-only, toolsets, tool lists), and arguments checked before any HTTP request."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, open_stack

from qdi_mcp.specs import load_specs

pytestmark = pytest.mark.anyio

READ_TOOLS = {spec.name for spec in load_specs() if spec.safety == "read"}


async def listed(stack) -> set[str]:  # type: ignore[no-untyped-def]
    return {tool.name for tool in (await stack.mcp.list_tools()).tools}


async def test_read_only_serves_only_read_tools_and_refuses_others_by_name(tmp_path: Path) -> None:
    async with open_stack(tmp_path, read_only=True) as stack:
        assert await listed(stack) == READ_TOOLS
        pid = stack.project_id(ORDERS)
        tid = stack.emulator.tasks(pid)[0]["id"]
        before = stack.reads_and_writes()
        result = await stack.mcp.call_tool("qdi_stop_task", {"project_id": pid, "task_id": tid})
        assert result.is_error and result.structured_content["error"]["code"] == "read_only"
        assert stack.reads_and_writes() == before
        assert stack.emulator.task_run_state(pid, tid) == "RUNNING"
        assert stack.audit[-1]["outcome"] == "refused"


async def test_read_only_wins_over_an_explicit_tool_list(tmp_path: Path) -> None:
    async with open_stack(
        tmp_path, read_only=True, tools=("qdi_stop_task", "qdi_get_task_state"), confirm="never"
    ) as stack:
        assert await listed(stack) == {"qdi_get_task_state"}


async def test_toolsets_tools_and_exclusions_select_what_is_served(tmp_path: Path) -> None:
    runtime = {spec.name for spec in load_specs() if spec.toolset == "runtime"}
    async with open_stack(tmp_path, toolsets=("runtime",)) as stack:
        assert await listed(stack) == runtime
        refused = await stack.mcp.call_tool("qdi_list_projects", {})
        assert refused.structured_content["error"]["code"] == "tool_disabled"
        assert "toolset" in refused.structured_content["error"]["message"]
    async with open_stack(tmp_path, tools=("qdi_list_projects", "qdi_get_project")) as stack:
        assert await listed(stack) == {"qdi_list_projects", "qdi_get_project"}
    async with open_stack(tmp_path, exclude_tools=("qdi_stop_task", "qdi_stop_task_and_wait")) as stack:
        names = await listed(stack)
        assert "qdi_stop_task" not in names and "qdi_start_task" in names


async def test_an_unknown_tool_is_an_error_result(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool("qdi_drop_everything", {})
        assert result.is_error and result.structured_content["error"]["code"] == "unknown_tool"


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        ({}, "project_id", "missing required argument"),
        ({"project_id": 42}, "project_id", "string"),
        ({"project_id": ""}, "project_id", "project_id"),
        ({"project_id": "p", "bogus": 1}, "bogus", "unknown argument 'bogus'; allowed: project_id"),
        ({"project_id": "p", "timeout_seconds": 0}, "timeout_seconds", "minimum"),
        ({"project_id": "p", "selected_task_ids": "t1"}, "selected_task_ids", "array"),
    ],
)
async def test_invalid_arguments_name_the_field_and_make_no_request(
    tmp_path: Path, arguments: dict, field: str, words: str
) -> None:
    async with open_stack(tmp_path) as stack:
        before = stack.reads_and_writes()
        result = await stack.mcp.call_tool("qdi_prepare_project_and_wait", arguments)
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "invalid_arguments" and error["field"] == field
        assert words in error["message"]
        assert stack.reads_and_writes() == before


async def test_an_enum_violation_lists_the_allowed_values(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        result = await stack.mcp.call_tool(
            "qdi_request_task_reload", {"project_id": pid, "task_id": "t", "reload_strategy": "DROP"}
        )
        message = result.structured_content["error"]["message"]
        assert "reload_strategy" in message and "TRUNCATE" in message and "COMPARE_AND_APPLY" in message
