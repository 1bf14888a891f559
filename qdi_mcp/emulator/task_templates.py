"""Builders of Qlik-shaped project content: task ids, task folders, bindings definitions, new projects.

The shapes copy a real Qlik export (the qlik-export-customer-churn fixture): every environment-specific
value of a task is a `{{task.<id>.<setting>}}` variable, declared in the bindings definition with "" or a
task-type default (`{{task-type.landing.databaseName}}`), so the same files import into DEV and PROD.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from qdi_mcp.emulator.project_model import TASK_TYPES, ProjectDefinition, TaskDefinition

DatasetSpec = tuple[str, Sequence[tuple[str, str]]]  # (dataset name, [(upstream task id, dataset id)])

SOURCE_TASK_TYPES = frozenset({"LANDING", "LAKE_LANDING", "STREAMING_LAKE_LANDING", "REPLICATION", "REPLICATE_LANDING"})
QVD_PLATFORMS = frozenset({"QLIK_QVD", "QLIK_QVD_CUSTOMER_MANAGED"})
_WAREHOUSE_PLATFORMS = frozenset({"SNOWFLAKE"})

# How task types appear in `task-type.<key>.<setting>` variables (the fixture's spelling where it shows it).
_TASK_TYPE_KEYS = {"REGISTERED_DATA": "registered", "DATAMART": "datamart"}
# The task types whose task-type variables a new project declares (the fixture declares all of these).
_DECLARED_TASK_TYPES = ("LANDING", "STORAGE", "TRANSFORM", "DATAMART", "REGISTERED_DATA")
_FIXED_START = "2024-01-01T00:00:00.0000000Z"  # schedules must not depend on the clock

_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"


def slug(name: str) -> str:
    """Qlik's id stem: lower case, other characters as one underscore ("CHURN LANDING" -> "churn_landing")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "task"


def slug_task_id(name: str, existing_ids: Iterable[str], seed: str | int) -> str:
    """A Qlik-style id `<slug>-<4 chars>` not in existing_ids; the same arguments give the same id."""
    taken = set(existing_ids)
    stem = slug(name)
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{seed}\x00{stem}\x00{attempt}".encode()).digest()
        suffix = "".join(_SUFFIX_ALPHABET[byte % len(_SUFFIX_ALPHABET)] for byte in digest[:4])
        candidate = f"{stem}-{suffix}"
        if candidate not in taken:
            return candidate
        attempt += 1


def task_type_key(task_type: str) -> str:
    """`task-type.<key>` spelling of a task type: LANDING -> landing, QVD_STORAGE -> qvdStorage."""
    if task_type in _TASK_TYPE_KEYS:
        return _TASK_TYPE_KEYS[task_type]
    first, *rest = task_type.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def _platform_settings(task_type: str, platform_type: str) -> tuple[str, ...]:
    """Artifact-location settings a task type has on a platform (QVD platforms have neither)."""
    if platform_type in QVD_PLATFORMS:
        return ()
    if platform_type in _WAREHOUSE_PLATFORMS and task_type != "REGISTERED_DATA":
        return ("databaseName", "warehouseName")
    return ("databaseName",)


