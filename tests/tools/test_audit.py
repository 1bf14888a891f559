from __future__ import annotations

import json
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from qdi_mcp.guard.audit import AuditLog, AuditLogError, current_client
from qdi_mcp.guard.redact import Redactor

API_KEY = "qlik-api-key-0123456789abcdef"
FIELDS = [
    "time",
    "call_id",
    "tool",
    "safety",
    "arguments",
    "outcome",
    "confirmed_by",
    "client",
    "tenant",
    "trace_id",
    "final_state",
    "detail",
]


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_record_appends_one_json_line_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "audit.jsonl"
    audit = AuditLog(path, redactor=Redactor(), clock=lambda: 1_700_000_000.25)

    returned = audit.record(
        tool="qdi_stop_task",
        arguments={"project_id": "p-1", "task_id": "t-1"},
        outcome="executed",
        safety="destructive",
        trace_id="trace-9",
        confirmed_by="token",
    )

    [line] = read_lines(path)
    assert list(line) == FIELDS
    assert line == returned
    assert line["time"] == "2023-11-14T22:13:20.250Z"
    assert line["tool"] == "qdi_stop_task"
    assert line["arguments"] == {"project_id": "p-1", "task_id": "t-1"}
    assert (line["outcome"], line["safety"], line["confirmed_by"]) == ("executed", "destructive", "token")
    assert (line["trace_id"], line["detail"]) == ("trace-9", None)


def test_every_line_names_the_tenant_it_was_written_for(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    demo = AuditLog(path, redactor=Redactor(), tenant="demo")
    demo.record(tool="qdi_a", arguments={}, outcome="refused", safety="write")
    AuditLog(path, redactor=Redactor(), tenant="acme.eu.qlikcloud.com").record(
        tool="qdi_b", arguments={}, outcome="executed", safety="write", final_state="FAILED"
    )

    lines = read_lines(path)
    assert [line["tenant"] for line in lines] == ["demo", "acme.eu.qlikcloud.com"]
    assert [line["final_state"] for line in lines] == [None, "FAILED"]


def test_records_append_rather_than_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path, redactor=Redactor()).record(tool="qdi_a", arguments={}, outcome="executed", safety="write")
    AuditLog(path, redactor=Redactor()).record(tool="qdi_b", arguments={}, outcome="failed", safety="write")

    assert [line["tool"] for line in read_lines(path)] == ["qdi_a", "qdi_b"]


def test_secrets_are_redacted_in_arguments_and_detail(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, redactor=Redactor([API_KEY]))

    audit.record(
        tool="qdi_import_project",
        arguments={"project_id": "p-1", "confirmation_token": "abc.def", "note": f"key {API_KEY}"},
        outcome="failed",
        safety="destructive",
        detail=f"401 with Authorization: Bearer {API_KEY}",
    )

    text = path.read_text(encoding="utf-8")
    [line] = read_lines(path)
    assert API_KEY not in text and "abc.def" not in text
    assert line["arguments"] == {"project_id": "p-1", "confirmation_token": "<redacted>", "note": "key ***"}
    assert line["detail"] == "401 with Authorization: Bearer ***"


def test_line_breaks_in_values_stay_inside_one_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, redactor=Redactor())

    audit.record(tool="qdi_x", arguments={"name": "a\nb\u2028c"}, outcome="failed", safety="write", detail="x\ny")

    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
    assert read_lines(path)[0]["arguments"]["name"] == "a\nb\u2028c"


@pytest.mark.anyio
async def test_hundred_concurrent_asyncio_writers_give_hundred_intact_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, redactor=Redactor())

    async def write(index: int) -> None:
        await anyio.lowlevel.checkpoint()
        audit.record(
            tool="qdi_start_task",
            arguments={"index": index, "pad": "x" * 5000},
            outcome="executed",
            safety="write",
        )

    async with anyio.create_task_group() as group:
        for index in range(100):
            group.start_soon(write, index)

    lines = read_lines(path)
    assert sorted(line["arguments"]["index"] for line in lines) == list(range(100))


def test_concurrent_threads_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, redactor=Redactor())

    def write(worker: int) -> None:
        for index in range(25):
            audit.record(
                tool="qdi_x",
                arguments={"id": f"{worker}-{index}", "pad": "y" * 20_000},
                outcome="executed",
                safety="write",
            )

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = {line["arguments"]["id"] for line in read_lines(path)}
    assert ids == {f"{worker}-{index}" for worker in range(8) for index in range(25)}


def test_memory_mode_keeps_bounded_records_and_writes_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    audit = AuditLog(None, redactor=Redactor([API_KEY]), max_memory_records=3)

    for index in range(5):
        audit.record(tool="qdi_x", arguments={"i": index, "k": API_KEY}, outcome="refused", safety="write")

    assert [record["arguments"]["i"] for record in audit.records] == [2, 3, 4]
    assert all(record["arguments"]["k"] == "***" for record in audit.records)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_log_raises_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    audit = AuditLog(blocker / "audit.jsonl", redactor=Redactor())

    with pytest.raises(AuditLogError, match="cannot append to the audit log"):
        audit.record(tool="qdi_x", arguments={}, outcome="executed", safety="write")


def test_an_outcome_outside_the_documented_set_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, redactor=Redactor())
    with pytest.raises(ValueError, match="unknown audit outcome 'done'"):
        audit.record(tool="qdi_stop_task", arguments={}, outcome="done", safety="destructive")
    assert not path.exists() or path.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize("outcome", ["confirmation_asked", "cancelled", "outcome_unknown"])
def test_every_outcome_the_server_writes_is_accepted(tmp_path: Path, outcome: str) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", redactor=Redactor())
    assert audit.record(tool="qdi_stop_task", arguments={}, outcome=outcome, safety="destructive")["outcome"] == outcome


def test_a_line_names_the_client_of_the_current_call_flattened_and_bounded(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl", redactor=Redactor())
    outside = audit.record(tool="qdi_stop_task", arguments={}, outcome="executed", safety="destructive")
    token = current_client.set("claude-code\n2.1.0 " + "x" * 300)
    try:
        inside = audit.record(tool="qdi_stop_task", arguments={}, outcome="executed", safety="destructive")
    finally:
        current_client.reset(token)
    assert outside["client"] is None
    assert inside["client"].startswith("claude-code 2.1.0 xxx")
    assert "\n" not in inside["client"] and len(inside["client"]) == 120
    assert [line["client"] for line in read_lines(tmp_path / "audit.jsonl")] == [None, inside["client"]]
