"""The emulated tenant's state: spaces, connections, projects, tasks, their datasets and runs, actions.

Plain dataclasses; the behaviour lives in `actions.py`, `runtime.py` and `bindings.py`. The `Tenant` also owns
the clock and the event queue, so everything that changes state over time goes through one object.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qdi_mcp.clock import Clock

from .errors import not_found
from .project_files import DatasetDefinition, TaskDefinition
from .scheduler import Effect, EventQueue

if TYPE_CHECKING:
    from .actions import Action

# REPLICATE_LANDING: Qlik documents only its name; a landing task, so it moves data from a source like LANDING.
DATA_MOVEMENT_TYPES = frozenset(
    {"LANDING", "LAKE_LANDING", "REPLICATION", "STREAMING_LAKE_LANDING", "REPLICATE_LANDING"}
)


def stable_number(text: str, modulo: int) -> int:
    """A number derived from `text` that is the same in every run (Python's hash() is salted)."""
    return zlib.crc32(text.encode()) % modulo


def dataset_signature(definition: TaskDefinition) -> str:
    """What a task's tables are: dataset ids, names, inputs and their definition files. A prepared task
    whose signature changes (through an import) must recreate its tables."""
    datasets = [(d.id, d.name, sorted(d.inputs)) for d in definition.datasets()]
    files = {path: content for path, content in definition.files.items() if path.startswith("datasets/")}
    return json.dumps([datasets, files], sort_keys=True, default=str)


@dataclass
class Space:
    id: str
    name: str
    # "Spaces of type `data` should only be used for Qlik Talend Data Integration projects" (qlik.dev spaces
    # reference, stored doc 68603611382): a tenant's DI projects most plausibly live in data spaces.
    type: str = "data"


@dataclass
class Connection:
    id: str
    name: str
    space_name: str
    type: str = ""  # qType: the connector, e.g. "repsrc_mysql"
    # What GET /data-connections returns beside the name (Qlik's ConnectionGet requires qConnectStatement), so
    # clients must be able to drop it. `secret` is a qConnectionSecret, which Qlik's own example list shows.
    connect_statement: str = ""
    secret: str | None = None


@dataclass
class FullLoad:
    """One full load of one dataset, within run `run_number`."""

    run_number: int
    state: str = "QUEUED"  # QUEUED | LOADING | COMPLETED | ERROR
    start: float | None = None
    end: float | None = None
    planned_seconds: float = 0.0
    rows: int = 0  # rows the load brings (reached when COMPLETED)
    message: str | None = None


@dataclass
class DatasetRuntime:
    dataset_id: str
    name: str
    source_name: str | None
    readiness: str = "NOT_READY"  # READY | NOT_READY | ERROR
    needs_full_load: bool = True
    load: FullLoad | None = None
    reload_strategy: str | None = None  # registered by request-reload; the next run applies it
    cdc_base: int = 0  # changes applied by earlier runs (TRUNCATE and recreate reset it)
    error_message: str | None = None
    # Set by `Emulator.set_dataset_broken`: every full load of this dataset that finishes while it is set ends
    # in ERROR with this message. A property of the source, so recreating the task's tables keeps it.
    load_failure: str | None = None

    @property
    def change_rate(self) -> int:
        """Changes per second this dataset receives while CDC runs (fixed per dataset)."""
        return 3 + stable_number(self.dataset_id, 17)

    @property
    def source_rows(self) -> int:
        return 1_000 + stable_number(self.dataset_id, 240_000)


@dataclass
class TaskRun:
    number: int
    state: str  # STARTING | RUNNING | COMPLETED | FAILED | CANCELED | STOPPING; MISFIRED only in history
    start: float
    trace_id: str
    run_id: str = ""  # set by `run_history.record`, which keeps every run of a task in its history
    end: float | None = None
    message: str | None = None
    option: str | None = None
    process_changes_from: str | None = None
    loading: list[str] = field(default_factory=list)  # dataset ids full-loading in this run (in order)
    queue: list[str] = field(default_factory=list)  # of those, not started yet
    cdc_since: float | None = None  # CDC tasks: when the full load finished and changes began to flow
    cdc_until: float | None = None
    # CDC runs: the latency when the run stopped. Its changes are applied up to the stop minus that latency (what
    # `dataTaskUpdatedTo` says), and the run reports it as its last measured latency.
    stopped_latency: int | None = None
    batch_rows: int = 0  # rows of the incremental batch a run without full load applies
    # What `GET .../runs/{runId}/state` and `.../state/datasets` answer once the run has ended, frozen at its end
    # (later runs, reloads and recreates change the task's datasets, not what this run did).
    final_state: dict[str, Any] | None = None
    final_datasets: list[dict[str, Any]] | None = None

    @property
    def active(self) -> bool:
        return self.state in ("STARTING", "RUNNING", "STOPPING")


@dataclass
class TaskState:
    definition: TaskDefinition
    project_id: str
    prepared: bool = False
    prepare_error: str | None = None  # why the last prepare failed
    stale_reason: str | None = None  # why a once-prepared task needs preparing again (an import changed it)
    prepared_signature: str | None = None  # datasets as of the last successful prepare
    recreate_required: bool = False
    busy_action_id: str | None = None  # a prepare/recreate action working on this task
    datasets: dict[str, DatasetRuntime] = field(default_factory=dict)
    run: TaskRun | None = None
    runs_started: int = 0
    history: list[TaskRun] = field(default_factory=list)  # every run, oldest first (`run_history.py`)

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.active

    def sync_datasets(self) -> None:
        """Align runtime datasets with the definition: keep known ones, add new ones, drop removed ones."""
        current: dict[str, DatasetRuntime] = {}
        for dataset in self.definition.datasets():
            existing = self.datasets.get(dataset.id)
            current[dataset.id] = existing or new_dataset_runtime(self.definition, dataset)
        self.datasets = current


def new_dataset_runtime(task: TaskDefinition, dataset: DatasetDefinition) -> DatasetRuntime:
    source_name = dataset.name if task.type in DATA_MOVEMENT_TYPES else None
    return DatasetRuntime(dataset_id=dataset.id, name=dataset.name, source_name=source_name)


@dataclass
class ProjectState:
    id: str
    name: str
    space_id: str
    owner_id: str
    description: str
    type: str
    platform_type: str
    properties: dict[str, Any]
    settings: dict[str, Any]
    bindings_definition: dict[str, Any]
    bindings: dict[str, Any]
    other_files: dict[str, Any] = field(default_factory=dict)
    connection_properties: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, TaskState] = field(default_factory=dict)
    active_prepare_action_id: str | None = None
    active_import_action_id: str | None = None


