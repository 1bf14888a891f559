"""Backups before design changes (issue 16, item 3), through a real MCP client against the emulator: the import
and the bindings update export the target to <workdir>/backups/ first, the preview says so, the result and the
audit lines name the file and the call that restores it, and that call does restore the design."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest
from qdi_data import FIXTURE_ZIP
from qdi_testkit import CUSTOMER_360, SALES_QVD, Stack, call_ok, make_settings, open_stack, put

from qdi_mcp.server import build_server
from qdi_mcp.tools.project_design import ProjectDesign, read_project_zip

pytestmark = pytest.mark.anyio


async def confirmed(stack: Stack, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """The call as a person confirms it: its preview and token first, then the call with the token."""
    asked = await stack.mcp.call_tool(tool, args)
    assert asked.structured_content["status"] == "confirmation_required", asked.content[0].text
    token = asked.structured_content["confirmation_token"]
    return await call_ok(stack, tool, args | {"confirmation_token": token})


async def confirmed_with_text(stack: Stack, tool: str, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    token = (await stack.mcp.call_tool(tool, args)).structured_content["confirmation_token"]
    result = await stack.mcp.call_tool(tool, args | {"confirmation_token": token})
    assert not result.is_error, result.content[0].text
    return result.structured_content, result.content[0].text


async def design(stack: Stack, project_id: str) -> ProjectDesign:
    data = await stack.client.export_project(project_id, mode="ALL", include_bindings=True)
    return read_project_zip(data)


def comparable(project: ProjectDesign) -> dict[str, Any]:
    """The design an import sets: settings, files and tasks. Not the binding values: Qlik ignores a zip's
    bindings.json on import (the emulator's projects.py cites qlik.dev), so the backup carries them for a person
    to put back with qdi_update_bindings."""
    tasks = {
        task.name: (task.type, task.settings, task.source_selection, task.datasets, task.files)
        for task in project.tasks.values()
    }
    return {"settings": project.settings, "files": project.files, "tasks": tasks}


def lines_of(stack: Stack, tool: str) -> list[dict[str, Any]]:
    return [line for line in stack.audit if line["tool"] == tool]


async def test_an_import_backs_up_the_target_first_and_the_restore_call_brings_the_design_back(
    tmp_path: Path,
) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path) as stack:
        project_id = stack.project_id(CUSTOMER_360)
        before = await design(stack, project_id)
        args = {"project_id": project_id, "path": path}

        asked = await stack.mcp.call_tool("qdi_import_project_and_wait", args)
        assert "backups/" in asked.structured_content["preview"]["backup"]
        # a preview takes no backup (it does export the target in memory since the import preview carries the diff)
        assert not (tmp_path / "work" / "backups").exists()

        result, executed_text = await confirmed_with_text(stack, "qdi_import_project_and_wait", args)
        backup = result["backup"]
        assert backup["path"].startswith("backups/customer-360-") and backup["path"].endswith(".zip")
        assert Path(backup["absolute_path"]) == tmp_path / "work" / backup["path"]
        assert backup["restore"] == {
            "tool": "qdi_import_project_and_wait",
            "arguments": args | {"path": backup["path"]},
        }
        saved = read_project_zip(Path(backup["absolute_path"]).read_bytes())  # noqa: ASYNC240
        assert saved == before and saved.bindings  # the whole design, binding values included
        assert comparable(await design(stack, project_id)) != comparable(before)  # the import changed the design

        lines = lines_of(stack, "qdi_import_project_and_wait")
        started, executed = lines[-2], lines[-1]
        assert (started["outcome"], executed["outcome"]) == ("started", "executed")
        assert started["backup"] == executed["backup"] == backup
        assert backup["path"] in executed_text

        restore = backup["restore"]
        await confirmed(stack, restore["tool"], restore["arguments"])
        assert comparable(await design(stack, project_id)) == comparable(before)


async def test_a_failed_backup_stops_the_import_before_anything_is_sent_and_says_why(tmp_path: Path) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path, confirm="never") as stack:
        project_id = stack.project_id(CUSTOMER_360)
        tasks_before = stack.emulator.tasks(project_id)
        stack.emulator.faults.inject("export_project", "status", status=503, times=10)
        result = await stack.mcp.call_tool("qdi_import_project", {"project_id": project_id, "path": path})
        error = result.structured_content["error"]
        assert result.is_error and error["code"] == "backup_failed"
        assert "backup of project" in error["message"] and "export" in error["message"]
        assert "Nothing was changed" in error["message"]
        assert stack.emulator.counters["import_project_async"] == stack.emulator.counters["import_project"] == 0
        assert stack.emulator.tasks(project_id) == tasks_before
        lines = lines_of(stack, "qdi_import_project")
        assert [line["outcome"] for line in lines] == ["failed"]
        assert "backup" in lines[0]["detail"] and "backup" not in lines[0]
    assert not list((tmp_path / "work").glob("backups/*.zip"))


async def test_an_import_that_fails_after_its_backup_names_the_backup_and_its_restore_call(tmp_path: Path) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path, confirm="never") as stack:
        project_id = stack.project_id(CUSTOMER_360)
        stack.emulator.faults.inject("import_project_async", "status", status=400)
        result = await stack.mcp.call_tool("qdi_import_project", {"project_id": project_id, "path": path})
        assert result.is_error
        failed = lines_of(stack, "qdi_import_project")[-1]
        assert failed["outcome"] == "failed" and failed["backup"]["path"].startswith("backups/")
        hint = result.structured_content["error"]["hint"]
        assert failed["backup"]["path"] in hint and "qdi_import_project_and_wait" in hint


async def test_a_call_refused_before_it_sends_anything_keeps_no_backup_and_prunes_none(tmp_path: Path) -> None:
    backups = tmp_path / "work" / "backups"
    async with open_stack(tmp_path, backup_keep=1) as stack:
        project_id = stack.project_id(SALES_QVD)
        variables = stack.emulator.bindings(project_id)
        kept = (await call_ok(stack, "qdi_update_bindings", {"project_id": project_id, "variables": variables}))[
            "backup"
        ]["path"]
        # a partial map would delete variables: the handler refuses it after the server took the backup
        refused = await stack.mcp.call_tool(
            "qdi_update_bindings", {"project_id": project_id, "variables": {"projectName": "renamed"}}
        )
        assert refused.is_error and refused.structured_content["error"]["code"] == "invalid_arguments"
        assert stack.emulator.counters["update_bindings"] == 1  # only the first call sent an update
        # the project is as the kept backup has it: no new file, and the one backup kept (of 1) was not pushed out
        assert sorted(p.name for p in backups.iterdir()) == [kept.rsplit("/", 1)[-1]]
        assert "backups/" not in (refused.structured_content["error"].get("hint") or "")
        assert "backup" not in lines_of(stack, "qdi_update_bindings")[-1]


async def test_with_backups_off_nothing_is_saved_and_the_preview_says_so(tmp_path: Path) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path, backup="off") as stack:
        args = {"project_id": stack.project_id(CUSTOMER_360), "path": path}
        asked = await stack.mcp.call_tool("qdi_import_project", args)
        assert asked.structured_content["preview"]["backup"].startswith("none")
        assert "QDI_MCP_BACKUP=off" in asked.structured_content["preview"]["backup"]
        result = await confirmed(stack, "qdi_import_project", args)
        assert "backup" not in result
        # the import's diff still exports the target, in memory: no file appears, no line names a backup
        assert all("backup" not in line for line in stack.audit)
    assert not (tmp_path / "work" / "backups").exists()


async def test_a_bindings_update_backs_up_the_project_and_old_backups_are_pruned_to_the_kept_number(
    tmp_path: Path,
) -> None:
    async with open_stack(tmp_path, backup_keep=2) as stack:
        project_id = stack.project_id(SALES_QVD)
        variables = stack.emulator.bindings(project_id)
        paths = []
        for _ in range(3):
            result = await call_ok(stack, "qdi_update_bindings", {"project_id": project_id, "variables": variables})
            paths.append(result["backup"]["path"])
            assert lines_of(stack, "qdi_update_bindings")[-1]["backup"] == result["backup"]
        assert len(set(paths)) == 3
        kept = sorted(p.relative_to(tmp_path / "work").as_posix() for p in (tmp_path / "work" / "backups").iterdir())
        assert kept == sorted(paths[1:])
        with zipfile.ZipFile(io.BytesIO((tmp_path / "work" / paths[-1]).read_bytes())) as archive:  # noqa: ASYNC240
            assert any("binding" in name for name in archive.namelist())


async def test_a_bindings_updates_restore_call_puts_the_old_values_back(tmp_path: Path) -> None:
    """An import of the backup would restore nothing a bindings update changed (Qlik ignores a zip's bindings.json
    on import): its restore call is the update with the values the backup holds."""
    async with open_stack(tmp_path) as stack:
        project_id = stack.project_id(SALES_QVD)
        before = dict(stack.emulator.bindings(project_id))
        name = next(iter(before))
        changed = before | {name: "changed-value", "added.by.the.change": "x"}
        result = await call_ok(stack, "qdi_update_bindings", {"project_id": project_id, "variables": changed})
        assert stack.emulator.bindings(project_id)[name] == "changed-value"
        restore = result["backup"]["restore"]
        # remove_missing: the variable the change added goes again (a map without it would be refused)
        arguments = {"project_id": project_id, "variables": before, "remove_missing": True}
        assert restore == {"tool": "qdi_update_bindings", "arguments": arguments}
        await call_ok(stack, restore["tool"], restore["arguments"])
        assert dict(stack.emulator.bindings(project_id)) == before


async def test_read_only_mode_takes_no_backup(tmp_path: Path) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path, read_only=True) as stack:
        result = await stack.mcp.call_tool(
            "qdi_import_project", {"project_id": stack.project_id(CUSTOMER_360), "path": path}
        )
        assert result.is_error and result.structured_content["error"]["code"] == "read_only"
        assert stack.reads_and_writes() == 0
    assert not (tmp_path / "work" / "backups").exists()


@pytest.mark.parametrize(("backup", "logged"), [("off", True), ("on", False)])
def test_backups_off_is_logged_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, backup: str, logged: bool
) -> None:
    caplog.set_level(logging.INFO, logger="qdi_mcp.server")
    build_server(make_settings(tmp_path, backup=backup), None, connect=_never_called)
    assert ("QDI_MCP_BACKUP=off" in caplog.text) is logged


async def _never_called() -> Any:
    raise AssertionError("start-up opens no API client")