def new_task_definition(
    name: str,
    type: str,  # noqa: A002 - the brief's (and Qlik's) name for it
    *,
    task_id: str | None = None,
    datasets: Sequence[DatasetSpec] = (),
    schema: str | None = None,
    cdc: bool = False,
    source_connection: bool = True,
    platform_type: str = "SNOWFLAKE",
    description: str = "",
) -> TaskDefinition:
    """A task with the files Qlik would export for it (MINIMAL form).

    Source tasks (landing, replication) select `datasets` by table name from `schema` of their source
    connection (`{{task.<id>.sourceConnection}}`, omitted when source_connection is False); `cdc` makes
    them capture changes (see TaskDefinition.is_cdc). Other tasks get one `datasets/<name>.yaml` per
    dataset, reading the given (upstream task id, dataset id) pairs, and include every upstream task.
    """
    if type not in TASK_TYPES:
        raise ValueError(f"unknown task type {type!r}; expected one of {', '.join(sorted(TASK_TYPES))}")
    task_id = task_id or slug_task_id(name, (), seed=name)
    settings = _task_settings(task_id, type, platform_type, cdc)
    task_yaml: dict[str, Any] = {"properties": {"name": name, "id": task_id, "type": type}}
    if description:
        task_yaml["properties"]["description"] = description
    if settings:
        task_yaml["settings"] = settings
    files: dict[str, Any] = {"task.yaml": task_yaml}
    if type in SOURCE_TASK_TYPES or type == "REGISTERED_DATA":
        files["sourceSelection.yaml"] = _source_selection(task_id, type, datasets, schema, source_connection)
    else:
        files.update(_derived_task_files(task_id, type, datasets))
    return TaskDefinition(id=task_id, name=name, type=type, description=description, files=files)


def _task_settings(task_id: str, task_type: str, platform_type: str, cdc: bool) -> dict[str, Any]:
    var = f"task.{task_id}"
    location_settings = _platform_settings(task_type, platform_type)
    if task_type in ("LANDING", "LAKE_LANDING", "STREAMING_LAKE_LANDING"):
        location = {"dataAssetSchema": f"{{{{{var}.taskSchema}}}}"}
        if "databaseName" in location_settings:
            location["database"] = f"{{{{{var}.databaseName}}}}"
        settings: dict[str, Any] = {"landingDwSettings": {"landingArtifactsLocation": location}}
        if cdc:
            settings["landingAppRuntime"] = {"sourceCdcFetchIntervalMinutes": 15}
        return settings
    if task_type == "REPLICATION":
        settings = {
            "targetSettings": {
                "targetConnection": f"{{{{{var}.targetConnection}}}}",
                "targetSchema": f"{{{{{var}.taskSchema}}}}",
            }
        }
        if not cdc:
            settings["fullLoadOnly"] = True
        return settings
    artifacts = {"internalSchema": f"{{{{{var}.internalSchema}}}}", "taskSchema": f"{{{{{var}.taskSchema}}}}"}
    if "databaseName" in location_settings:
        artifacts["databaseName"] = f"{{{{{var}.databaseName}}}}"
    settings = {"artifactsLocation": artifacts}
    if "warehouseName" in location_settings:
        settings["taskRuntime"] = {"warehouseSelection": {"warehouseName": f"{{{{{var}.warehouseName}}}}"}}
    return settings


def _source_selection(
    task_id: str, task_type: str, datasets: Sequence[DatasetSpec], schema: str | None, source_connection: bool
) -> dict[str, Any]:
    selection: dict[str, Any] = {}
    if source_connection and task_type != "REGISTERED_DATA":
        selection["sourceConnection"] = f"{{{{task.{task_id}.sourceConnection}}}}"
    selected = []
    for dataset_name, _inputs in datasets:
        entry: dict[str, Any] = {"name": dataset_name}
        if schema is not None:
            entry["schema"] = f"{{{{task.{task_id}:null$_${schema}.schema}}}}"
        entry["type"] = "TABLE"
        selected.append(entry)
    selection["explicitlySelected"] = selected
    return selection