class IdFactory:
    """Qlik-shaped ids from a seeded generator: the same sequence for the same seed and emulator history.

    Without a seed the operating system's randomness seeds it (not the clock, which may tick coarsely enough for two
    emulators to share a start time): a demo's action and trace ids then differ from one run to the next (two runs'
    audit lines or support tickets never name the same trace id). Tests that need a known sequence pass a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def hex(self, length: int) -> str:
        return "".join(self._random.choice("0123456789abcdef") for _ in range(length))

    def object_id(self) -> str:
        return self.hex(24)  # projects, spaces, connections: 24 hex digits like Qlik's

    def action_id(self) -> str:
        return self.hex(24)

    def trace_id(self) -> str:
        return self.hex(32)


class Tenant:
    """Everything the emulated tenant knows, plus its clock and its queue of future events."""

    def __init__(self, clock: Clock, *, owner_id: str, seed: int | None = None) -> None:
        self.clock = clock
        self.owner_id = owner_id
        self.events = EventQueue()
        self.ids = IdFactory(seed)
        self.spaces: dict[str, Space] = {}
        self.connections: dict[str, Connection] = {}
        self.projects: dict[str, ProjectState] = {}
        self.actions: dict[str, Action] = {}

    # --- time -------------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def sync(self) -> None:
        """Apply every event due by now. Called before any read or change of state."""
        self.events.run_until(self.clock.now())

    def schedule(self, at: float, effect: Effect) -> None:
        self.events.schedule(at, effect)

    # --- lookups ----------------------------------------------------------------------------------------
    def space_named(self, name: str) -> Space | None:
        return next((space for space in self.spaces.values() if space.name == name), None)

    def connection_named(self, space_name: str, name: str) -> Connection | None:
        return next((c for c in self.connections.values() if c.space_name == space_name and c.name == name), None)

    def project(self, project_id: str) -> ProjectState:
        project = self.projects.get(project_id)
        if project is None:
            raise not_found(f"Project '{project_id}' was not found.", parameter="projectId")
        return project

    def task(self, project_id: str, task_id: str) -> tuple[ProjectState, TaskState]:
        project = self.project(project_id)
        task = project.tasks.get(task_id)
        if task is None:
            raise not_found(f"Data task '{task_id}' was not found in project '{project_id}'.", parameter="dataTaskId")
        return project, task

    def space_name(self, space_id: str) -> str:
        space = self.spaces.get(space_id)
        return space.name if space else space_id
