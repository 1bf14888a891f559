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
        stack.emulator.faults.inject("stop_task", "status", status=400)  # Qlik refuses the first stop
        await stack.mcp.call_tool("qdi_stop_task", args)
        await stack.mcp.call_tool("qdi_stop_task", args)
    lines = read_lines(tmp_path / "audit.jsonl")
    assert [line["outcome"] for line in lines] == ["started", "failed", "started", "executed"]
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


async def test_a_preview_with_fifty_thousand_dataset_ids_is_refused_by_the_schema_and_writes_nothing(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack) | {
            "reload_strategy": "TRUNCATE",
            "dataset_ids": [f"dataset-{i}" for i in range(50_000)],
        }
        result = await stack.mcp.call_tool("qdi_request_task_reload", args)
        assert result.is_error and result.structured_content["error"]["code"] == "invalid_arguments"
        assert "dataset_ids" in result.structured_content["error"]["message"]
        assert stack.reads_and_writes() == 0
    log = tmp_path / "audit.jsonl"
    assert not log.exists() or log.stat().st_size < 5_000


# --- partial: a long-TTL token in a short-TTL process ---------------------------------------------------------


def test_a_token_minted_with_a_long_ttl_is_refused_after_the_verifying_process_s_own_ttl() -> None:
    from qdi_mcp.guard.tokens import ConfirmationError, ConfirmationTokens

    now = [1_700_000_000.0]
    secret = b"s" * 32
    generous = ConfirmationTokens(secret, ttl_seconds=86_400, clock=lambda: now[0])
    strict = ConfirmationTokens(secret, ttl_seconds=60, clock=lambda: now[0])
    arguments = {"project_id": "p", "task_id": "t"}
    young = generous.issue("qdi_stop_task", arguments)
    old = generous.issue("qdi_stop_task", arguments)

    now[0] += 30
    strict.verify("qdi_stop_task", arguments, young.token)  # within both TTLs: accepted
    now[0] += 60
    with pytest.raises(ConfirmationError) as refused:
        strict.verify("qdi_stop_task", arguments, old.token)
    assert refused.value.reason == "expired" and "60 s" in str(refused.value)
    generous.verify("qdi_stop_task", arguments, old.token)  # the issuer's own TTL still allows it


# --- break 4: an unanswered question ends ---------------------------------------------------------------------

PROTOCOL_ERAS = pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["2025-handshake", "2026-multi-round-trip"])
QUESTION_SECONDS = 0.05  # the bound under test; the person below is slower than that


async def a_person_who_answers_too_late(context: Any, params: Any) -> Any:
    import anyio
    import mcp_types as types

    # On the 2025 protocol the server stops waiting; on the 2026 one the late answer's state has expired.
    await anyio.sleep(QUESTION_SECONDS * 10)
    return types.ElicitResult(action="accept", content={"confirm": True})


async def a_client_that_never_answers(context: Any, params: Any) -> Any:
    import anyio

    await anyio.sleep_forever()


@PROTOCOL_ERAS
async def test_a_question_without_a_timely_answer_ends_with_nothing_done_and_is_audited(
    tmp_path: Path, mode: str
) -> None:
    person = a_client_that_never_answers if mode == "legacy" else a_person_who_answers_too_late
    async with open_stack(
        tmp_path, elicitation_callback=person, mode=mode, confirm_timeout_seconds=QUESTION_SECONDS
    ) as stack:
        import anyio

        with anyio.fail_after(30):  # before the fix the legacy call hung here forever
            result = await stack.mcp.call_tool("qdi_stop_task", running_replication(stack))
        assert stack.emulator.counters["stop_task"] == 0
    assert not result.is_error and result.structured_content["status"] == "declined"
    assert "Nothing was done" in result.structured_content["message"]
    assert "no answer" in result.structured_content["message"]
    assert [r["outcome"] for r in stack.audit] == ["confirmation_asked", "confirmation_timed_out"]
    assert len({r["call_id"] for r in stack.audit}) == (1 if mode == "legacy" else 2)


@PROTOCOL_ERAS
async def test_an_answered_question_is_audited_as_asked_then_confirmed_before_the_write(
    tmp_path: Path, mode: str
) -> None:
    import mcp_types as types

    async def yes(context: Any, params: Any) -> Any:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with open_stack(tmp_path, elicitation_callback=yes, mode=mode) as stack:
        result = await stack.mcp.call_tool("qdi_stop_task", running_replication(stack))
        assert stack.emulator.counters["stop_task"] == 1
    assert not result.is_error
    assert [r["outcome"] for r in stack.audit] == ["confirmation_asked", "confirmed", "started", "executed"]
    assert stack.audit[-1]["confirmed_by"] == "elicitation"


def test_the_question_timeout_is_a_setting_with_a_ten_minute_default() -> None:
    from qdi_mcp.settings import Settings, SettingsError

    assert Settings.from_env({}).confirm_timeout_seconds == 600
    assert Settings.from_env({"QDI_MCP_CONFIRM_TIMEOUT": "30"}).confirm_timeout_seconds == 30
    with pytest.raises(SettingsError, match="QDI_MCP_CONFIRM_TIMEOUT"):
        Settings.from_env({"QDI_MCP_CONFIRM_TIMEOUT": "0"})


