"""An id holding '/' must not reach another operation.

The API client sends such an id percent-encoded as one segment (test_paths_and_hosts.py checks the wire), and
the emulator routes on the path as sent (`SegmentPreservingPath`), so `GET .../di-projects/<pid>%2Fdi-tasks` is a
get_project for an unknown id (404), never list_tasks for <pid>.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, open_stack

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("suffix", ["/di-tasks", "/bindings", "/di-tasks/x/runtime/state"])
async def test_an_id_with_a_slash_reaches_only_the_operation_it_was_sent_to(tmp_path: Path, suffix: str) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        before = dict(stack.emulator.requests)
        result = await stack.mcp.call_tool("qdi_get_project", {"project_id": pid + suffix})
        reached = {op for op, count in stack.emulator.requests.items() if count != before.get(op, 0)}
        assert reached <= {"get_project"}, reached
        assert result.is_error and result.structured_content["error"]["code"] == "not_found"
