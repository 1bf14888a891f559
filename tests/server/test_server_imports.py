"""The import tools through the MCP server against the emulator: the zip's content picks the endpoint, the preview
runs Qlik's definition check first, and the real Qlik export imports through qdi_import_project_and_wait."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest
from qdi_data import FIXTURE_ZIP, build_zip
from qdi_testkit import CUSTOMER_360, CUSTOMER_360_PROD, SALES_QVD, call_ok, open_stack, put

pytestmark = pytest.mark.anyio


def without_settings(data: bytes, task_folder: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == f"qtcp_tasks/{task_folder}/task.yaml":
                content = content.split(b"settings:")[0]
            target.writestr(name, content)
    return out.getvalue()


async def test_the_real_qlik_export_imports_through_import_and_wait_into_an_existing_project(tmp_path: Path) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path, confirm="never") as stack:
        created = await call_ok(
            stack,
            "qdi_create_project",
            {
                "name": "Churn",
                "type": "DATA_PIPELINE",
                "space_id": "6650f0c1a2b3c4d5e6f7d001",
                "platform_type": "SNOWFLAKE",
            },
        )
        project_id = created["project"]["id"]
        result = await call_ok(stack, "qdi_import_project_and_wait", {"project_id": project_id, "path": path})
    assert (result["endpoint"], result["format"], result["state"]) == ("import-async", "yaml", "COMPLETED")
    assert len(result["tasks"]) == 9 and {t["state"] for t in result["tasks"]} == {"COMPLETED"}
    assert "prepare" in result["hint"]
    assert len(stack.emulator.tasks(project_id)) == 9
    assert stack.emulator.counters["import_project_async"] == 1 and stack.emulator.counters["import_project"] == 0


async def test_a_legacy_zip_goes_to_the_sync_import_and_the_wait_returns_at_once(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        source = stack.project_id(CUSTOMER_360)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": source, "mode": "LEGACY"})
        target = stack.project_id(CUSTOMER_360_PROD)
        polls_before = stack.emulator.requests["get_action"]
        result = await call_ok(stack, "qdi_import_project_and_wait", {"project_id": target, "path": exported["path"]})
    assert (result["endpoint"], result["format"], result["action_id"], result["state"]) == (
        "import",
        "legacy_json",
        None,
        "COMPLETED",
    )
    assert [t["name"] for t in result["tasks"]] == [t["name"] for t in stack.emulator.tasks(source)]
    assert stack.emulator.counters["import_project"] == 1 and stack.emulator.requests["get_action"] == polls_before


async def test_a_zip_that_is_neither_yaml_nor_legacy_is_refused_before_upload_saying_what_it_holds(
    tmp_path: Path,
) -> None:
    path = put(tmp_path, "notes.zip", build_zip([("readme.txt", b"hi"), ("data/a.csv", b"1,2")]))
    async with open_stack(tmp_path, confirm="never") as stack:
        result = await stack.mcp.call_tool(
            "qdi_import_project", {"project_id": stack.project_id(SALES_QVD), "path": path}
        )
        sent = stack.reads_and_writes()
    error = result.structured_content["error"]
    assert result.is_error and error["code"] == "invalid_arguments" and error["field"] == "path"
    assert "neither a YAML project" in error["message"] and "'readme.txt'" in error["message"]
    assert "1 .txt" in error["message"] and "1 .csv" in error["message"]
    # Nothing was uploaded. The zip's format is the import handler's check, so with confirmation off (no preview)
    # it runs after the backup (issue 16): the export of the target is all that reached Qlik.
    assert sent == stack.emulator.requests["get_project"] + stack.emulator.requests["export_project"] == 2
    assert not stack.emulator.counters


async def test_an_import_preview_shows_the_definition_check_and_the_endpoint(tmp_path: Path) -> None:
    path = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool(
            "qdi_import_project", {"project_id": stack.project_id(CUSTOMER_360), "path": path}
        )
    preview = result.structured_content["preview"]
    assert result.structured_content["status"] == "confirmation_required"
    assert preview["check"]["endpoint"] == "import-async" and preview["check"]["definitions"] == "0 errors, 0 warnings"
    assert stack.emulator.counters["import_project_async"] == 0


async def test_a_file_with_error_reports_is_refused_before_any_confirmation_is_asked(tmp_path: Path) -> None:
    path = put(tmp_path, "broken.zip", without_settings(FIXTURE_ZIP.read_bytes(), "CHURN STORAGE"))
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        result = await stack.mcp.call_tool("qdi_import_project_and_wait", {"project_id": pid, "path": path})
        tasks_after = stack.emulator.tasks(pid)
    error = result.structured_content["error"]
    assert result.is_error and "confirmation_token" not in result.structured_content
    assert "1 errors, 0 warnings" in error["message"]
    assert "'qtcp_tasks/CHURN STORAGE/task.yaml'" in error["message"] and "settings" in error["message"]
    assert stack.emulator.requests["validate_project_definitions"] == 1
    assert stack.emulator.requests["import_project_async"] == 0 and len(tasks_after) == 6


async def test_validate_project_files_returns_qliks_reports(tmp_path: Path) -> None:
    broken = put(tmp_path, "broken.zip", without_settings(FIXTURE_ZIP.read_bytes(), "CHURN STORAGE"))
    clean = put(tmp_path, "churn.zip", FIXTURE_ZIP.read_bytes())
    async with open_stack(tmp_path) as stack:
        found = await call_ok(stack, "qdi_validate_project_files", {"path": broken})
        passed = await call_ok(stack, "qdi_validate_project_files", {"path": clean})
    assert (found["valid"], found["error_count"], found["warning_count"]) == (False, 1, 0)
    assert found["reports"] == [
        {"path": "qtcp_tasks/CHURN STORAGE/task.yaml", "level": "ERROR", "reason": "Property 'settings' is missing."}
    ]
    assert passed == {"path": clean, "valid": True, "error_count": 0, "warning_count": 0, "reports": []}


@pytest.mark.parametrize("path", ["../outside.zip", "missing.zip", "not-a-zip.txt"])
async def test_validate_project_files_bad_path_is_an_argument_error_without_http(tmp_path: Path, path: str) -> None:
    async with open_stack(tmp_path) as stack:
        (tmp_path / "work").mkdir(exist_ok=True)
        result = await stack.mcp.call_tool("qdi_validate_project_files", {"path": path})
        sent = stack.reads_and_writes()
    assert result.is_error and "path" in result.content[0].text
    assert sent == 0


async def test_a_zip_over_10_mb_is_refused_before_upload(tmp_path: Path) -> None:
    # random bytes do not compress, so the zip itself is over Qlik's 10 MB limit
    noise = random.Random(1).randbytes(11 * 1024 * 1024)
    path = put(tmp_path, "big.zip", build_zip([("qtcp_project.yaml", b"properties: {}\n"), ("blob.json", noise)]))
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool("qdi_validate_project_files", {"path": path})
        sent = stack.reads_and_writes()
    assert result.is_error and "10 MB" in result.structured_content["error"]["message"]
    assert result.structured_content["error"]["field"] == "path" and sent == 0
