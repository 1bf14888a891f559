"""Every endpoint tool through a real MCP client against the emulator. The client validates each result's
structuredContent against the tool's outputSchema; these tests also check the values and, for write tools,
that the emulator's state really changed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, CUSTOMER_360_PROD, ORDERS, SALES_QVD, call_ok, open_stack

pytestmark = pytest.mark.anyio


async def test_read_tools_return_what_the_emulator_holds(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        listed = await call_ok(stack, "qdi_list_projects", {})
        assert {p["id"] for p in listed["projects"]} == set(stack.emulator.tenant.projects)
        assert listed["count"] == len(listed["projects"])

        project = await call_ok(stack, "qdi_get_project", {"project_id": pid})
        assert project["project"]["name"] == CUSTOMER_360

        tasks = await call_ok(stack, "qdi_list_tasks", {"project_id": pid})
        assert {t["id"] for t in tasks["tasks"]} == {t["id"] for t in stack.emulator.tasks(pid)}
        tid = tasks["tasks"][0]["id"]

        task = await call_ok(stack, "qdi_get_task", {"project_id": pid, "task_id": tid})
        assert task["task"]["id"] == tid

        state = await call_ok(stack, "qdi_get_task_state", {"project_id": pid, "task_id": tid})
        assert state["readiness"] == stack.emulator.task_readiness(pid, tid)

        bindings = await call_ok(stack, "qdi_get_bindings", {"project_id": pid})
        assert bindings["variables"] == stack.emulator.bindings(pid)


async def test_lists_show_what_picks_an_item_and_the_get_tools_show_the_rest(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        wire = stack.emulator.project(pid)
        assert wire["description"] and wire["ownerId"]  # the demo project has both, so leaving them out shows
        listed = await call_ok(stack, "qdi_list_projects", {})
        item = next(p for p in listed["projects"] if p["id"] == pid)
        assert item == {
            "id": pid,
            "name": CUSTOMER_360,
            "type": wire["type"],
            "space_id": wire["spaceId"],
            "space_name": "DEV_SPACE",
            "platform_type": wire["platformType"],
        }
        project = (await call_ok(stack, "qdi_get_project", {"project_id": pid}))["project"]
        assert (project["description"], project["owner_id"]) == (wire["description"], wire["ownerId"])
        # the status is the project's overview: what it is for, without its owner
        status = (await call_ok(stack, "qdi_get_project_status", {"project_id": pid}))["project"]
        assert status["description"] == wire["description"] and "owner_id" not in status

        tasks = (await call_ok(stack, "qdi_list_tasks", {"project_id": pid}))["tasks"]
        wire_task = stack.emulator.tasks(pid)[0]
        assert wire_task["description"] and wire_task["spaceId"]
        row = next(t for t in tasks if t["id"] == wire_task["id"])
        assert row == {"id": wire_task["id"], "name": wire_task["name"], "type": wire_task["type"]}
        task = (await call_ok(stack, "qdi_get_task", {"project_id": pid, "task_id": row["id"]}))["task"]
        assert task["description"] == wire_task["description"] and task["space_id"] == wire_task["spaceId"]


async def test_datasets_state_summarises_by_default_and_lists_with_detail(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "CRM STORAGE")
        summary = await call_ok(stack, "qdi_get_task_datasets_state", {"project_id": pid, "task_id": tid})
        datasets = stack.emulator.datasets(pid, tid)
        assert summary["dataset_count"] == len(datasets)
        assert "datasets" not in summary
        errors = [d["name"] for d in datasets if d.get("dataReadiness") == "ERROR"]
        assert [e["name"] for e in summary["in_error"]] == errors and errors, "the demo has a dataset in error"
        detailed = await call_ok(
            stack, "qdi_get_task_datasets_state", {"project_id": pid, "task_id": tid, "detail": True}
        )
        assert len(detailed["datasets"]) == len(datasets)


async def test_create_project_adds_it_to_the_tenant(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        space = stack.emulator.project(stack.project_id(CUSTOMER_360))["spaceId"]
        created = await call_ok(
            stack,
            "qdi_create_project",
            {"name": "Finance pipeline", "type": "DATA_PIPELINE", "space_id": space, "platform_type": "SNOWFLAKE"},
        )
        new_id = created["project"]["id"]
        assert stack.emulator.project(new_id)["name"] == "Finance pipeline"
        assert stack.emulator.counters["create_project"] == 1


async def test_update_bindings_replaces_the_variables(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(SALES_QVD)
        variables = stack.emulator.bindings(pid)
        empty = [k for k, v in variables.items() if k.endswith("sourceConnection") and not v]
        assert empty, "the demo's failing task has an empty source connection"
        variables[empty[0]] = "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
        result = await call_ok(stack, "qdi_update_bindings", {"project_id": pid, "variables": variables})
        assert result["variable_count"] == len(variables)
        assert result["added"] == [] and result["removed"] == []
        assert stack.emulator.bindings(pid)[empty[0]] == "{{id(connection, DEV_SPACE.MySQL_DEV)}}"


async def test_update_bindings_refuses_a_partial_map_that_would_delete_variables(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360_PROD)
        before = stack.emulator.bindings(pid)
        result = await stack.mcp.call_tool(
            "qdi_update_bindings", {"project_id": pid, "variables": {"projectName": "renamed"}}
        )
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "invalid_arguments" and error["field"] == "variables"
        assert f"leaves out {len(before) - 1} of the project's {len(before)} variables" in error["message"]
        assert "remove_missing" in error["hint"]
        assert stack.emulator.bindings(pid) == before and stack.emulator.counters["update_bindings"] == 0


async def test_update_bindings_with_remove_missing_drops_and_reports_them(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360_PROD)
        before = stack.emulator.bindings(pid)
        kept = {name: value for name, value in before.items() if name != "projectName"}
        kept["extra.variable"] = "x"
        result = await call_ok(
            stack, "qdi_update_bindings", {"project_id": pid, "variables": kept, "remove_missing": True}
        )
        assert result["removed"] == ["projectName"] and result["added"] == ["extra.variable"]
        assert stack.emulator.bindings(pid) == kept


async def test_prepare_and_validate_tools_start_actions_the_emulator_runs(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "CRM LANDING")
        for tool, args in (
            ("qdi_prepare_project", {"project_id": pid}),
            ("qdi_validate_project", {"project_id": pid, "selected_task_ids": [tid]}),
            ("qdi_prepare_task", {"project_id": pid, "task_id": tid}),
            ("qdi_validate_task", {"project_id": pid, "task_id": tid}),
        ):
            started = await call_ok(stack, tool, args)
            assert started["status"] == "started"
            assert stack.emulator.action(started["action_id"])["state"] in ("PENDING", "EXECUTING")
            stack.emulator.clock.advance(600)
            action = await call_ok(stack, "qdi_get_action", {"action_id": started["action_id"], "detailed": True})
            assert action["state"] == "COMPLETED"
            assert action["task_details"]
        assert stack.emulator.counters["prepare_project"] == 1
        assert stack.emulator.counters["prepare_task"] == 1


async def test_start_task_moves_the_task_to_starting(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "CRM LANDING")
        result = await call_ok(stack, "qdi_start_task", {"project_id": pid, "task_id": tid})
        assert result["status"] == "start_requested"
        assert stack.emulator.task_run_state(pid, tid) == "STARTING"


async def test_request_reload_is_registered_for_the_next_run(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "CRM STORAGE")
        result = await call_ok(stack, "qdi_request_task_reload", {"project_id": pid, "task_id": tid})
        assert result["success"] is True
        assert stack.emulator.counters["request_task_reload"] == 1


async def test_export_writes_a_zip_in_the_workdir_and_import_reads_it_back(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        dev = stack.project_id(CUSTOMER_360)
        prod = stack.project_id(CUSTOMER_360_PROD)
        exported = await call_ok(stack, "qdi_export_project", {"project_id": dev, "include_bindings": True})
        path = tmp_path / "work" / exported["path"]
        data = path.read_bytes()
        assert len(data) == exported["size_bytes"]
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        assert "qtcp_project.yaml" in names and "bindings.json" in names
        assert exported["file_count"] == len(names)
        # the tasks it holds, named as the project names them, in either format
        assert exported["tasks"] == sorted(t["name"] for t in stack.emulator.tasks(dev))
        legacy = await call_ok(stack, "qdi_export_project", {"project_id": dev, "mode": "LEGACY"})
        assert legacy["tasks"] == exported["tasks"] and legacy["file_count"] > 0

        # a YAML export goes through import-async (today's reference): the tool starts the action and says so
        imported = await call_ok(stack, "qdi_import_project", {"project_id": prod, "path": exported["path"]})
        assert (imported["status"], imported["endpoint"]) == ("import_started", "import-async")
        dev_tasks = {(t["id"], t["name"]) for t in stack.emulator.tasks(dev)}
        assert imported["tasks"] == [] and stack.emulator.action(imported["action_id"])["type"] == "PROJECT_IMPORT"
        waited = await call_ok(stack, "qdi_wait_for_action", {"action_id": imported["action_id"]})
        assert waited["state"] == "COMPLETED" and "imported" in waited["hint"]
        assert {(t["id"], t["name"]) for t in stack.emulator.tasks(prod)} == dev_tasks
        assert stack.emulator.counters["import_project"] == 0 and stack.emulator.counters["import_project_async"] == 1


async def test_stop_task_stops_a_running_replication_once_confirmed_by_policy(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(ORDERS)
        tid = stack.emulator.tasks(pid)[0]["id"]
        assert stack.emulator.task_run_state(pid, tid) == "RUNNING"
        result = await call_ok(stack, "qdi_stop_task", {"project_id": pid, "task_id": tid})
        assert result["status"] == "stop_requested"
        assert stack.emulator.task_run_state(pid, tid) == "STOPPING"


async def test_recreate_datasets_starts_an_action(tmp_path: Path) -> None:
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(CUSTOMER_360)
        tid = stack.task_id(CUSTOMER_360, "CRM STORAGE")
        result = await call_ok(stack, "qdi_recreate_task_datasets", {"project_id": pid, "task_id": tid})
        assert stack.emulator.counters["recreate_task_datasets"] == 1
        stack.emulator.clock.advance(600)
        assert stack.emulator.action(result["action_id"])["state"] == "COMPLETED"


async def test_api_errors_become_structured_results_with_a_hint(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        result = await stack.mcp.call_tool("qdi_get_project", {"project_id": "no-such-project"})
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "not_found" and error["http_status"] == 404
        assert error["trace_id"], "Qlik's traceId is passed on"
        assert "qdi_list_projects" in error["hint"]
        assert error["retryable"] is False
        assert "Traceback" not in result.content[0].text

        pid = stack.project_id(SALES_QVD)
        never_prepared = [t["id"] for t in stack.emulator.tasks(pid)][0]
        started = await stack.mcp.call_tool("qdi_start_task", {"project_id": pid, "task_id": never_prepared})
        assert started.is_error
        assert started.structured_content["error"]["code"] == "bad_request"
        assert "qdi_get_task_state" in started.structured_content["error"]["hint"]
        assert "field" not in started.structured_content["error"]  # the task's state, not an argument, is wrong


async def test_a_pointer_at_a_renamed_request_field_names_the_tool_argument(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        arguments = {"project_id": stack.project_id(CUSTOMER_360), "selected_task_ids": ["nope"]}
        result = await stack.mcp.call_tool("qdi_prepare_project", arguments)
    error = result.structured_content["error"]
    assert error["code"] == "bad_request" and error["field"] == "selected_task_ids"
    assert "selected_task_ids" in error["hint"] and "selected_tasks" not in error["hint"]


async def test_a_bad_request_pointing_at_an_argument_names_it_in_the_tool_s_own_terms(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(ORDERS)
        tid = stack.emulator.tasks(pid)[0]["id"]
        arguments = {"project_id": pid, "task_id": tid, "option": "PROCESS_CHANGES_FROM_TIMESTAMP"}
        result = await stack.mcp.call_tool("qdi_start_task", arguments)
    error = result.structured_content["error"]
    assert error["code"] == "bad_request" and "processChangesFrom" in error["message"]
    assert error["field"] == "process_changes_from"
    assert "process_changes_from" in error["hint"] and "qdi_get_task_state" not in error["hint"]


async def test_import_refuses_a_path_outside_the_workdir_before_asking_for_confirmation(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        prod = stack.project_id(CUSTOMER_360_PROD)
        result = await stack.mcp.call_tool("qdi_import_project", {"project_id": prod, "path": "../outside.zip"})
        assert result.is_error
        assert result.structured_content["error"]["code"] == "invalid_path"
        assert stack.emulator.counters["import_project"] == 0


async def test_a_write_repeated_after_a_429_and_refused_says_the_first_attempt_may_have_succeeded(
    tmp_path: Path,
) -> None:
    # issue 15: a gateway answers 429 although the project was created; the client repeats the write (it only
    # repeats writes after a 429), and the repeat is refused because the name is taken. That refusal is not a
    # plain bad request: the agent must check before trying again, and the audit does not say "failed".
    async with open_stack(tmp_path) as stack:
        space = stack.emulator.project(stack.project_id(CUSTOMER_360))["spaceId"]
        stack.emulator.faults.inject("create_project", "status", status=429, retry_after=1, after_execution=True)
        result = await stack.mcp.call_tool(
            "qdi_create_project", {"name": "Finance pipeline", "type": "DATA_PIPELINE", "space_id": space}
        )
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "refused_after_retry", error
        assert "first attempt may have been carried out" in error["message"]
        assert "qdi_list_projects" in error["hint"]
        assert stack.emulator.counters["create_project"] == 1  # the first attempt did create it
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert lines[-1]["tool"] == "qdi_create_project" and lines[-1]["outcome"] == "outcome_unknown"
