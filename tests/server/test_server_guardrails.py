"""Destructive calls run only after a person confirms: by signed single-use token, or by elicitation in both
protocol eras. Every write and destructive call, executed or not, lands in the audit log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, Stack, open_stack

pytestmark = pytest.mark.anyio


def running_replication(stack: Stack) -> dict[str, str]:
    pid = stack.project_id(ORDERS)
    tid = stack.emulator.tasks(pid)[0]["id"]
    assert stack.emulator.task_run_state(pid, tid) == "RUNNING"
    return {"project_id": pid, "task_id": tid}


async def test_stop_without_token_does_nothing_and_returns_a_preview_and_token(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack)
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert not result.is_error
        body = result.structured_content
        assert body["status"] == "confirmation_required"
        assert body["confirmation_token"]
        preview = body["preview"]
        assert args["task_id"] in preview["target"] and "RUNNING" in preview["current_state"]
        assert stack.emulator.task_run_state(**args) == "RUNNING"
        assert stack.emulator.counters["stop_task"] == 0
        assert stack.audit[-1]["outcome"] == "confirmation_required"


async def test_the_same_call_with_the_token_executes_once(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack)
        token = (await stack.mcp.call_tool("qdi_stop_task", args)).structured_content["confirmation_token"]
        result = await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": token})
        assert not result.is_error and result.structured_content["status"] == "stop_requested"
        assert stack.emulator.task_run_state(**args) == "STOPPING"
        assert stack.emulator.counters["stop_task"] == 1
        assert stack.audit[-1]["outcome"] == "executed" and stack.audit[-1]["confirmed_by"] == "token"

        reused = await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": token})
        assert reused.is_error
        assert reused.structured_content["error"]["code"] == "confirmation_invalid"
        assert "qdi_stop_task again" in reused.structured_content["error"]["hint"]
        assert stack.emulator.counters["stop_task"] == 1


async def test_a_token_for_other_arguments_or_another_tool_or_a_forged_one_is_refused(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack)
        token = (await stack.mcp.call_tool("qdi_stop_task", args)).structured_content["confirmation_token"]
        other_task = {"project_id": args["project_id"], "task_id": "some-other-task"}
        changed = await stack.mcp.call_tool("qdi_stop_task", other_task | {"confirmation_token": token})
        assert changed.is_error and "task_id" in changed.structured_content["error"]["message"]

        other_tool = await stack.mcp.call_tool("qdi_stop_task_and_wait", args | {"confirmation_token": token})
        assert other_tool.is_error and other_tool.structured_content["error"]["code"] == "confirmation_invalid"

        payload, _, signature = token.rpartition(".")
        forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
        refused = await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": forged})
        assert refused.is_error and refused.structured_content["error"]["code"] == "confirmation_invalid"
        # what went wrong, then the next step once: the hint names the call to make
        for result in (changed, other_tool, refused):
            error = result.structured_content["error"]
            assert "new preview and token" in error["hint"] and "again without" not in error["message"]
            assert result.content[0].text.count("without confirmation_token") == 1
        assert stack.emulator.counters["stop_task"] == 0
        assert stack.emulator.task_run_state(**args) == "RUNNING"
        refusals = [r for r in stack.audit if r["outcome"] == "refused"]
        assert len(refusals) == 3


async def test_conditionally_destructive_tools_ask_only_for_destructive_arguments(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        plain = await stack.mcp.call_tool("qdi_prepare_project", {"project_id": pid})
        assert plain.structured_content["status"] == "started"
        stack.emulator.clock.advance(600)
        recreate = await stack.mcp.call_tool("qdi_prepare_project", {"project_id": pid, "allow_recreate": True})
        assert recreate.structured_content["status"] == "confirmation_required"
        assert stack.emulator.counters["prepare_project"] == 1

        tid = stack.task_id(CUSTOMER_360, "CRM STORAGE")
        compare = await stack.mcp.call_tool(
            "qdi_request_task_reload", {"project_id": pid, "task_id": tid, "reload_strategy": "COMPARE_AND_APPLY"}
        )
        assert compare.structured_content["success"] is True
        truncate = await stack.mcp.call_tool(
            "qdi_request_task_reload", {"project_id": pid, "task_id": tid, "reload_strategy": "TRUNCATE"}
        )
        assert truncate.structured_content["status"] == "confirmation_required"
        assert stack.emulator.counters["request_task_reload"] == 1


def answering(action: str, confirm: bool = True) -> Any:
    asked: list[str] = []

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        content = {"confirm": confirm} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)

    callback.asked = asked  # type: ignore[attr-defined]
    return callback


@pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["2025-handshake", "2026-multi-round-trip"])
async def test_elicitation_accept_executes_after_naming_the_task_and_its_state(tmp_path: Path, mode: str) -> None:
    callback = answering("accept")
    async with open_stack(tmp_path, elicitation_callback=callback, mode=mode) as stack:
        args = running_replication(stack)
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert not result.is_error and result.structured_content["status"] == "stop_requested"
        assert stack.emulator.task_run_state(**args) == "STOPPING"
        assert len(callback.asked) == 1
        assert args["task_id"] in callback.asked[0] and "RUNNING" in callback.asked[0]
        assert stack.audit[-1]["confirmed_by"] == "elicitation"


@pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["2025-handshake", "2026-multi-round-trip"])
@pytest.mark.parametrize(("action", "confirm"), [("decline", True), ("cancel", True), ("accept", False)])
async def test_elicitation_decline_does_nothing(tmp_path: Path, mode: str, action: str, confirm: bool) -> None:
    async with open_stack(tmp_path, elicitation_callback=answering(action, confirm), mode=mode) as stack:
        args = running_replication(stack)
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert not result.is_error
        assert result.structured_content["status"] == "declined"
        assert "nothing was done" in result.structured_content["message"]
        assert stack.emulator.task_run_state(**args) == "RUNNING"
        assert stack.emulator.counters["stop_task"] == 0
        assert stack.audit[-1]["outcome"] == "declined"


async def test_a_replayed_2026_answer_cannot_confirm_a_second_call(tmp_path: Path) -> None:
    async with open_stack(tmp_path, elicitation_callback=answering("accept")) as stack:
        args = running_replication(stack)
        first = await stack.mcp.session.call_tool("qdi_stop_task", args, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        accept = types.ElicitResult(action="accept", content={"confirm": True})
        done = await stack.mcp.session.call_tool(
            "qdi_stop_task",
            args,
            input_responses={"confirm": accept},
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(done, types.CallToolResult) and not done.is_error
        replay = await stack.mcp.session.call_tool(
            "qdi_stop_task",
            args,
            input_responses={"confirm": accept},
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(replay, types.CallToolResult) and replay.is_error
        assert stack.emulator.counters["stop_task"] == 1


async def test_confirm_never_runs_destructive_calls_directly_and_says_so_in_the_audit(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        args = running_replication(stack)
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert result.structured_content["status"] == "stop_requested"
        assert stack.audit[-1]["confirmed_by"] == "policy:never"


async def test_the_audit_log_file_has_an_intent_and_an_outcome_line_per_write_and_no_tokens(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack)
        token = (await stack.mcp.call_tool("qdi_stop_task", args)).structured_content["confirmation_token"]
        await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": token})
        await stack.mcp.call_tool("qdi_list_projects", {})
    lines = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["outcome"] for r in records] == ["confirmation_required", "started", "executed"]
    for record in records:
        assert record["tool"] == "qdi_stop_task" and record["arguments"]["task_id"] == args["task_id"]
        assert {"time", "safety", "trace_id", "confirmed_by"} <= set(record)
    assert token not in "\n".join(lines)


@pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["2025-handshake", "2026-multi-round-trip"])
async def test_every_audit_line_of_a_call_names_the_client_that_made_it(tmp_path: Path, mode: str) -> None:
    agent = types.Implementation(name="ops-agent", version="3.1")
    async with open_stack(tmp_path, elicitation_callback=answering("accept"), mode=mode, client_info=agent) as stack:
        result = await stack.mcp.call_tool("qdi_stop_task", running_replication(stack))
    assert not result.is_error
    records = stack.audit
    assert records and records[-1]["outcome"] == "executed"
    assert {r["client"] for r in records} == {"ops-agent 3.1"}


async def test_the_2026_question_state_cannot_be_used_as_a_confirmation_token(tmp_path: Path) -> None:
    async with open_stack(tmp_path, elicitation_callback=answering("decline")) as stack:
        args = running_replication(stack)
        first = await stack.mcp.session.call_tool("qdi_stop_task", args, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        smuggled = await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": first.request_state})
        assert smuggled.is_error and smuggled.structured_content["error"]["code"] == "confirmation_invalid"
        assert stack.emulator.counters["stop_task"] == 0


@pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["2025-handshake", "2026-multi-round-trip"])
async def test_an_accept_without_the_box_ticked_is_not_a_yes(tmp_path: Path, mode: str) -> None:
    async def accept_empty(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content=None)

    async with open_stack(tmp_path, elicitation_callback=accept_empty, mode=mode) as stack:
        args = running_replication(stack)
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        assert result.structured_content["status"] == "declined"
        assert stack.emulator.counters["stop_task"] == 0


async def test_writes_are_refused_when_the_audit_log_cannot_be_written_and_reads_still_work(tmp_path: Path) -> None:
    unwritable = tmp_path / "audit-is-a-folder"
    unwritable.mkdir()
    async with open_stack(tmp_path, audit_log=unwritable, confirm="never") as stack:
        args = running_replication(stack)
        refused = await stack.mcp.call_tool("qdi_stop_task", args)
        assert refused.is_error and refused.structured_content["error"]["code"] == "audit_unavailable"
        assert stack.emulator.counters["stop_task"] == 0
        listed = await stack.mcp.call_tool("qdi_list_projects", {})
        assert not listed.is_error


async def test_an_import_confirmation_is_bound_to_the_file_content_not_just_its_name(tmp_path: Path) -> None:
    from qdi_testkit import CUSTOMER_360_PROD

    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        await stack.mcp.call_tool("qdi_export_project", {"project_id": dev, "file_name": "release.zip"})
        args = {"project_id": prod, "path": "release.zip"}
        token = (await stack.mcp.call_tool("qdi_import_project", args)).structured_content["confirmation_token"]
        # The file is replaced after the person saw the preview (here by another project's export copied over it;
        # an export itself never overwrites).
        await stack.mcp.call_tool("qdi_export_project", {"project_id": prod, "file_name": "other.zip"})
        work = stack.qdi.settings.workdir
        original = (work / "release.zip").read_bytes()
        (work / "release.zip").write_bytes((work / "other.zip").read_bytes())
        swapped = await stack.mcp.call_tool("qdi_import_project", args | {"confirmation_token": token})
        assert swapped.is_error and "content changed" in swapped.structured_content["error"]["message"]
        assert stack.emulator.counters["import_project_async"] == 0
        # issue 15, break 1: a refusal for a swapped file uses the token up, so swapping the confirmed file back
        # and retrying (the red team's loop, free before) needs a new confirmation.
        (work / "release.zip").write_bytes(original)
        retried = await stack.mcp.call_tool("qdi_import_project", args | {"confirmation_token": token})
        assert retried.is_error and "already used" in retried.structured_content["error"]["message"]
        assert stack.emulator.counters["import_project_async"] == 0

        token = (await stack.mcp.call_tool("qdi_import_project", args)).structured_content["confirmation_token"]
        done = await stack.mcp.call_tool("qdi_import_project", args | {"confirmation_token": token})
        assert not done.is_error and stack.emulator.counters["import_project_async"] == 1


async def test_a_destructive_call_whose_preview_fails_is_audited_as_failed_and_changes_nothing(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        args = {"project_id": stack.project_id(ORDERS), "task_id": "no-such-task"}
        result = await stack.mcp.call_tool("qdi_stop_task", args)
        records = stack.audit
    assert result.is_error and result.structured_content["error"]["code"] == "not_found"
    assert [(r["tool"], r["outcome"]) for r in records] == [("qdi_stop_task", "failed")]
    assert records[0]["arguments"] == args and records[0]["detail"].startswith("before anything was changed")
    assert stack.emulator.counters["stop_task"] == 0


async def test_a_refused_token_is_audited_once(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = running_replication(stack)
        result = await stack.mcp.call_tool("qdi_stop_task", args | {"confirmation_token": "forged.token.value"})
        records = stack.audit
    assert result.is_error and result.structured_content["error"]["code"] == "confirmation_invalid"
    assert [r["outcome"] for r in records] == ["refused"]


async def test_an_import_whose_file_changes_while_the_person_decides_uploads_what_the_person_saw(
    tmp_path: Path,
) -> None:
    # issue 15, break 1: the call reads the file once; the preview, the confirmation and the upload use those
    # bytes, so a file replaced while the question is open changes nothing about what is imported.
    stack_box: dict[str, Stack] = {}

    async def person_reads_while_the_file_is_replaced(context: Any, params: types.ElicitRequestParams) -> Any:
        zip_path = stack_box["stack"].qdi.settings.workdir / "c360.zip"
        zip_path.write_bytes(zip_path.read_bytes() + b"\0")
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with open_stack(
        tmp_path, elicitation_callback=person_reads_while_the_file_is_replaced, mode="legacy"
    ) as stack:
        stack_box["stack"] = stack
        exported = await stack.mcp.call_tool(
            "qdi_export_project", {"project_id": stack.project_id(CUSTOMER_360), "file_name": "c360.zip"}
        )
        assert not exported.is_error
        seen = (stack.qdi.settings.workdir / "c360.zip").read_bytes()
        uploads: list[bytes] = []
        real_upload = stack.client.import_project_async

        async def recording_upload(project_id: str, zip_bytes: bytes, **kwargs: Any) -> Any:
            uploads.append(bytes(zip_bytes))
            return await real_upload(project_id, zip_bytes, **kwargs)

        stack.client.import_project_async = recording_upload  # type: ignore[method-assign]
        target = stack.project_id("Customer 360 (prod)")
        result = await stack.mcp.call_tool("qdi_import_project", {"project_id": target, "path": "c360.zip"})
        lines = [r for r in stack.audit if r["tool"] == "qdi_import_project"]
    assert not result.is_error, result.structured_content
    assert uploads == [seen] and (tmp_path / "work" / "c360.zip").read_bytes() != seen
    assert [r["outcome"] for r in lines] == ["confirmation_asked", "confirmed", "started", "executed"]
    assert lines[-1]["arguments"]["file_sha256"] == hashlib.sha256(seen).hexdigest()


async def test_the_uploaded_zip_is_the_one_whose_digest_was_confirmed_even_if_the_file_changes_mid_call(
    tmp_path: Path,
) -> None:
    # issue 15, break 1: a process swaps the file between contents A and B. Each read of the work folder is
    # made to see the next content, so a second read in the same call (the handler's, after the gate hashed
    # the first) would upload B under a token confirmed for A. One read per call closes the window.
    from qdi_testkit import CUSTOMER_360_PROD

    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        await stack.mcp.call_tool("qdi_export_project", {"project_id": dev, "file_name": "release.zip"})
        await stack.mcp.call_tool("qdi_export_project", {"project_id": prod, "file_name": "other.zip"})
        work = stack.qdi.settings.workdir
        content_a, content_b = (work / "release.zip").read_bytes(), (work / "other.zip").read_bytes()
        args = {"project_id": prod, "path": "release.zip"}
        token = (await stack.mcp.call_tool("qdi_import_project", args)).structured_content["confirmation_token"]

        workdir = stack.qdi.workdir
        real_read = workdir.read_import
        reads: list[bytes] = []

        def swapping_read(relative: str, *, argument: str = "path") -> bytes:
            real_read(relative, argument=argument)  # the checks still run on the real file
            reads.append(content_a if len(reads) % 2 == 0 else content_b)
            return reads[-1]

        uploads: list[bytes] = []
        real_upload = stack.client.import_project_async

        async def recording_upload(project_id: str, zip_bytes: bytes, **kwargs: Any) -> Any:
            uploads.append(bytes(zip_bytes))
            return await real_upload(project_id, zip_bytes, **kwargs)

        workdir.read_import = swapping_read  # type: ignore[method-assign]
        stack.client.import_project_async = recording_upload  # type: ignore[method-assign]
        done = await stack.mcp.call_tool("qdi_import_project", args | {"confirmation_token": token})

        assert not done.is_error, done.structured_content
        assert uploads == [content_a] and len(reads) == 1
    sha_a = hashlib.sha256(content_a).hexdigest()
    executed = [r for r in stack.audit if r["tool"] == "qdi_import_project" and r["outcome"] == "executed"]
    assert executed and executed[-1]["arguments"]["file_sha256"] == sha_a  # the audit names what was uploaded
