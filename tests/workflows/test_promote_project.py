"""qdi_promote_project through a real MCP client against the emulator: the demo's "Customer 360" (DEV) into
"Customer 360 (prod)", the way issue 16 asks for it (one call, one confirmation, the target's bindings kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qdi_mcp.tools.project_design import read_project_zip
from qdi_mcp.tools.project_diff import diff_designs
from tests.qdi_testkit import CUSTOMER_360, CUSTOMER_360_PROD, Stack, call_ok, open_stack

pytestmark = pytest.mark.anyio

CRM_SOURCE = "task.crm_landing-xqm0.sourceConnection"
PROD_SALESFORCE = "{{id(connection, PROD_SPACE.Salesforce)}}"
ALL_STEPS = ["backup", "export", "check", "import", "bindings", "validate", "prepare", "start"]


def promotion(stack: Stack, **extra: Any) -> dict[str, Any]:
    return {
        "source_project_id": stack.project_id(CUSTOMER_360),
        "target_project_id": stack.project_id(CUSTOMER_360_PROD),
        **extra,
    }


async def confirmed(stack: Stack, args: dict[str, Any]) -> Any:
    """The preview, then the same call with its token (a person agreed)."""
    first = await stack.mcp.call_tool("qdi_promote_project", args)
    assert first.structured_content["status"] == "confirmation_required", first.content[0].text
    token = first.structured_content["confirmation_token"]
    return await stack.mcp.call_tool("qdi_promote_project", {**args, "confirmation_token": token})


async def design_of(stack: Stack, project_id: str) -> Any:
    return read_project_zip(await stack.client.export_project(project_id, mode="ALL"))


async def test_the_whole_promotion_keeps_every_prod_binding_value_and_reports_the_new_variables(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        args = promotion(stack, bindings={CRM_SOURCE: PROD_SALESFORCE}, allow_recreate=True)
        prod = args["target_project_id"]
        prod_before = (await stack.client.get_bindings(prod)).variables
        dev_design = await design_of(stack, args["source_project_id"])

        result = await confirmed(stack, args)

        assert not result.is_error, result.content[0].text
        promoted = result.structured_content
        assert promoted["status"] == "promoted"
        assert [(s["step"], s["outcome"]) for s in promoted["steps"]] == [
            *[(step, "done") for step in ALL_STEPS[:-1]],
            ("start", "skipped"),
        ]
        prod_after = (await stack.client.get_bindings(prod)).variables
        both_sides = set(prod_before) & dev_design.variables()
        assert both_sides, "the demo's DEV and PROD share variables"
        assert {name: prod_after[name] for name in both_sides} == {name: prod_before[name] for name in both_sides}
        # every value PROD had is still there, not only the ones the new design uses
        assert {name: prod_after.get(name) for name in prod_before} == prod_before
        assert prod_after[CRM_SOURCE] == PROD_SALESFORCE
        reported = promoted["bindings"]
        new = set(reported["needs_value"]) | set(reported["unset"])
        assert new == {name for name in set(prod_after) - set(prod_before) - {CRM_SOURCE} if not prod_after[name]}
        assert "task.crm_landing-xqm0.taskSchema" in reported["unset"]
        assert reported["needs_value"] == {}, "the only new connection was bound by the call"
        assert reported["set"] == 1
        assert promoted["bindings"]["kept"] == len(prod_before)
        assert {task["name"] for task in stack.emulator.tasks(prod)} == set(dev_design_names(dev_design))
        snapshot = next(p for p in stack.emulator.snapshot()["projects"] if p["id"] == prod)
        assert all(task["prepared"] for task in snapshot["tasks"])
        # one audit line per step, between the call's intent and outcome lines
        lines = [line for line in stack.audit if line["tool"] == "qdi_promote_project"]
        outcomes = [line["outcome"] for line in lines]
        assert outcomes[-10:] == ["started", *["step"] * 8, "executed"]
        assert [line["detail"].split(":")[0] for line in lines if line["outcome"] == "step"] == ALL_STEPS
        assert len({line["call_id"] for line in lines[-10:]}) == 1


def dev_design_names(design: Any) -> list[str]:
    return [task.name for task in design.tasks.values()]


async def test_the_backup_reimports_and_restores_the_previous_design(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        args = promotion(stack, bindings={CRM_SOURCE: PROD_SALESFORCE}, allow_recreate=True)
        prod = args["target_project_id"]
        before = await design_of(stack, prod)
        promoted = (await confirmed(stack, args)).structured_content
        backup = promoted["backup"]
        assert Path(backup["absolute_path"]) == (tmp_path / "work" / backup["path"]).resolve()
        assert [path.name for path in (tmp_path / "work" / "backups").glob("*.zip")] == [Path(backup["path"]).name]
        assert not diff_designs(before, await design_of(stack, prod)).equal

        restore = backup["restore"]
        preview = await stack.mcp.call_tool(restore["tool"], restore["arguments"])
        token = preview.structured_content["confirmation_token"]
        restored = await call_ok(stack, restore["tool"], {**restore["arguments"], "confirmation_token": token})

        assert restored["state"] == "COMPLETED"
        assert diff_designs(before, await design_of(stack, prod)).equal


async def test_a_failed_prepare_stops_the_promotion_with_the_done_steps_and_the_restore_call(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        args = promotion(stack, bindings={CRM_SOURCE: PROD_SALESFORCE}, allow_recreate=True)
        stack.emulator.faults.inject("prepare_project", "status", status=503, times=20)

        result = await confirmed(stack, args)

        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "promotion_failed"
        assert "stopped at step prepare" in error["message"]
        assert "Done: backup, export, check, import, bindings, validate." in error["message"]
        assert "Not done: start." in error["message"]
        backups = list((tmp_path / "work" / "backups").glob("customer-360-prod-*.zip"))
        assert len(backups) == 1
        assert "qdi_import_project_and_wait" in error["hint"] and f"backups/{backups[0].name}" in error["hint"]
        steps = [line["detail"] for line in stack.audit if line["outcome"] == "step"]
        assert [detail.split(" - ")[0] for detail in steps] == [
            *(f"{step}: done" for step in ALL_STEPS[:6]),
            "prepare: failed",
        ]
        assert stack.audit[-1]["outcome"] == "failed"


async def test_a_new_connection_left_unbound_fails_validation_and_says_which_variable(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await confirmed(stack, promotion(stack, allow_recreate=True))

        assert result.is_error
        error = result.structured_content["error"]
        assert "stopped at step validate" in error["message"]
        assert "CRM LANDING" in error["message"]
        assert "qdi_import_project_and_wait" in error["hint"]


async def test_the_preview_is_the_diff_with_the_bindings_to_fill_and_the_tasks_to_recreate(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        before = stack.reads_and_writes()
        prod = stack.project_id(CUSTOMER_360_PROD)
        first = await stack.mcp.call_tool("qdi_promote_project", promotion(stack, allow_recreate=True))

        preview = first.structured_content["preview"]
        assert "Customer 360 (prod)" in preview["target"]
        check = preview["check"]
        assert check["diff"] == "+4 tasks, 2 changed"
        assert check["tasks"]["added"] == ["CRM LANDING", "CRM STORAGE", "CUSTOMER TRANSFORM", "SALES MART"]
        assert check["recreate"] == ["ERP STORAGE"]
        assert check["running_tasks"] == []
        assert check["bindings"]["needs_value"][CRM_SOURCE] == [PROD_SALESFORCE]
        assert check["bindings"]["kept"] == len((await stack.client.get_bindings(prod)).variables)
        # a preview changes nothing: no import, no backup
        assert stack.emulator.requests.get("import_project_async", 0) == 0
        assert not (tmp_path / "work" / "backups").exists()
        assert stack.reads_and_writes() > before


async def test_the_preview_names_the_targets_running_tasks(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        prod = stack.project_id(CUSTOMER_360_PROD)
        erp = stack.task_id(CUSTOMER_360_PROD, "ERP LANDING")
        await stack.client.start_task(prod, erp)
    async with open_stack(tmp_path / "asked", emulator=stack.emulator) as asking:
        first = await asking.mcp.call_tool("qdi_promote_project", promotion(asking))
        assert first.structured_content["preview"]["check"]["running_tasks"] == ["ERP LANDING"]


async def test_promoting_a_project_into_itself_is_refused_before_any_request(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        project = stack.project_id(CUSTOMER_360_PROD)
        before = stack.reads_and_writes()
        args = {"source_project_id": project, "target_project_id": project}
        result = await stack.mcp.call_tool("qdi_promote_project", args)
        assert result.is_error
        assert result.structured_content["error"]["code"] == "invalid_arguments"
        assert result.structured_content["error"]["field"] == "target_project_id"
        assert stack.reads_and_writes() == before


async def test_promoting_a_project_into_itself_is_refused_even_without_confirmation(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        project = stack.project_id(CUSTOMER_360_PROD)
        before = stack.reads_and_writes()
        args = {"source_project_id": project, "target_project_id": project}
        result = await stack.mcp.call_tool("qdi_promote_project", args)
        assert result.structured_content["error"]["code"] == "invalid_arguments"
        assert stack.reads_and_writes() == before
        assert not (tmp_path / "work" / "backups").exists()


async def test_read_only_mode_refuses_a_promotion_before_any_export(tmp_path: Path) -> None:
    async with open_stack(tmp_path, read_only=True) as stack:
        before = stack.reads_and_writes()
        result = await stack.mcp.call_tool("qdi_promote_project", promotion(stack))
        assert result.structured_content["error"]["code"] == "read_only"
        assert stack.reads_and_writes() == before
        assert stack.emulator.requests.get("export_project", 0) == 0


async def test_bindings_for_a_variable_neither_project_has_are_refused_before_anyone_is_asked(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool(
            "qdi_promote_project", promotion(stack, bindings={"task.crm_landng-xqm0.sourceConnection": "x"})
        )
        assert result.structured_content["error"]["field"] == "bindings"
        assert stack.emulator.requests.get("import_project_async", 0) == 0


async def test_bindings_naming_a_connection_the_tenant_lacks_are_refused(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        wrong = {CRM_SOURCE: "{{id(connection, PROD_SPACE.Salesforse)}}"}
        result = await stack.mcp.call_tool("qdi_promote_project", promotion(stack, bindings=wrong))
        error = result.structured_content["error"]
        assert error["field"] == "bindings"
        assert "PROD_SPACE.Salesforce" in error["message"]


async def test_progress_grows_through_every_step(tmp_path: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with open_stack(tmp_path, confirm="never") as stack:
        args = promotion(stack, bindings={CRM_SOURCE: PROD_SALESFORCE}, allow_recreate=True, start_tasks=True)
        result = await stack.mcp.call_tool("qdi_promote_project", args, progress_callback=on_progress)

        assert not result.is_error, result.content[0].text
        values = [value for value, _, _ in seen]
        assert values == sorted(values) and len(set(values)) == len(values)
        assert {total for _, total, _ in seen} == {float(len(ALL_STEPS))}
        assert values[-1] == len(ALL_STEPS)
        assert any(message and message.startswith("import: ") for _, _, message in seen)
        assert result.structured_content["steps"][-1]["outcome"] == "done"