# --- partial: QDI_MCP_CONFIRM=elicit, a confirmation a model cannot give itself --------------------------------


async def test_in_elicit_mode_a_client_without_elicitation_is_refused_and_gets_no_token(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="elicit") as stack:
        args = running_replication(stack)
        refused = await stack.mcp.call_tool("qdi_stop_task", args)
        assert stack.emulator.counters["stop_task"] == 0
    assert refused.is_error
    error = refused.structured_content["error"]
    assert error["code"] == "confirmation_unavailable" and "QDI_MCP_CONFIRM=elicit" in error["message"]
    assert "confirmation_token" not in json.dumps(refused.structured_content)
    assert [r["outcome"] for r in stack.audit] == ["refused"]


async def test_in_elicit_mode_a_token_from_an_auto_mode_replica_confirms_nothing(tmp_path: Path) -> None:
    secret = "a-shared-secret-of-at-least-32-bytes!!"
    async with open_stack(tmp_path / "auto", secret=secret) as auto:
        args = running_replication(auto)
        token = (await auto.mcp.call_tool("qdi_stop_task", args)).structured_content["confirmation_token"]
    async with open_stack(tmp_path / "elicit", confirm="elicit", secret=secret) as stack:
        args = running_replication(stack)  # the same demo tenant: the same ids
        refused = await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": token})
        assert refused.structured_content["error"]["code"] == "confirmation_unavailable"
        assert stack.emulator.counters["stop_task"] == 0


@PROTOCOL_ERAS
async def test_in_elicit_mode_the_person_s_answer_runs_the_call(tmp_path: Path, mode: str) -> None:
    import mcp_types as types

    async def yes(context: Any, params: Any) -> Any:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with open_stack(tmp_path, confirm="elicit", elicitation_callback=yes, mode=mode) as stack:
        result = await stack.mcp.call_tool("qdi_stop_task", running_replication(stack))
        assert not result.is_error and stack.emulator.counters["stop_task"] == 1
    assert stack.audit[-1]["confirmed_by"] == "elicitation"


# --- break 5: the schemas cap what they accept ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "schema", "problem"),
    [
        ("note", {"type": "string", "description": "Free text."}, "a string an agent sends needs 'maxLength'"),
        (
            "ids",
            {"type": "array", "items": {"type": "string", "maxLength": 9}, "description": "Ids."},
            "an array an agent sends needs 'maxItems'",
        ),
        (
            "ids",
            {"type": "array", "maxItems": 9, "items": {"type": "string"}, "description": "Ids."},
            "a string an agent sends needs 'maxLength'",
        ),
        (
            "labels",
            {"type": "object", "additionalProperties": {"type": "string", "maxLength": 9}, "description": "Map."},
            "an open map an agent sends needs 'maxProperties'",
        ),
    ],
)
def test_a_spec_whose_input_has_no_size_cap_fails_to_load_naming_the_field(
    tmp_path: Path, argument: str, schema: dict[str, Any], problem: str
) -> None:
    import shutil

    import yaml

    from qdi_mcp.specs import SpecError, load_specs

    directory = tmp_path / "tool_specs"
    shutil.copytree(Path(__file__).resolve().parents[2] / "tool_specs", directory)
    path = directory / "qdi_get_project.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["input_schema"]["properties"][argument] = schema
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_specs(directory)
    assert caught.value.file == "tool_specs/qdi_get_project.yaml"
    assert caught.value.field is not None and caught.value.field.startswith(f"input_schema.properties.{argument}")
    assert problem in str(caught.value)


# --- partial: a read-only export neither overwrites nor goes unaudited ----------------------------------------


async def test_an_export_never_overwrites_a_zip_in_the_work_folder_and_is_audited(tmp_path: Path) -> None:
    from qdi_testkit import CUSTOMER_360

    reviewed = tmp_path / "work" / "release.zip"
    reviewed.parent.mkdir()
    reviewed.write_bytes(b"the zip a person reviewed")
    async with open_stack(tmp_path) as stack:
        arguments = {"project_id": stack.project_id(CUSTOMER_360), "file_name": "release.zip"}
        result = await stack.mcp.call_tool("qdi_export_project", arguments)
    assert not result.is_error
    assert reviewed.read_bytes() == b"the zip a person reviewed"
    body = result.structured_content
    assert (body["path"], body["kept_existing"]) == ("release-1.zip", "release.zip")
    assert "<qlik-data>release.zip</qlik-data> already existed" in result.content[0].text
    [line] = read_lines(tmp_path / "audit.jsonl")
    assert (line["tool"], line["safety"], line["outcome"]) == ("qdi_export_project", "read", "executed")
    assert line["detail"] == "wrote release-1.zip" and line["arguments"] == arguments


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (Linux)")
async def test_an_export_whose_audit_line_cannot_be_written_leaves_no_file(tmp_path: Path) -> None:
    from qdi_testkit import CUSTOMER_360

    async with open_stack(tmp_path, audit_log=DEV_FULL) as stack:
        arguments = {"project_id": stack.project_id(CUSTOMER_360), "file_name": "release.zip"}
        result = await stack.mcp.call_tool("qdi_export_project", arguments)
    assert result.is_error and result.structured_content["error"]["code"] == "audit_unavailable"
    assert list((tmp_path / "work").glob("*.zip")) == []
