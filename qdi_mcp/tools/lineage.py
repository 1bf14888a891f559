"""Which task feeds which: a project's lineage, derived from its design.

Qlik writes a task's inputs into its export: `sourceSelection.yaml` names upstream tasks with `sourceTask` in
`includePatterns` (a `tablePattern`, SQL LIKE) and `explicitlySelected` (a table `name`), and a transform's or
mart's `datasets/<name>.yaml` names them in `properties.inputDatasets` (`taskId`, `datasetId`, `name`); see the
real export in tests' fixture `qlik-export-customer-churn`. A landing task reads a source connection only.

Per task: its upstream and downstream task ids and its stage (0 = reads only sources; a task's stage is one more
than its highest upstream's). Tasks in a cycle (possible after a broken import) and tasks behind one have no
stage; `Lineage.cycle` names them. References to tasks that are not in the project are kept apart (`missing`).

On a tenant the design comes from a MINIMAL export (`project_lineage`), kept per API client and project for
LINEAGE_TTL_SECONDS; a write through this server forgets it (`forget`), so a change made here is seen at once and
one made elsewhere within the TTL. With shared state (`client.design_cache`, QDI_MCP_STATE_URL) the export is kept
in Redis instead, under the tenant's design generation: replicas export a project once between changes, and a
write through any replica moves the generation on, so every replica reads the new design at once.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.api import QlikClient
from qdi_mcp.tools.project_design import ProjectDesign, TaskDesign, read_project_zip

# Long enough for a preview and the call it confirms (or a status read and the run that follows) to share one
# export; short enough that a design changed outside this server is not trusted for long.
LINEAGE_TTL_SECONDS = 30.0
_SELECTION_KEYS = ("includePatterns", "explicitlySelected")


@dataclass(frozen=True)
class Read:
    """What a task reads from one upstream task: tables matching `pattern` (SQL LIKE), or the one `table` (a
    dataset name or id); neither means all of the upstream's tables."""

    upstream: str
    pattern: str | None = None
    table: str | None = None

    def covers(self, dataset_names: Iterable[str]) -> bool:
        names = [name.casefold() for name in dataset_names]
        if self.table is not None:
            return self.table.casefold() in names
        if self.pattern is not None:
            like = _like(self.pattern)
            return any(like.fullmatch(name) for name in names)
        return True


@dataclass(frozen=True)
class TaskLineage:
    id: str
    name: str
    type: str
    upstream: tuple[str, ...]  # task ids of the project this task reads from, sorted
    downstream: tuple[str, ...]  # task ids of the project that read this task, sorted
    stage: int | None  # 0 = reads only sources; None = in or behind a cycle
    reads: tuple[Read, ...] = ()


@dataclass(frozen=True)
class Lineage:
    tasks: dict[str, TaskLineage]  # by task id
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)  # task id -> referenced ids not in the project
    cycle: tuple[str, ...] = ()  # task ids without a stage (in or behind a cycle), sorted

    def name(self, task_id: str) -> str:
        task = self.tasks.get(task_id)
        return task.name if task else task_id

    def stages(self) -> list[list[str]]:
        """Task ids stage by stage (stage 0 first), each stage sorted by name; tasks without a stage left out."""
        staged = [task for task in self.tasks.values() if task.stage is not None]
        count = max((task.stage for task in staged if task.stage is not None), default=-1) + 1
        return [
            [task.id for task in sorted(staged, key=lambda t: t.name) if task.stage == stage] for stage in range(count)
        ]

    def downstream_of(self, task_id: str) -> list[str]:
        """Every task that reads `task_id`, directly or through others, ordered by stage then name."""
        found: set[str] = set()
        frontier = [task_id]
        while frontier:
            current = self.tasks.get(frontier.pop())
            for reader in current.downstream if current else ():
                if reader not in found and reader != task_id:
                    found.add(reader)
                    frontier.append(reader)
        return self._ordered(found)

    def readers_of(self, task_id: str, datasets: Iterable[str] | None = None) -> list[str]:
        """The tasks that read `task_id` directly; with `datasets` (names or ids of its datasets), only those
        whose selection covers one of them."""
        wanted = None if datasets is None else list(datasets)
        readers = set()
        for reader_id in self.tasks[task_id].downstream if task_id in self.tasks else ():
            reads = [read for read in self.tasks[reader_id].reads if read.upstream == task_id]
            if wanted is None or any(read.covers(wanted) for read in reads):
                readers.add(reader_id)
        return self._ordered(readers)

    def _ordered(self, task_ids: Iterable[str]) -> list[str]:
        def key(task_id: str) -> tuple[int, str]:
            task = self.tasks[task_id]
            return (task.stage if task.stage is not None else len(self.tasks), task.name)

        return sorted(task_ids, key=key)


