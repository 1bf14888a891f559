"""The result shapes the specs promise, shown by one realistic result per tool.

These samples are the contract handlers are written to: a result like each of them must validate, and a
result missing a promised key must not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from qdi_mcp.specs import get_spec, load_specs

REPO_TOOL_SPECS = Path(__file__).resolve().parents[1] / "tool_specs"

PROJECT = {
    "id": "p-churn",
    "name": "Customer churn",
    "space_id": "s-1",
    "owner_id": "u-1",
    "description": None,
}
TASK = {
    "id": "t-land",
    "name": "Orders landing",
    "type": "LANDING",
    "owner_id": "u-1",
    "space_id": "s-1",
    "description": "",
}
PROJECT_DIFF = {
    "summary": "+1 task, 1 changed, bindings: 1 added, 1 changed",
    "equal": False,
    "tasks": {
        "added": [{"name": "CRM LANDING", "id": "t-crm", "type": "LANDING"}],
        "removed": [],
        "changed": [
            {"name": "ERP STORAGE", "id": "t-store", "changed": ["datasets"], "datasets": {"added": ["invoices"]}}
        ],
        "counts": {"added": 1, "removed": 0, "changed": 1},
    },
    "project": {"changed": []},
    "bindings": {
        "added": ["task.t-crm.sourceConnection"],
        "dropped": [],
        "emptied": [],
        "changed": ["platformConnection"],
        "counts": {"added": 1, "dropped": 0, "emptied": 0, "changed": 1},
    },
}
PROJECT_DIFF_BRIEF = {
    "summary": PROJECT_DIFF["summary"],
    "equal": False,
    "counts": {"tasks": PROJECT_DIFF["tasks"]["counts"], "bindings": PROJECT_DIFF["bindings"]["counts"]},
}
ACTION_STARTED = {
    "action_id": "a-1",
    "status": "started",
    "next_step": "Call qdi_wait_for_action with action_id a-1.",
}
ACTION_WAIT = {
    "action_id": "a-1",
    "state": "FAILED",
    "timed_out": False,
    "elapsed_seconds": 12.5,
    "polls": 4,
    "task_progress": {"pending": 0, "executing": 0, "completed": 1, "failed": 1, "canceled": 0, "skipped": 0},
    "tasks": [
        {
            "task_id": "t-land",
            "name": "Orders landing",
            "state": "COMPLETED",
            "error_code": None,
            "error_message": None,
        },
        {
            "task_id": "t-store",
            "name": "Orders storage",
            "state": "FAILED",
            "error_code": "DI-4001",
            "error_message": "Connection refused",
        },
    ],
    "error": {"code": "DI-4001", "message": "1 task failed", "details": None},
    "hint": "Fix the connection of Orders storage, then call qdi_prepare_task_and_wait.",
}
TASK_WAIT = {
    "project_id": "p-churn",
    "task_id": "t-land",
    "state": "RUNNING",
    "message": None,
    "readiness": "ALREADY_RUNNING",
    "timed_out": False,
    "elapsed_seconds": 40,
    "polls": 6,
    "full_load": {"error_count": 0, "queued_count": 0, "loading_count": 0, "completed_count": 12},
    "errors": [],
    "hint": "Running steadily; watch it with qdi_get_task_state.",
}

RESULTS: dict[str, dict[str, Any]] = {
    "qdi_list_projects": {"projects": [PROJECT], "count": 1},
    "qdi_create_project": {"project": PROJECT},
    "qdi_get_project": {"project": PROJECT},
    "qdi_export_project": {
        "project_id": "p-churn",
        "path": "customer-churn.zip",
        "size_bytes": 20480,
        "sha256": "0" * 64,
        "file_count": 2,
        "tasks": ["ORDERS LANDING"],
        "mode": "MINIMAL",
        "include_bindings": False,
    },
    "qdi_import_project": {
        "status": "imported",
        "project_id": "p-churn",
        "path": "customer-churn.zip",
        "endpoint": "import",
        "format": "legacy_json",
        "changes": PROJECT_DIFF_BRIEF,
        "action_id": None,
        "tasks": [{"id": "t-land", "name": "Orders landing", "type": "LANDING"}],
    },
    "qdi_prepare_project": ACTION_STARTED,
    "qdi_validate_project": ACTION_STARTED,
    "qdi_get_bindings": {
        "project_id": "p-churn",
        "variables": {"source_connection": "MySQL prod", "target_schema": None},
        "name_to_id_map": {"MySQL prod": "c-9"},
    },
    "qdi_update_bindings": {
        "status": "updated",
        "project_id": "p-churn",
        "variable_count": 2,
        "added": ["task.t-1.databaseName"],
        "removed": [],
        "changed": [
            {"name": "task.t-1.databaseName", "old": None, "new": "CHURN"},
            {
                "name": "task.t-1.sourceConnection",
                "old": "",
                "new": "{{id(connection, DEV_SPACE.MySQL_DEV)}}",
            },
        ],
    },
    "qdi_list_tasks": {"project_id": "p-churn", "tasks": [TASK], "count": 1},
    "qdi_get_task": {"task": TASK},
    "qdi_prepare_task": ACTION_STARTED,
    "qdi_recreate_task_datasets": ACTION_STARTED,
    "qdi_request_task_reload": {
        "success": True,
        "project_id": "p-churn",
        "task_id": "t-land",
        "next_step": "The reload happens at the next run; call qdi_start_task_and_wait.",
    },
    "qdi_validate_task": ACTION_STARTED,
    "qdi_start_task": {
        "status": "start_requested",
        "project_id": "p-churn",
        "task_id": "t-land",
        "next_step": "Call qdi_get_task_state.",
    },
    "qdi_stop_task": {
        "status": "stop_requested",
        "project_id": "p-churn",
        "task_id": "t-land",
        "next_step": "Call qdi_get_task_state.",
    },
    "qdi_get_task_state": {
        "project_id": "p-churn",
        "task_id": "t-land",
        "name": "Orders landing",
        "type": "LANDING",
        "state": "RUNNING",
        "readiness": "ALREADY_RUNNING",
        "readiness_message": None,
        "last_run": {
            "state": "RUNNING",
            "start_time": "2025-01-01T00:00:00Z",
            "errors": [],
            "general": {"dataset_count": 12, "datasets_in_error_count": 0},
            "full_load": {"completed_count": 12},
            "cdc_status": {"latency": "00:00:03"},
        },
    },
    "qdi_get_task_datasets_state": {
        "project_id": "p-churn",
        "task_id": "t-store",
        "dataset_count": 3,
        "by_readiness": {"READY": 1, "NOT_READY": 0, "ERROR": 2},
        "in_error": [
            {"dataset_id": "d-2", "name": "orders", "message": "Table not found"},
            {"dataset_id": "d-3", "name": "order_lines", "message": None},
        ],
    },
    "qdi_get_action": {
        "action_id": "a-1",
        "name": "Prepare project myspace.churn",
        "type": "PROJECT_PREPARE",
        "state": "EXECUTING",
        "start_time": "2025-01-01T00:00:00Z",
        "end_time": None,
        "error": None,
        "task_progress": {
            "pending": 1,
            "executing": 1,
            "completed": 0,
            "failed": 0,
            "canceled": 0,
            "skipped": 0,
        },
    },
    "qdi_prepare_project_and_wait": ACTION_WAIT,
    "qdi_validate_project_and_wait": ACTION_WAIT,
    "qdi_prepare_task_and_wait": ACTION_WAIT,
    "qdi_validate_task_and_wait": ACTION_WAIT,
    "qdi_recreate_task_datasets_and_wait": ACTION_WAIT,
    "qdi_wait_for_action": {**ACTION_WAIT, "state": "EXECUTING", "timed_out": True, "error": None},
    "qdi_start_task_and_wait": TASK_WAIT,
    "qdi_stop_task_and_wait": {
        **TASK_WAIT,
        "state": "CANCELED",
        "readiness": "READY_TO_RUN",
        "full_load": None,
        # issue 17: a CDC task's figures; after a stop of a replication task, where to resume
        "cdc": {
            "latency": "00:00:04",
            "changes_applied": 1234,
            "updated_to": "2025-03-03T09:00:00Z",
            "resume_from": {"option": "PROCESS_CHANGES_FROM_TIMESTAMP", "process_changes_from": "2025-03-03T09:00:00Z"},
        },
    },
    "qdi_get_project_status": {
        "project": PROJECT,
        "summary": "2 tasks: 1 running, 1 failed (Orders storage: 2 datasets in error)",
        "counts": {"RUNNING": 1, "FAILED": 1},
        "tasks": [
            {
                "task_id": "t-land",
                "name": "Orders landing",
                "type": "LANDING",
                "state": "RUNNING",
                "status": "running",
                "readiness": "ALREADY_RUNNING",
                "datasets_in_error": 0,
                "stage": 0,
                "upstream": [],
            },
            {
                "task_id": "t-store",
                "name": "Orders storage",
                "type": "STORAGE",
                "state": "FAILED",
                "status": "failed",
                "readiness": "READY_TO_RUN",
                "datasets_in_error": 2,
                "stage": 1,
                "upstream": ["Orders landing"],
                "failed_run_id": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
            },
        ],
    },
    # issue 14, imports
    "qdi_validate_project_files": {
        "path": "customer-churn.zip",
        "valid": False,
        "error_count": 1,
        "warning_count": 0,
        "reports": [{"path": "qtcp_tasks/t1/task.yaml", "level": "ERROR", "reason": "Property 'settings' is missing."}],
    },
    "qdi_import_project_and_wait": {
        "project_id": "p-churn",
        "path": "customer-churn.zip",
        "endpoint": "import-async",
        "format": "yaml",
        "changes": PROJECT_DIFF_BRIEF,
        **ACTION_WAIT,
    },
    # issue 16, change management
    "qdi_promote_project": {
        "status": "promoted",
        "diff": "+4 tasks, 2 changed",
        "steps": [
            {"step": "backup", "outcome": "done", "detail": "backups/c360-prod-p-prod-20250101T000000Z.zip"},
            {"step": "start", "outcome": "skipped", "detail": "not asked"},
        ],
        "backup": {
            "path": "backups/c360-prod-p-prod-20250101T000000Z.zip",
            "absolute_path": "/work/backups/c360-prod-p-prod-20250101T000000Z.zip",
            "restore": {"tool": "qdi_import_project_and_wait", "arguments": {"project_id": "p-prod"}},
        },
        "bindings": {
            "kept": 30,
            "set": 1,
            "needs_value": {"task.crm.sourceConnection": ["{{id(connection, P.SF)}}"]},
            "unset": ["task.crm.taskSchema"],
        },
        "hint": "promoted and prepared: start the tasks with qdi_start_task_and_wait",
    },
    # issue 17, pipelines
    "qdi_run_project_and_wait": {
        "project_id": "p-churn",
        "state": "failed",
        "timed_out": False,
        "elapsed_seconds": 42.0,
        "tasks": [
            {"task_id": "t-land", "name": "Orders landing", "stage": 0, "outcome": "running", "state": "RUNNING"},
            {
                "task_id": "t-store",
                "name": "Orders storage",
                "stage": 1,
                "outcome": "failed",
                "state": "FAILED",
                "run_id": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
                "error": "Table 'orders' does not exist in the source database.",
            },
            {"task_id": "t-mart", "name": "Orders mart", "stage": 2, "outcome": "not_started", "state": None},
        ],
        "hint": "fix the cause, then call again with task_ids of the failed and not-started tasks",
    },
    "qdi_diff_project": {
        "project_id": "p-churn-prod",
        "path": None,
        "source_project_id": "p-churn",
        **PROJECT_DIFF,
    },
    # run history (issue 14)
    "qdi_list_task_runs": {
        "project_id": "p-churn",
        "task_id": "t-store",
        "runs": [
            {
                "run_id": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
                "status": "FAILED",
                "start_time": "2025-01-01T02:00:00Z",
                "end_time": "2025-01-01T02:30:00Z",
                "duration": "00:30:00",
                "error_message": "1 of 4 datasets ended in error",
                "datasets_count": 4,
                "datasets_error_count": 1,
            }
        ],
        "next_cursor": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
    },
    "qdi_get_task_run": {
        "project_id": "p-churn",
        "task_id": "t-store",
        "run_id": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
        "name": "Orders storage",
        "type": "STORAGE",
        "state": "FAILED",
        "run": {"state": "FAILED", "start_time": "2025-01-01T02:00:00Z", "errors": [{"code": "DATASET_ERROR"}]},
    },
    "qdi_get_task_run_datasets": {
        "project_id": "p-churn",
        "task_id": "t-store",
        "run_id": "caf50cbf-d6f8-47c6-a5e0-b31e0d11102a",
        "dataset_count": 2,
        "by_readiness": {"READY": 1, "NOT_READY": 0, "ERROR": 1},
        "in_error": [{"dataset_id": "d-2", "name": "orders", "message": "Table not found"}],
    },
    "qdi_list_spaces": {
        "spaces": [{"id": "6650f0c1a2b3c4d5e6f7d001", "name": "DEV_SPACE", "type": "data"}],
        "count": 1,
        "next_cursor": "bzox",
    },
    "qdi_list_connections": {
        "connections": [
            {
                "id": "c972c6ef-b2ec-5161-bf7c-a6ed82b6dff5",
                "name": "MySQL_DEV",
                "type": "repsrc_mysql",
                "space_id": "6650f0c1a2b3c4d5e6f7d001",
                "space_name": "DEV_SPACE",
                "binding_reference": "{{id(connection, DEV_SPACE.MySQL_DEV)}}",
            }
        ],
        "count": 1,
        "next_cursor": None,
    },
}

# Optional keys that the detailed variant of a tool adds.
DETAILED: dict[str, tuple[str, Any]] = {
    "qdi_get_action": (
        "task_details",
        [{"task_id": "t-1", "name": "Orders", "state": "FAILED", "info": None, "error": {"code": "E1"}}],
    ),
    "qdi_get_task_datasets_state": (
        "datasets",
        [{"dataset_id": "d-2", "name": "orders", "data_readiness": "ERROR", "full_load": {"state": "ERROR"}}],
    ),
    "qdi_get_task_run_datasets": (
        "datasets",
        [{"dataset_id": "d-2", "name": "orders", "data_readiness": "ERROR", "full_load": {"state": "ERROR"}}],
    ),
}


def validator(name: str, *, with_confirmation: bool = False) -> Draft202012Validator:
    spec = get_spec(name, REPO_TOOL_SPECS)
    return Draft202012Validator(spec.output_schema if with_confirmation else spec.result_schema)


def test_there_is_a_sample_result_for_every_tool() -> None:
    assert set(RESULTS) == {spec.name for spec in load_specs(REPO_TOOL_SPECS)}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_sample_result_satisfies_the_result_and_output_schemas(name: str) -> None:
    for with_confirmation in (False, True):
        errors = [e.message for e in validator(name, with_confirmation=with_confirmation).iter_errors(RESULTS[name])]
        assert errors == []


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_result_missing_a_promised_key_is_rejected(name: str) -> None:
    check = validator(name)
    for key in check.schema["required"]:
        broken = {k: v for k, v in RESULTS[name].items() if k != key}
        assert not check.is_valid(broken), f"{name} accepts a result without {key}"


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_results_computed_by_the_server_admit_no_unknown_keys(name: str) -> None:
    assert not validator(name).is_valid({**RESULTS[name], "unexpected": 1})


@pytest.mark.parametrize(("name", "detail"), DETAILED.items())
def test_detailed_results_validate(name: str, detail: tuple[str, Any]) -> None:
    key, value = detail
    assert validator(name).is_valid({**RESULTS[name], key: value})


def test_objects_from_the_api_admit_fields_the_service_may_add() -> None:
    project = {**PROJECT, "created_at": "2025-01-01T00:00:00Z"}
    assert validator("qdi_get_project").is_valid({"project": project})
    task = {**TASK, "new_field": {"nested": True}}
    assert validator("qdi_list_tasks").is_valid({"project_id": "p", "tasks": [task], "count": 1})


def test_ids_of_api_objects_are_required() -> None:
    project_without_id = {k: v for k, v in PROJECT.items() if k != "id"}
    assert not validator("qdi_get_project").is_valid({"project": project_without_id})


def test_export_rejects_a_digest_that_is_not_sha256_hex() -> None:
    assert not validator("qdi_export_project").is_valid({**RESULTS["qdi_export_project"], "sha256": "abc"})


def test_start_and_stop_results_name_their_request() -> None:
    stop_result = RESULTS["qdi_stop_task"]
    assert not validator("qdi_stop_task").is_valid({**stop_result, "status": "stopped"})
    # CDC figures are a closed shape, and resume_from only ever names the timestamp option
    assert not validator("qdi_stop_task").is_valid({**stop_result, "cdc": {"lag": "00:00:01"}})
    cdc = RESULTS["qdi_stop_task_and_wait"]["cdc"]
    wrong = {**cdc, "resume_from": {**cdc["resume_from"], "option": "PROCESS_CHANGES_FROM_POSITION"}}
    assert not validator("qdi_stop_task_and_wait").is_valid({**RESULTS["qdi_stop_task_and_wait"], "cdc": wrong})