def _derived_task_files(task_id: str, task_type: str, datasets: Sequence[DatasetSpec]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    upstream: list[str] = []
    dataset_ids: set[str] = set()
    for dataset_name, inputs in datasets:
        dataset_id = slug_task_id(dataset_name, dataset_ids, seed=task_id)
        dataset_ids.add(dataset_id)
        input_datasets = [{"datasetId": dataset, "taskId": source} for source, dataset in inputs]
        upstream.extend(source for source, _ in inputs if source not in upstream)
        file_name = re.sub(r'[/\\:*?"<>|]', "_", dataset_name)
        files[f"datasets/{file_name}.yaml"] = {
            "properties": {"id": dataset_id, "name": dataset_name, "inputDatasets": input_datasets}
        }
    if upstream:
        files["sourceSelection.yaml"] = {
            "includePatterns": [{"sourceTask": source, "tablePattern": "%"} for source in upstream]
        }
    files["schedule.yaml"] = _schedule(task_type)
    return files


def _schedule(task_type: str) -> dict[str, Any]:
    if task_type in ("STORAGE", "QVD_STORAGE", "LAKEHOUSE_STORAGE"):
        timed = {
            "schedule": ["RRULE:FREQ=MINUTELY;INTERVAL=15;BYSECOND=0"],
            "startDateTime": _FIXED_START,
            "timezone": "Etc/UTC",
        }
        return {"scheduling": [{"schedulingType": "TIME_BASED", "timeBasedScheduling": timed}]}
    return {"scheduling": [{"schedulingType": "EVENT_BASED"}]}


def default_bindings_definition(
    tasks: Sequence[TaskDefinition], platform_type: str, *, project_type: str = "DATA_PIPELINE"
) -> dict[str, Any]:
    """Declared variables for a project: project level, task-type level, then every task variable.

    Task databases and warehouses default to their task type's value, as in Qlik's own definitions;
    everything else defaults to "" (to be bound per environment).
    """
    project_level: dict[str, Any] = {}
    if platform_type not in QVD_PLATFORMS:
        project_level.update({"cloudStagingConnection": "", "platformConnection": ""})
    project_level.update({"projectName": "", "project.current.prefixSchema": ""})

    task_type_level: dict[str, Any] = {}
    declared_types = _DECLARED_TASK_TYPES if project_type == "DATA_PIPELINE" else ()
    for task_type in sorted({*declared_types, *(task.type for task in tasks)}):
        for setting in _platform_settings(task_type, platform_type):
            method = setting.removesuffix("Name") + "SelectionMethod"
            task_type_level[f"task-type.{task_type_key(task_type)}.{setting}"] = ""
            task_type_level[f"task-type.{task_type_key(task_type)}.{method}"] = ""

    task_level: dict[str, Any] = {}
    for task in tasks:
        for variable in task.variables_used():
            setting = variable.rsplit(".", 1)[-1]
            type_variable = f"task-type.{task_type_key(task.type)}.{setting}"
            is_task_own = variable.startswith(f"task.{task.id}.")
            task_level[variable] = (
                f"{{{{{type_variable}}}}}" if is_task_own and type_variable in task_type_level else ""
            )
    return {
        **project_level,
        **dict(sorted(task_type_level.items())),
        **dict(sorted(task_level.items())),
    }


def bindings_for(bindings_definition: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Bindings (variable -> value) for a definition: its defaults, overridden by `values`."""
    unknown = sorted(values.keys() - bindings_definition.keys())
    if unknown:
        raise ValueError(f"values for undeclared variables: {', '.join(unknown)}")
    return {**bindings_definition, **values}


def new_project_definition(
    *,
    project_type: str,
    platform_type: str,
    tasks: Sequence[TaskDefinition] = (),
    connection_properties: dict[str, Any] | None = None,
) -> ProjectDefinition:
    """A project definition as Qlik exports one: qtcp_project.yaml, tasks, declared variables."""
    properties: dict[str, Any] = {
        "exportVersion": "1.0",
        "name": "{{projectName}}",
        "space": "ref{project.current.spaceId}",
        "type": project_type,
        "platformType": platform_type,
    }
    if platform_type not in QVD_PLATFORMS:
        properties["platformConnection"] = "{{platformConnection}}"
        properties["cloudStagingConnection"] = "{{cloudStagingConnection}}"
    return ProjectDefinition(
        properties=properties,
        settings={"artifactsNaming": {"prefixSchema": "{{project.current.prefixSchema}}"}},
        tasks=list(tasks),
        bindings_definition=default_bindings_definition(tasks, platform_type, project_type=project_type),
        bindings=None,
        other_files={},
        connection_properties=dict(connection_properties or {}),
    )
