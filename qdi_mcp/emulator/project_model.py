"""In-memory model of a Qlik project's declarative files (what an export zip holds).

A project is `qtcp_project.yaml` (properties, settings), one folder per data task under `qtcp_tasks/`
(`task.yaml` plus optional `sourceSelection.yaml`, `datasets/*.yaml`, `schedule.yaml`, ...), the declared
variables (`qtcp_bindings_definition.json`) and optionally their values (`bindings.json`).

Files keep Qlik's reference syntax untouched:
- `{{name}}`: a variable declared in the bindings definition (`task.<id>.sourceConnection`,
  `task-type.<type>.<setting>`, `projectName`, ...);
- `{{id(connection, SPACE.NAME)}}`, `{{ref(...)}}`: functions resolved by Qlik, not variables;
- `ref{project.current.spaceId}`: a reference to the importing project.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from typing import Any

# The data task type enum of today's reference (qlik.dev di-projects reference, stored doc 68598814407): the
# seed's 15 plus REPLICATE_LANDING, which the generated typings do not have yet.
TASK_TYPES: frozenset[str] = frozenset(
    {
        "LANDING",
        "STORAGE",
        "QVD_STORAGE",
        "TRANSFORM",
        "DATAMART",
        "REGISTERED_DATA",
        "REPLICATION",
        "DISTRIBUTION",
        "LAKE_LANDING",
        "KNOWLEDGE_MART",
        "FILE_BASED_KNOWLEDGE_MART",
        "LAKEHOUSE_STORAGE",
        "LAKEHOUSE_MIRROR",
        "STREAMING_LAKE_LANDING",
        "STREAMING_TRANSFORM",
        "REPLICATE_LANDING",
    }
)

# Pipeline position of each type: where a task sits when dataset links do not decide the order.
_TYPE_RANK: dict[str, int] = {
    "LANDING": 0,
    "LAKE_LANDING": 0,
    "STREAMING_LAKE_LANDING": 0,
    "REPLICATION": 0,
    "REPLICATE_LANDING": 0,
    "REGISTERED_DATA": 0,
    "STORAGE": 1,
    "QVD_STORAGE": 1,
    "LAKEHOUSE_STORAGE": 1,
    "LAKEHOUSE_MIRROR": 1,
    "TRANSFORM": 2,
    "STREAMING_TRANSFORM": 2,
    "DATAMART": 3,
}
_OTHER_RANK = 4

# Only plain names count as variables: `{{id(connection, X.Y)}}` and `{{ref(...)}}` are functions.
VARIABLE_PATTERN = re.compile(r"\{\{\s*([^{}()\s,]+)\s*\}\}")

# Landing-like tasks decide CDC by their change-fetch interval; see TaskDefinition.is_cdc.
_LANDING_CDC_TYPES = frozenset({"LANDING", "LAKE_LANDING"})
_ALWAYS_CDC_TYPES = frozenset({"REPLICATION", "STREAMING_LAKE_LANDING"})


def type_rank(task_type: str) -> int:
    """Position of a task type in a pipeline: landing-like 0, storage-like 1, transform 2, mart 3, other 4."""
    return _TYPE_RANK.get(task_type, _OTHER_RANK)


def variables_in(value: Any) -> set[str]:
    """Names used as `{{name}}` anywhere inside a parsed YAML/JSON value (keys and strings)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.update(VARIABLE_PATTERN.findall(item))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@dataclass
class DatasetDefinition:
    id: str  # "service_data-kyi1" (storage and later) or the source table name (landing)
    name: str
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (task_id, dataset_id) it reads from


