"""Pydantic models of the Qlik Data Integration projects API wire format.

Python attributes are snake_case; the wire uses camelCase aliases. Response models are tolerant (every
field optional, unknown fields kept) because the service adds fields and the reference marks nearly all
optional; enum-like response fields are plain strings for the same reason. Request models are strict
(unknown fields and values outside the documented enums are refused) so mistakes fail before a request.
Serialise requests with `to_wire()`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# the reference types these as "number": integers in practice, but a float must not break parsing
Number = int | float


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ResponseModel(WireModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        # Qlik answers `null` for what it has no value for (a finished prepare's `"taskDetails": null`, an
        # action's `"error": null`): read a null as the field's absence, so lists, maps and counters keep their
        # empty defaults instead of failing the whole answer.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class ListEnvelope(ResponseModel):
    """A list answer. The reference wraps the items in an object; some answers (qlik.dev's own deployment
    tutorial shows them) are the bare array, so an array is read as the items."""

    items_key: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _bare_array_is_the_items(cls, data: Any) -> Any:
        return {cls.items_key: data} if isinstance(data, list) else data


class RequestModel(WireModel):
    model_config = ConfigDict(extra="forbid")


# --- errors ------------------------------------------------------------------------------------------


class ErrorSource(ResponseModel):
    pointer: str | None = None
    parameter: str | None = None


class ErrorItem(ResponseModel):
    code: str | None = None
    title: str | None = None
    detail: str | None = None
    source: ErrorSource | None = None
    status: int | None = None


class ErrorEnvelope(ResponseModel):
    errors: list[ErrorItem] = Field(default_factory=list)
    trace_id: str | None = None


# --- projects ----------------------------------------------------------------------------------------

ProjectType = Literal["DATA_PIPELINE", "DATA_MOVEMENT"]
PlatformType = Literal[
    "SNOWFLAKE",
    "BIGQUERY",
    "SYNAPSE",
    "DATABRICKS",
    "REDSHIFT",
    "MSSQL",
    "FABRIC",
    "QLIK_QVD",
    "QLIK_QVD_CUSTOMER_MANAGED",
    # added by today's reference (qlik.dev di-projects, stored doc 68598814407): "NONE: No platform (e.g.
    # replication-only projects)"
    "QLIK_OPEN_LAKEHOUSE",
    "NONE",
]
ExportMode = Literal["MINIMAL", "ALL", "LEGACY"]


class Project(ResponseModel):
    id: str | None = None
    name: str | None = None
    # DiProjectItemRsp of today's reference has both; plain strings so a new enum value cannot break parsing
    type: str | None = None
    owner_id: str | None = None
    space_id: str | None = None
    description: str | None = None
    platform_type: str | None = None


class CreateProjectRequest(RequestModel):
    name: str | None = None
    type: ProjectType | None = None
    space: str | None = None
    description: str | None = None
    platform_type: PlatformType | None = None
    platform_connection: str | None = None
    cloud_staging_connection: str | None = None


class ExportRequest(RequestModel):
    mode: ExportMode = "MINIMAL"
    include_bindings: bool = False


class TaskSelector(RequestModel):
    task_id: str


class PrepareProjectRequest(RequestModel):
    allow_recreate: bool = False
    selected_tasks: list[TaskSelector] | None = None


class ValidateProjectRequest(RequestModel):
    selected_tasks: list[TaskSelector] | None = None


class Bindings(ResponseModel):
    variables: dict[str, Any] = Field(default_factory=dict)
    name_to_id_map: dict[str, Any] = Field(default_factory=dict)


class UpdateBindingsRequest(RequestModel):
    variables: dict[str, Any]


# --- data tasks --------------------------------------------------------------------------------------

ReloadStrategy = Literal["NONE", "TRUNCATE", "COMPARE_AND_APPLY"]
StartOption = Literal[
    "PROCESS_CHANGES_FROM_TIMESTAMP",
    "PROCESS_CHANGES_FROM_POSITION",
    "RECOVER_USING_LOCALLY_STORED_CHECKPOINT",
]


class DataTask(ResponseModel):
    id: str | None = None
    name: str | None = None
    type: str | None = None
    owner_id: str | None = None
    space_id: str | None = None
    description: str | None = None


class PrepareTaskRequest(RequestModel):
    allow_recreate: bool


class DatasetSelector(RequestModel):
    dataset_id: str


class RequestReloadRequest(RequestModel):
    reload_strategy: ReloadStrategy | None = None
    selected_datasets: list[DatasetSelector] | None = None


class StartTaskRequest(RequestModel):
    option: StartOption | None = None
    process_changes_from: str | None = None


class ReloadResult(ResponseModel):
    success: bool | None = None


# --- asynchronous actions ----------------------------------------------------------------------------


class ActionRef(ResponseModel):
    # the only field the reference marks required, and nothing can follow without it
    action_id: str


class ActionError(ResponseModel):
    code: str | None = None
    details: str | None = None
    message: str | None = None


class ActionTaskDetail(ResponseModel):
    task_id: str | None = None
    name: str | None = None
    state: str | None = None
    info: str | None = None
    error: ActionError | None = None


class TaskProgress(ResponseModel):
    failed: int = 0
    pending: int = 0
    skipped: int = 0
    canceled: int = 0
    completed: int = 0
    executing: int = 0


class Action(ResponseModel):
    name: str | None = None
    type: str | None = None
    state: str | None = None
    error: ActionError | None = None
    start_time: str | None = None
    end_time: str | None = None
    task_details: list[ActionTaskDetail] = Field(default_factory=list)
    task_progress: TaskProgress | None = None


# --- task runtime state ------------------------------------------------------------------------------


class RunGeneral(ResponseModel):
    dataset_count: Number | None = None
    datasets_in_error_count: Number | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    gateway_task_name: str | None = None
    data_task_updated_to: str | None = None
    live_views_updated_to: str | None = None
    lakehouse_cluster_id: str | None = None
    lakehouse_cluster_name: str | None = None


class FullLoadSummary(ResponseModel):
    error_count: Number | None = None
    queued_count: Number | None = None
    loading_count: Number | None = None
    completed_count: Number | None = None


class CdcStatusSummary(ResponseModel):
    latency: str | None = None
    total_processed_count: Number | None = None
    applying_changes_count: Number | None = None
    incoming_changes_count: Number | None = None
    accumulating_changes_count: Number | None = None
    throughput_in_kilobytes_per_second: Number | None = None


class StreamingSummary(ResponseModel):
    latency: str | None = None
    error_count: Number | None = None
    queued_count: Number | None = None
    running_count: Number | None = None
    total_processed_count: Number | None = None


class LastBatchOfChangesSummary(ResponseModel):
    relates_to_records_from: str | None = None
    relates_to_records_to: str | None = None
    total_processed_count: Number | None = None
    throughput_in_records_per_second: Number | None = None


class LastRun(ResponseModel):
    state: str | None = None
    errors: list[ErrorItem] = Field(default_factory=list)
    start_time: str | None = None
    end_time: str | None = None
    duration: str | None = None
    message: str | None = None
    trace_id: str | None = None
    general: RunGeneral | None = None
    full_load: FullLoadSummary | None = None
    cdc_status: CdcStatusSummary | None = None
    streaming: StreamingSummary | None = None
    last_batch_of_changes: LastBatchOfChangesSummary | None = None


class RunReadiness(ResponseModel):
    state: str | None = None
    message: str | None = None


class TaskRuntimeState(ResponseModel):
    name: str | None = None
    type: str | None = None
    last_run: LastRun | None = None
    run_readiness: RunReadiness | None = None


# --- dataset runtime state ---------------------------------------------------------------------------


class FileStats(ResponseModel):
    volume: str | None = None
    processed_count: Number | None = None


class OperationStats(ResponseModel):
    insert_count: Number | None = None
    update_count: Number | None = None
    delete_count: Number | None = None
    failed_count: Number | None = None


class DatasetFullLoad(ResponseModel):
    state: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration: str | None = None
    message: str | None = None
    file_stats: FileStats | None = None
    cached_changes_count: Number | None = None
    failed_records_count: Number | None = None
    total_processed_count: Number | None = None


class DatasetCdcStatus(ResponseModel):
    state: str | None = None
    message: str | None = None
    ddl_count: Number | None = None
    insert_count: Number | None = None
    update_count: Number | None = None
    delete_count: Number | None = None
    last_processed: str | None = None
    total_processed_count: Number | None = None
    incoming_changes_count: Number | None = None
    unoptimized_records_count: Number | None = None


class DatasetStreaming(ResponseModel):
    state: str | None = None
    message: str | None = None
    last_processed: str | None = None
    parse_issue_count: Number | None = None
    records_written_count: Number | None = None
    total_processed_count: Number | None = None
    records_filtered_count: Number | None = None
    unoptimized_records_count: Number | None = None


class DatasetLastBatchOfChanges(ResponseModel):
    state: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration: str | None = None
    message: str | None = None
    file_stats: FileStats | None = None
    operation_stats: OperationStats | None = None
    total_processed_count: Number | None = None
    throughput_in_records_per_second: Number | None = None


class DatasetState(ResponseModel):
    dataset_id: str | None = None
    name: str | None = None
    source_name: str | None = None
    data_readiness: str | None = None
    full_load: DatasetFullLoad | None = None
    cdc_status: DatasetCdcStatus | None = None
    streaming: DatasetStreaming | None = None
    last_batch_of_changes: DatasetLastBatchOfChanges | None = None


# --- list envelopes ----------------------------------------------------------------------------------


class ProjectList(ListEnvelope):
    items_key = "projects"
    projects: list[Project] = Field(default_factory=list)


class DataTaskList(ListEnvelope):
    items_key = "dataTasks"
    data_tasks: list[DataTask] = Field(default_factory=list)


class DatasetStateList(ListEnvelope):
    items_key = "datasets"
    datasets: list[DatasetState] = Field(default_factory=list)


# --- import-async and project-definition checks (issue 14) -------------------------------------------
# import-async answers 202 `{actionId}` like prepare and validate, so it is read as an `ActionRef`.


class DefinitionReport(ResponseModel):
    """One finding of validate-project-definitions. `level` is WARNING (does not block import) or ERROR (must be
    resolved before importing) per qlik.dev di-projects reference (stored doc 68598814407); kept a plain string
    like the other enum-like answers."""

    path: str | None = None
    level: str | None = None
    reason: str | None = None


class DefinitionReports(ListEnvelope):
    # "An empty array indicates no issues were found." (same reference)
    items_key = "reports"
    reports: list[DefinitionReport] = Field(default_factory=list)


# --- run history (qlik.dev di-projects reference, stored doc 68598814407; di-projects.d.ts 56221190310) ----

TaskRunStatus = Literal["STARTING", "RUNNING", "COMPLETED", "FAILED", "CANCELED", "MISFIRED"]


class TaskRunFilter(RequestModel):
    """`TaskRunSearchFilter`: BETWEEN goes only with PERIOD, and then `value` is two ISO-8601 times."""

    field: Literal["ID", "STATUS", "SUB_STATUS", "PERIOD"]
    operator: Literal["IN", "NOT_IN", "BETWEEN"]
    value: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _between_only_with_period(self) -> TaskRunFilter:
        if (self.field == "PERIOD") != (self.operator == "BETWEEN"):
            raise ValueError("BETWEEN goes only with the PERIOD field, and PERIOD only with BETWEEN")
        if self.field == "PERIOD" and len(self.value) != 2:
            raise ValueError("PERIOD BETWEEN takes exactly two ISO-8601 timestamps (start, end)")
        return self


class SearchTaskRunsRequest(RequestModel):
    """`DiSearchTaskRunHistoryReq`."""

    limit: int | None = Field(default=None, ge=1)
    last_id: str | None = None
    filters: list[TaskRunFilter] | None = None


class TaskRunItem(ResponseModel):
    """`TaskRunItemRsp`: one historical run. `status` stays a plain string (see the module's docstring)."""

    run_id: str | None = None
    status: str | None = None
    sub_status: str | None = None
    origin_sub_status: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration: str | None = None
    error_message: str | None = None
    datasets_count: Number | None = None
    datasets_error_count: Number | None = None


class TaskRunPage(ResponseModel):
    """`DiSearchTaskRunHistoryRsp`: one page; pass `last_id` back while `next_page_exists`."""

    runs: list[TaskRunItem] = Field(default_factory=list)
    last_id: str | None = None
    next_page_exists: bool = False


# --- spaces and data connections (Qlik's spaces and data-connections APIs) ------------------------------


class Link(ResponseModel):
    href: str | None = None


class PageLinks(ResponseModel):
    next: Link | None = None
    prev: Link | None = None


class Space(ResponseModel):
    """`Space` of qlik-oss/qlik-api-ts spaces.d.ts (stored doc 38773419195); `type` is shared, managed or data."""

    id: str | None = None
    name: str | None = None
    type: str | None = None
    description: str | None = None
    owner_id: str | None = None


class SpaceList(ResponseModel):
    data: list[Space] = Field(default_factory=list)
    links: PageLinks | None = None


# ConnectionGet fields that carry or lead to credentials (data-connections.d.ts @ 35d6345f, stored doc
# 56222317199): the connect statement can embed hosts and logins, qConnectionSecret is "connection specific
# secret (or password)", qPassword/qUsername are logon credentials, qReferenceKey a "Reference key of credential",
# qri an "Encrypted base Qri string", and `extended=true` adds an encrypted credential string. None of them is
# ever read: DataConnection ignores every field it does not declare, so a field Qlik adds later stays out too.
CONNECTION_SECRET_FIELDS = frozenset(
    {
        "qConnectStatement",
        "qConnectionSecret",
        "qPassword",
        "qUsername",
        "qReferenceKey",
        "qri",
        "qCredentialsID",
        "qCredentialsName",
        "encryptedCredentials",
        "connectionProperties",
    }
)


class DataConnection(WireModel):
    """One connection of GET /api/v1/data-connections, reduced to what names it: never a credential field."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, alias="qID")
    name: str | None = Field(default=None, alias="qName")
    type: str | None = Field(default=None, alias="qType")  # "provider type of underlying connector"
    space_id: str | None = Field(default=None, alias="space")  # "ID of the space to which the connection belongs"

    @model_validator(mode="before")
    @classmethod
    def _drop_credentials(cls, data: Any) -> Any:
        # Dropped before validation, so not even a validation error message can quote one.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in CONNECTION_SECRET_FIELDS and v is not None}
        return data


class DataConnectionList(ResponseModel):
    data: list[DataConnection] = Field(default_factory=list)
    links: PageLinks | None = None


class SpacePage(BaseModel):
    """One page of spaces; `next_cursor` is the `next` of `links.next`, None on the last page."""

    spaces: list[Space]
    next_cursor: str | None = None


class DataConnectionPage(BaseModel):
    """One page of data connections; `next_cursor` is the `page` of `links.next`, None on the last page."""

    connections: list[DataConnection]
    next_cursor: str | None = None
