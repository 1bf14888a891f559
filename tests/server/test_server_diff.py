"""qdi_diff_project through a real MCP client against the emulator (issue 16, item 1): a project against itself,
DEV against PROD (projects and an export zip), and the argument errors refused before any request."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, CUSTOMER_360_PROD, call_ok, open_stack

pytestmark = pytest.mark.anyio


async def test_a_project_diffed_with_its_own_export_has_no_differences(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        for mode in ("MINIMAL", "ALL", "LEGACY"):
            exported = await call_ok(
                stack, "qdi_export_project", {"project_id": pid, "mode": mode, "include_bindings": True}
            )
            result = await call_ok(stack, "qdi_diff_project", {"project_id": pid, "path": exported["path"]})
            assert (result["equal"], result["summary"]) == (True, "no differences"), (mode, result)
            assert result["bindings"]["counts"] == {"added": 0, "dropped": 0, "emptied": 0, "changed": 0}


async def test_an_all_zip_is_compared_with_an_all_export_of_the_target(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": pid, "mode": "ALL"})
        before = stack.emulator.requests["export_project"]
        result = await call_ok(stack, "qdi_diff_project", {"project_id": pid, "path": exported["path"]})
        exports = stack.emulator.requests["export_project"] - before
    # the MINIMAL export differs by the defaults ALL spells out, so the target was exported ALL as well
    assert exports == 2 and result["summary"] == "no differences in the design; bindings not compared"
    assert result["bindings"] is None  # the zip carries no bindings.json


async def test_dev_against_prod_names_the_task_and_binding_differences(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        result = await call_ok(stack, "qdi_diff_project", {"project_id": prod, "source_project_id": dev})
        dev_tasks = {task["name"] for task in stack.emulator.tasks(dev)}
        prod_tasks = {task["name"] for task in stack.emulator.tasks(prod)}
        written = list((tmp_path / "work").glob("*")) if (tmp_path / "work").exists() else []
    assert {task["name"] for task in result["tasks"]["added"]} == dev_tasks - prod_tasks
    assert result["tasks"]["counts"]["removed"] == 0
    assert {change["name"] for change in result["tasks"]["changed"]} <= prod_tasks
    bindings = result["bindings"]
    # PROD is bound to PROD connections and databases, DEV to DEV ones
    assert "platformConnection" in bindings["changed"] and "projectName" in bindings["changed"]
    named = [name for name in bindings["added"] if not name.startswith("... ")]  # a capped list ends "... N more"
    assert named and all(name.startswith("task.") for name in named)
    assert result["summary"].startswith(f"+{len(dev_tasks - prod_tasks)} tasks") and "bindings:" in result["summary"]
    assert "details" not in bindings and written == []  # compact by default; a diff writes no file


async def test_detail_adds_per_field_changes(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        result = await call_ok(
            stack, "qdi_diff_project", {"project_id": prod, "source_project_id": dev, "detail": True}
        )
    changed = {detail["path"]: detail for detail in result["bindings"]["details"]}
    assert changed["projectName"] == {"path": "projectName", "old": "Customer 360 (prod)", "new": "Customer 360"}
    assert all("details" in change for change in result["tasks"]["changed"])


async def test_a_dev_export_zip_against_prod_says_what_differs(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": dev, "include_bindings": True})
        from_zip = await call_ok(stack, "qdi_diff_project", {"project_id": prod, "path": exported["path"]})
        from_project = await call_ok(stack, "qdi_diff_project", {"project_id": prod, "source_project_id": dev})
    # the zip holds DEV's design and DEV's binding values: the same differences as DEV itself
    assert {key: from_zip[key] for key in ("summary", "tasks", "project", "bindings")} == {
        key: from_project[key] for key in ("summary", "tasks", "project", "bindings")
    }
    assert not from_zip["equal"] and from_zip["tasks"]["counts"]["added"] > 0


@pytest.mark.parametrize(
    "sources",
    [{}, {"path": "dev.zip", "source_project_id": "p-other"}],
    ids=["neither", "both"],
)
async def test_both_or_neither_source_is_refused_before_any_request(tmp_path: Path, sources: dict[str, str]) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool(
            "qdi_diff_project", {"project_id": stack.project_id(CUSTOMER_360_PROD), **sources}
        )
        sent = stack.reads_and_writes()
    error = result.structured_content["error"]
    assert result.is_error and error["code"] == "invalid_arguments"
    assert "path" in error["message"] and "source_project_id" in error["message"]
    assert sent == 0 and stack.emulator.requests["export_project"] == 0


async def test_a_project_against_itself_is_refused(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        result = await stack.mcp.call_tool("qdi_diff_project", {"project_id": pid, "source_project_id": pid})
        sent = stack.reads_and_writes()
    error = result.structured_content["error"]
    assert result.is_error and (error["code"], error["field"]) == ("invalid_arguments", "source_project_id")
    assert sent == 0


@pytest.mark.parametrize("path", ["../outside.zip", "missing.zip"])
async def test_a_zip_outside_the_work_folder_or_missing_is_refused_without_export(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.zip").write_bytes(b"PK")
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool(
            "qdi_diff_project", {"project_id": stack.project_id(CUSTOMER_360), "path": path}
        )
        sent = stack.reads_and_writes()
    error = result.structured_content["error"]
    assert result.is_error and error["code"] == "invalid_path" and "path" in error["message"]
    assert sent == 0


async def test_a_zip_that_is_not_a_project_export_is_refused_naming_path(tmp_path: Path) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.zip").write_bytes(buffer.getvalue())
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool(
            "qdi_diff_project", {"project_id": stack.project_id(CUSTOMER_360), "path": "notes.zip"}
        )
        sent = stack.reads_and_writes()
    error = result.structured_content["error"]
    assert result.is_error and (error["code"], error["field"]) == ("invalid_arguments", "path")
    assert "qtcp_project.yaml" in error["message"] and sent == 0


# ---------------------------------------------------------------------------------------------- imports (item 2)


def without_task(data: bytes, folder: str, task_id: str) -> bytes:
    """The export a project without that task would give: its folder gone, its variables no longer declared."""
    import io
    import json
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name.startswith(f"qtcp_tasks/{folder}/"):
                continue
            if name == "qtcp_bindings_definition.json":
                document = json.loads(content)
                variables = document["variables"]
                document["variables"] = {k: v for k, v in variables.items() if not k.startswith(f"task.{task_id}.")}
                assert document["variables"] != variables
                content = json.dumps(document).encode()
            target.writestr(name, content)
    return out.getvalue()


async def test_the_import_preview_names_the_binding_variables_prod_would_lose(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        prod = stack.project_id(CUSTOMER_360_PROD)
        storage_id = stack.task_id(CUSTOMER_360_PROD, "ERP STORAGE")
        exported = await call_ok(stack, "qdi_export_project", {"project_id": prod})
        (tmp_path / "work" / "no-storage.zip").write_bytes(
            without_task((tmp_path / "work" / exported["path"]).read_bytes(), "ERP STORAGE", storage_id)
        )
        result = await stack.mcp.call_tool("qdi_import_project", {"project_id": prod, "path": "no-storage.zip"})
        bindings_now = set((await stack.client.get_bindings(prod)).variables or {})
        imports = stack.emulator.requests["import_project_async"]
    assert result.structured_content["status"] == "confirmation_required" and imports == 0
    check = result.structured_content["preview"]["check"]
    assert check["definitions"] == "0 errors, 0 warnings" and check["endpoint"] == "import-async"
    assert [task["name"] for task in check["changes"]["tasks"]["removed"]] == ["ERP STORAGE"]
    assert check["changes"]["summary"].startswith("-1 task")
    impact = check["binding_impact"]
    storage_variables = sorted(name for name in bindings_now if name.startswith(f"task.{storage_id}."))
    assert storage_variables and impact["dropped"] == storage_variables
    assert impact["need_value"] == [] and impact["kept_count"] == len(bindings_now) - len(storage_variables)
    assert f"{len(storage_variables)} dropped" in impact["summary"]


async def test_the_import_preview_of_dev_into_prod_lists_the_variables_that_need_a_value(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": dev})
        result = await stack.mcp.call_tool(
            "qdi_import_project_and_wait", {"project_id": prod, "path": exported["path"]}
        )
    check = result.structured_content["preview"]["check"]
    added = {task["name"] for task in check["changes"]["tasks"]["added"]}
    assert added == {"CRM LANDING", "CRM STORAGE", "CUSTOMER TRANSFORM", "SALES MART"}
    assert check["changes"]["bindings"] is None  # exported without bindings.json: values not compared
    need_value = [name for name in check["binding_impact"]["need_value"] if not name.startswith("... ")]
    assert need_value and all(name.split(".")[1].startswith(("crm_", "customer_", "sales_")) for name in need_value)
    assert check["binding_impact"]["dropped"] == []


async def test_every_variable_needing_a_value_is_named_in_the_preview_once(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": dev, "include_bindings": True})
        result = await stack.mcp.call_tool(
            "qdi_import_project_and_wait", {"project_id": prod, "path": exported["path"]}
        )
    check = result.structured_content["preview"]["check"]
    added = check["changes"]["bindings"]["added"]
    assert added[-1].startswith("... ")  # more variables were added than the diff names
    impact = check["binding_impact"]
    named = [name for name in added + impact["need_value"] if not name.startswith("... ")]
    assert len(named) == len(set(named))  # none named twice
    # the ones past the diff's cap are named by the impact, up to its own cap
    assert len(impact["need_value"]) > 0 and "changes.bindings.added and need_value" in impact["summary"]


async def test_the_import_result_reports_the_changes_a_diff_showed_before(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": dev, "include_bindings": True})
        before = await call_ok(stack, "qdi_diff_project", {"project_id": prod, "path": exported["path"]})
        imported = await call_ok(stack, "qdi_import_project_and_wait", {"project_id": prod, "path": exported["path"]})
        after = await call_ok(stack, "qdi_diff_project", {"project_id": prod, "path": exported["path"]})
        text = (await stack.mcp.call_tool("qdi_diff_project", {"project_id": prod, "source_project_id": dev})).content
    assert imported["state"] == "COMPLETED"
    # the result gives the summary and the counts (the preview or the diff named every task and variable)
    assert imported["changes"] == {
        "summary": before["summary"],
        "equal": before["equal"],
        "counts": {"tasks": before["tasks"]["counts"], "bindings": before["bindings"]["counts"]},
    }
    assert not imported["changes"]["equal"] and imported["changes"]["counts"]["tasks"]["added"] == 4
    # the import made PROD's design the file's; PROD kept its own binding values (Qlik ignores bindings.json)
    assert after["tasks"]["counts"] == {"added": 0, "removed": 0, "changed": 0} and not after["project"]["changed"]
    assert "platformConnection" in after["bindings"]["changed"]
    assert "bindings:" in text[0].text


async def test_a_legacy_import_result_reports_its_changes(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        dev, prod = stack.project_id(CUSTOMER_360), stack.project_id(CUSTOMER_360_PROD)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": dev, "mode": "LEGACY"})
        before = await call_ok(stack, "qdi_diff_project", {"project_id": prod, "path": exported["path"]})
        result = await stack.mcp.call_tool("qdi_import_project", {"project_id": prod, "path": exported["path"]})
    imported = result.structured_content
    assert imported["status"] == "imported" and imported["changes"]["summary"] == before["summary"]
    assert before["summary"] in result.content[0].text