@dataclass
class TaskDefinition:
    """One data task: its identity plus every file of its folder (path relative to the folder -> content).

    `id`, `name`, `type` and `description` are authoritative: the writer puts them into task.yaml's
    `properties`. Files hold parsed YAML/JSON, or bytes for files that are neither.
    """

    id: str
    name: str
    type: str
    description: str = ""
    files: dict[str, Any] = field(default_factory=dict)

    def _file(self, path: str) -> dict[str, Any]:
        content = self.files.get(path)
        return content if isinstance(content, dict) else {}

    def settings(self) -> dict[str, Any]:
        settings = self._file("task.yaml").get("settings")
        return settings if isinstance(settings, dict) else {}

    def _selection_entries(self, key: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for path in ("task.yaml", "sourceSelection.yaml"):
            listed = self._file(path).get(key)
            if isinstance(listed, list):
                entries.extend(entry for entry in listed if isinstance(entry, dict))
        return entries

    def datasets(self) -> list[DatasetDefinition]:
        """Datasets from `datasets/*.yaml` (sorted by file), else the explicitly selected source tables."""
        dataset_files = sorted(path for path in self.files if path.startswith("datasets/") and path.count("/") == 1)
        if dataset_files:
            return [_dataset_from_file(path, self._file(path)) for path in dataset_files]
        datasets = []
        for entry in self._selection_entries("explicitlySelected"):
            name = str(entry.get("name", ""))
            upstream = entry.get("sourceTask")
            inputs = [(str(upstream), str(entry.get("sourceTableId", name)))] if upstream else []
            datasets.append(DatasetDefinition(id=name, name=name, inputs=inputs))
        return datasets

    def upstream_task_ids(self) -> set[str]:
        """Task ids this task reads from: dataset inputs plus sourceTask of its source selection."""
        upstream = {task_id for dataset in self.datasets() for task_id, _ in dataset.inputs}
        for key in ("includePatterns", "explicitlySelected"):
            upstream.update(
                str(entry["sourceTask"]) for entry in self._selection_entries(key) if entry.get("sourceTask")
            )
        upstream.discard(self.id)
        return upstream

    def variables_used(self) -> set[str]:
        """Names used as `{{name}}` anywhere in the task's files (functions like `{{id(...)}}` excluded)."""
        return variables_in(list(self.files.values()))

    def is_cdc(self) -> bool:
        """True when the task captures source changes continuously (it keeps RUNNING once started).

        Rule (from the Qlik export): `settings.fullLoadOnly: true` always means full load only. Otherwise
        - LANDING, LAKE_LANDING: CDC when `settings.landingAppRuntime.sourceCdcFetchIntervalMinutes` is set
          (the fixture's MySQL landing has it; its Salesforce landing, a reload-only source, does not);
        - REPLICATION, STREAMING_LAKE_LANDING: CDC;
        - every other type (storage, transform, mart, ...) processes batches: not CDC.
        """
        settings = self.settings()
        if settings.get("fullLoadOnly") is True:
            return False
        if self.type in _ALWAYS_CDC_TYPES:
            return True
        if self.type in _LANDING_CDC_TYPES:
            runtime = settings.get("landingAppRuntime")
            return isinstance(runtime, dict) and runtime.get("sourceCdcFetchIntervalMinutes") is not None
        return False


def _dataset_from_file(path: str, content: dict[str, Any]) -> DatasetDefinition:
    properties = content.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    fallback_name = path.removeprefix("datasets/").rsplit(".", 1)[0]
    name = str(properties.get("name", fallback_name))
    inputs = []
    for entry in properties.get("inputDatasets") or []:
        if isinstance(entry, dict) and entry.get("taskId") is not None:
            inputs.append((str(entry["taskId"]), str(entry.get("datasetId", ""))))
    return DatasetDefinition(id=str(properties.get("id", name)), name=name, inputs=inputs)


@dataclass
class ProjectDefinition:
    """A whole project as its export zip describes it."""

    properties: dict[str, Any]  # qtcp_project.yaml "properties"
    settings: dict[str, Any]  # qtcp_project.yaml "settings"
    tasks: list[TaskDefinition]
    bindings_definition: dict[str, Any]  # qtcp_bindings_definition.json "variables": name -> default
    bindings: dict[str, Any] | None = None  # bindings.json "variables" when the zip carries them
    other_files: dict[str, Any] = field(default_factory=dict)  # zip path -> content, kept for round trip
    # "connectionProperties" of the bindings files: connection variable -> {type, kindId}.
    connection_properties: dict[str, Any] = field(default_factory=dict)

    def task(self, task_id: str) -> TaskDefinition | None:
        return next((task for task in self.tasks if task.id == task_id), None)

    def variables_used(self) -> set[str]:
        """Every `{{name}}` used by the project file, the tasks and the other files."""
        used = variables_in([self.properties, self.settings, list(self.other_files.values())])
        for task in self.tasks:
            used |= task.variables_used()
        return used


class ProjectZipError(ValueError):
    """A project zip (or a project about to be written) is not valid.

    `file` names the offending zip entry (or "<zip>" for the archive itself), `detail` says what is wrong.
    """

    def __init__(self, file: str, detail: str) -> None:
        super().__init__(f"{file}: {detail}")
        self.file = file
        self.detail = detail


def order_tasks(tasks: list[TaskDefinition]) -> list[TaskDefinition]:
    """Dependency order, upstream first; ties (and unlinked tasks) by type rank, then by input order.

    A dependency cycle cannot be ordered by links: its tasks follow by rank, so every task is returned once.
    """
    position = {task.id: index for index, task in enumerate(tasks)}
    upstream = {task.id: task.upstream_task_ids() & position.keys() for task in tasks}
    downstream: dict[str, set[str]] = {task.id: set() for task in tasks}
    for task_id, sources in upstream.items():
        for source in sources:
            downstream[source].add(task_id)
    waiting = {task_id: len(sources) for task_id, sources in upstream.items()}

    def key(task: TaskDefinition) -> tuple[int, int]:
        return (type_rank(task.type), position[task.id])

    ready = [(key(task), task.id) for task in tasks if waiting[task.id] == 0]
    heapq.heapify(ready)
    ordered: list[TaskDefinition] = []
    done: set[str] = set()
    by_id = {task.id: task for task in tasks}
    while len(done) < len(by_id):
        if not ready:
            # a cycle: release its best-ranked task so the rest can follow
            stuck = min((by_id[task_id] for task_id in by_id if task_id not in done), key=key)
            heapq.heappush(ready, (key(stuck), stuck.id))
            waiting[stuck.id] = 0
        _, task_id = heapq.heappop(ready)
        if task_id in done:
            continue
        done.add(task_id)
        ordered.append(by_id[task_id])
        for follower in sorted(downstream[task_id], key=lambda follower_id: key(by_id[follower_id])):
            waiting[follower] -= 1
            if waiting[follower] == 0:
                heapq.heappush(ready, (key(by_id[follower]), follower))
    return ordered
