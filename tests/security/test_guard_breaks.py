"""Issue 15, the guard-side breaks a red team reproduced: each test replays the attack and checks it now fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from qdi_testkit import ORDERS, Stack, open_stack

pytestmark = pytest.mark.anyio

DEV_FULL = Path("/dev/full")


def running_replication(stack: Stack) -> dict[str, str]:
    pid = stack.project_id(ORDERS)
    tid = stack.emulator.tasks(pid)[0]["id"]
    assert stack.emulator.task_run_state(pid, tid) == "RUNNING"
    return {"project_id": pid, "task_id": tid}


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- break 3: every write is recorded -------------------------------------------------------------------------


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (Linux)")
async def test_a_confirmed_stop_is_not_sent_when_its_audit_line_cannot_be_written(tmp_path: Path) -> None:
    # /dev/full opens for writing like any file, and every write to it fails (ENOSPC).
    async with open_stack(tmp_path, audit_log=DEV_FULL, confirm="never") as stack:
        result = await stack.mcp.call_tool("qdi_stop_task", running_replication(stack))
        assert stack.emulator.counters["stop_task"] == 0
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "audit_unavailable"
    assert "Nothing was sent" in error["message"] and "No space left" in error["message"]


async def test_a_write_leaves_an_intent_line_and_an_outcome_line_joined_by_one_call_id(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = running_replication(stack)
        await stack.mcp.call_tool("qdi_stop_task", args)
        await stack.mcp.call_tool("qdi_stop_task", args)
    lines = read_lines(tmp_path / "audit.jsonl")
    assert [line["outcome"] for line in lines] == ["started", "executed", "started", "failed"]
    assert lines[0]["call_id"] == lines[1]["call_id"] != lines[2]["call_id"] == lines[3]["call_id"]
    assert all(line["call_id"] for line in lines)
    assert lines[0]["arguments"] == args and lines[0]["confirmed_by"] == "policy:never"


# --- break 5: audit lines have a size limit -------------------------------------------------------------------


async def test_refused_calls_with_megabytes_of_arguments_write_short_audit_lines(tmp_path: Path) -> None:
    junk = "x" * 5_000_000
    async with open_stack(tmp_path, read_only=True) as stack:
        for _ in range(3):
            refused = await stack.mcp.call_tool("qdi_stop_task", {"project_id": junk, "task_id": "t", "more": [junk]})
            assert refused.structured_content["error"]["code"] == "read_only"
    log = tmp_path / "audit.jsonl"
    assert log.stat().st_size < 3 * 2_000
    line = read_lines(log)[0]
    cut = line["arguments"]["project_id"]
    assert cut["length"] == len(json.dumps(junk)) and cut["cut_chars"] == cut["length"] - len(cut["cut"])
    assert cut["sha256"] == __import__("hashlib").sha256(json.dumps(junk).encode()).hexdigest()
    assert line["arguments"]["task_id"] == "t"