def lineage_of(design: ProjectDesign) -> Lineage:
    reads = {task.id: tuple(_reads(task)) for task in design.tasks.values()}
    upstream = {
        task_id: sorted({read.upstream for read in task_reads if read.upstream in design.tasks} - {task_id})
        for task_id, task_reads in reads.items()
    }
    missing = {
        task_id: tuple(sorted({read.upstream for read in task_reads} - set(design.tasks)))
        for task_id, task_reads in reads.items()
    }
    downstream: dict[str, list[str]] = {task_id: [] for task_id in design.tasks}
    for task_id, sources in upstream.items():
        for source in sources:
            downstream[source].append(task_id)
    stages = _stages(upstream)
    tasks = {
        task.id: TaskLineage(
            id=task.id,
            name=task.name,
            type=task.type,
            upstream=tuple(upstream[task.id]),
            downstream=tuple(sorted(downstream[task.id])),
            stage=stages.get(task.id),
            reads=reads[task.id],
        )
        for task in design.tasks.values()
    }
    return Lineage(
        tasks=tasks,
        missing={task_id: ids for task_id, ids in missing.items() if ids},
        cycle=tuple(sorted(set(design.tasks) - set(stages))),
    )


def _stages(upstream: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from a source, level by level (Kahn): a task in a cycle never has all its inputs staged."""
    stages: dict[str, int] = {}
    remaining = dict(upstream)
    while True:
        ready = [task_id for task_id, sources in remaining.items() if all(source in stages for source in sources)]
        if not ready:
            return stages
        for task_id in ready:
            stages[task_id] = 1 + max((stages[source] for source in remaining[task_id]), default=-1)
            del remaining[task_id]


def _reads(task: TaskDesign) -> list[Read]:
    reads: list[Read] = []
    for key in _SELECTION_KEYS:
        entries = task.source_selection.get(key)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and entry.get("sourceTask"):
                reads.extend(_selection_reads(key, entry))
    for dataset in task.datasets.values():
        properties = dataset.settings.get("properties")
        inputs = properties.get("inputDatasets") if isinstance(properties, dict) else None
        for entry in inputs if isinstance(inputs, list) else ():
            if isinstance(entry, dict) and entry.get("taskId"):
                upstream = str(entry["taskId"])
                named = sorted({str(entry[part]) for part in ("name", "datasetId") if entry.get(part)})
                reads.extend([Read(upstream=upstream, table=table) for table in named] or [Read(upstream=upstream)])
    return reads


def _selection_reads(key: str, entry: dict[str, Any]) -> list[Read]:
    upstream = str(entry["sourceTask"])
    if key == "includePatterns":
        pattern = entry.get("tablePattern")
        return [Read(upstream=upstream, pattern=str(pattern) if pattern is not None else None)]
    # A selected table is named by its name and, from a task upstream, by that task's id of it (sourceTableId).
    named = sorted({str(entry[part]) for part in ("name", "sourceTableId") if entry.get(part)})
    return [Read(upstream=upstream, table=table) for table in named] or [Read(upstream=upstream)]


def _like(pattern: str) -> re.Pattern[str]:
    """A SQL LIKE pattern (`%` any run, `_` one character) as a case-insensitive regular expression."""
    parts = [".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


# ---------------------------------------------------------------------------------------------- on a tenant

# Per client and project: (generation it was read at, monotonic time, lineage). The generation is 0 without
# shared state; with it, a kept lineage is used only while the tenant's generation has not moved on. While Redis
# cannot answer, lineages are kept under LOCAL_ONLY, as without shared state (for the TTL, forgotten on our writes):
# one that Redis answers again never matches it.
LOCAL_ONLY = -1
_CACHE: weakref.WeakKeyDictionary[QlikClient, dict[str, tuple[int, float, Lineage]]] = weakref.WeakKeyDictionary()


async def project_lineage(client: QlikClient, project_id: str) -> Lineage:
    """The project's lineage from a MINIMAL export (the design only: no bindings, no defaults), cached briefly."""
    kept = _CACHE.setdefault(client, {})
    shared = client.design_cache
    answered = await shared.generation() if shared is not None else 0
    generation = LOCAL_ONLY if answered is None else answered
    now = client.clock.monotonic()
    cached = kept.get(project_id)
    if cached is not None and cached[0] == generation and now - cached[1] < LINEAGE_TTL_SECONDS:
        return cached[2]
    use_shared = shared is not None and generation != LOCAL_ONLY
    export = await shared.get(project_id, generation) if shared is not None and use_shared else None
    if export is None:
        export = await client.export_project(project_id, mode="MINIMAL")
        if shared is not None and use_shared:
            await shared.put(project_id, generation, export, LINEAGE_TTL_SECONDS)
    lineage = lineage_of(read_project_zip(export))
    kept[project_id] = (generation, now, lineage)
    return lineage


async def forget(client: QlikClient) -> None:
    """Drop what is kept for this client (and, with shared state, for every replica): after a write through this
    server, the next read exports again."""
    _CACHE.pop(client, None)
    if client.design_cache is not None:
        await client.design_cache.invalidate()
