"""Wire models: camelCase on the wire, tolerant responses, strict requests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from qdi_mcp.api import (
    Action,
    CreateProjectRequest,
    DatasetState,
    Project,
    TaskProgress,
    TaskRuntimeState,
)

# the example answers from the API reference, verbatim
RUNTIME_STATE_EXAMPLE = {
    "name": "string",
    "type": "LANDING",
    "lastRun": {
        "state": "STARTING",
        "errors": [
            {
                "code": "string",
                "title": "string",
                "detail": "string",
                "source": {"pointer": "string", "parameter": "string"},
                "status": 42,
            }
        ],
        "endTime": "2018-10-30T07:06:22Z",
        "general": {
            "gatewayId": "string",
            "gatewayName": "string",
            "datasetCount": 42,
            "gatewayTaskName": "string",
            "dataTaskUpdatedTo": "2018-10-30T07:06:22Z",
            "lakehouseClusterId": "string",
            "liveViewsUpdatedTo": "2018-10-30T07:06:22Z",
            "datasetsInErrorCount": 42,
            "lakehouseClusterName": "string",
        },
        "message": "string",
        "traceId": "string",
        "duration": "string",
        "fullLoad": {"errorCount": 42, "queuedCount": 42, "loadingCount": 42, "completedCount": 42},
        "cdcStatus": {
            "latency": "01:30:45",
            "totalProcessedCount": 42,
            "applyingChangesCount": 42,
            "incomingChangesCount": 42,
            "accumulatingChangesCount": 42,
            "throughputInKilobytesPerSecond": 42,
        },
        "startTime": "2018-10-30T07:06:22Z",
        "streaming": {
            "latency": "string",
            "errorCount": 42,
            "queuedCount": 42,
            "runningCount": 42,
            "totalProcessedCount": 42,
        },
        "lastBatchOfChanges": {
            "relatesToRecordsTo": "2018-10-30T07:06:22Z",
            "totalProcessedCount": 42,
            "relatesToRecordsFrom": "2018-10-30T07:06:22Z",
            "throughputInRecordsPerSecond": 42,
        },
    },
    "runReadiness": {"state": "READY_TO_RUN", "message": "string"},
}

DATASET_EXAMPLE = {
    "name": "string",
    "fullLoad": {
        "state": "QUEUED",
        "endTime": "2018-10-30T07:06:22Z",
        "message": "string",
        "duration": "string",
        "fileStats": {"volume": "string", "processedCount": 42},
        "startTime": "2018-10-30T07:06:22Z",
        "cachedChangesCount": 42,
        "failedRecordsCount": 42,
        "totalProcessedCount": 42,
    },
    "cdcStatus": {
        "state": "QUEUED",
        "message": "string",
        "ddlCount": 42,
        "deleteCount": 42,
        "insertCount": 42,
        "updateCount": 42,
        "lastProcessed": "2018-10-30T07:06:22Z",
        "totalProcessedCount": 42,
        "incomingChangesCount": 42,
        "unoptimizedRecordsCount": 42,
    },
    "datasetId": "string",
    "streaming": {
        "state": "QUEUED",
        "message": "string",
        "lastProcessed": "2018-10-30T07:06:22Z",
        "parseIssueCount": 42,
        "recordsWrittenCount": 42,
        "totalProcessedCount": 42,
        "recordsFilteredCount": 42,
        "unoptimizedRecordsCount": 42,
    },
    "sourceName": "string",
    "dataReadiness": "READY",
    "lastBatchOfChanges": {
        "state": "QUEUED",
        "endTime": "2018-10-30T07:06:22Z",
        "message": "string",
        "duration": "string",
        "fileStats": {"volume": "string", "processedCount": 42},
        "startTime": "2018-10-30T07:06:22Z",
        "operationStats": {"deleteCount": 42, "failedCount": 42, "insertCount": 42, "updateCount": 42},
        "totalProcessedCount": 42,
        "throughputInRecordsPerSecond": 42,
    },
}

ACTION_EXAMPLE = {
    "name": "Prepare project myspace.demoproject",
    "type": "PROJECT_PREPARE",
    "error": {"code": "string", "details": "string", "message": "string"},
    "state": "PENDING",
    "endTime": "2018-10-30T07:06:22Z",
    "startTime": "2018-10-30T07:06:22Z",
    "taskDetails": [
        {
            "info": "string",
            "name": "string",
            "error": {"code": "string", "details": "string", "message": "string"},
            "state": "PENDING",
            "taskId": "string",
        }
    ],
    "taskProgress": {
        "failed": 42,
        "pending": 42,
        "skipped": 42,
        "canceled": 42,
        "completed": 42,
        "executing": 42,
    },
}


def test_runtime_state_example_parses_every_documented_field() -> None:
    state = TaskRuntimeState.model_validate(RUNTIME_STATE_EXAMPLE)
    run = state.last_run
    assert run is not None and run.general is not None and run.cdc_status is not None
    assert run.errors[0].source is not None and run.errors[0].source.pointer == "string"
    assert run.general.datasets_in_error_count == 42 and run.general.lakehouse_cluster_name == "string"
    assert run.cdc_status.throughput_in_kilobytes_per_second == 42
    assert run.last_batch_of_changes is not None and run.last_batch_of_changes.relates_to_records_from
    assert state.model_extra == {} and run.model_extra == {} and run.general.model_extra == {}
    # nothing in the example was left unmodelled: a round trip gives the example back
    assert state.to_wire() == RUNTIME_STATE_EXAMPLE


def test_dataset_and_action_examples_round_trip() -> None:
    dataset = DatasetState.model_validate(DATASET_EXAMPLE)
    assert dataset.last_batch_of_changes is not None
    assert dataset.last_batch_of_changes.operation_stats is not None
    assert dataset.last_batch_of_changes.operation_stats.failed_count == 42
    assert dataset.to_wire() == DATASET_EXAMPLE
    action = Action.model_validate(ACTION_EXAMPLE)
    assert action.task_details[0].error is not None and action.task_details[0].error.details == "string"
    assert action.to_wire() == ACTION_EXAMPLE


def test_responses_keep_unknown_fields_and_tolerate_missing_ones() -> None:
    project = Project.model_validate({"id": "p1", "createdAt": "2024-01-01", "labels": ["a"]})
    assert project.name is None
    assert project.model_extra == {"createdAt": "2024-01-01", "labels": ["a"]}
    state = TaskRuntimeState.model_validate({"type": "SOMETHING_NEW", "lastRun": {"state": "NEW_STATE"}})
    assert state.last_run is not None and state.last_run.state == "NEW_STATE"
    assert state.last_run.errors == []


def test_task_progress_counts_default_to_zero() -> None:
    assert TaskProgress.model_validate({"completed": 2}).model_dump() == {
        "failed": 0,
        "pending": 0,
        "skipped": 0,
        "canceled": 0,
        "completed": 2,
        "executing": 0,
    }


def test_requests_accept_snake_case_and_serialise_camel_case_without_nones() -> None:
    request = CreateProjectRequest(name="Churn", platform_type="BIGQUERY", cloud_staging_connection="s")
    assert request.to_wire() == {"name": "Churn", "platformType": "BIGQUERY", "cloudStagingConnection": "s"}
    assert CreateProjectRequest.model_validate({"platformType": "MSSQL"}).platform_type == "MSSQL"


@pytest.mark.parametrize(
    "fields",
    [{"type": "DATA_LAKE"}, {"platform_type": "ORACLE"}, {"name": "x", "owner": "me"}],
    ids=["bad_type", "bad_platform", "unknown_field"],
)
def test_requests_refuse_unknown_fields_and_values(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        CreateProjectRequest.model_validate(fields)
