"""What an import or a promotion would change: one project design (and its bindings) against another.

`diff_designs(current, incoming)` compares two `ProjectDesign`s (read by `project_design.read_project_zip`
from an export of the target and from the file or source project) and `binding_impact` says what an import
does to the target's binding variables. Pure functions: the tools export, read and report.

Tasks are matched by id first, then by name. Ids survive export and import (a promoted task keeps its id in
every project), so an id match is the same task even after a rename; a task deleted and re-created keeps its
name but gets a new id, so the leftovers are matched by name (the id change is then reported). Whatever stays
unmatched was added or removed.

Compact by default (names and counts: a few KB for a real project); `detail=True` adds per-field changes
(path, old, new), capped. Every value shown passes through `mask`, so a secret the caller knows never appears.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.tools.project_design import DatasetDesign, ProjectDesign, TaskDesign, read_project_zip

__all__ = [
    "BindingImpact",
    "BindingsDiff",
    "FieldChange",
    "ProjectDesign",
    "ProjectDiff",
    "TaskChange",
    "binding_impact",
    "diff_designs",
    "read_project_zip",
]

# Caps that keep a result readable by an agent whatever the size of the change.
MAX_NAMES = 10  # names listed per list; the count is always exact (an agent pays for every name, on every call)
MAX_DETAILS_PER_ITEM = 20  # field changes listed per task, per project, for the bindings
MAX_VALUE_CHARS = 80  # longer values are cut; mappings and lists too long to show are described

_ABSENT: Any = object()
Mask = Callable[[str], str]


def _identity(value: str) -> str:
    return value


@dataclass(frozen=True)
class FieldChange:
    path: str  # "settings.ddlHandlingPolicy.addColumn", "scheduling[0].schedulingType", a variable name
    old: Any = _ABSENT  # _ABSENT: the field is new
    new: Any = _ABSENT  # _ABSENT: the field is gone

    def to_dict(self, mask: Mask) -> dict[str, Any]:
        shown: dict[str, Any] = {"path": self.path}
        for key, value in (("old", self.old), ("new", self.new)):
            if value is not _ABSENT:
                shown[key] = _shown(value, mask)
        return shown


@dataclass
class TaskChange:
    id: str
    name: str
    changed: list[str]  # aspects: name, id, type, settings, source_selection, datasets, files
    previous_name: str | None = None  # when the incoming design renames it
    previous_id: str | None = None  # when matched by name across different ids
    datasets_added: list[str] = field(default_factory=list)
    datasets_removed: list[str] = field(default_factory=list)
    datasets_changed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)  # other task files (schedule, rules, ...) by path
    details: list[FieldChange] = field(default_factory=list)


@dataclass
class BindingsDiff:
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)  # had a value, has none (null or "")
    changed: list[str] = field(default_factory=list)  # a different value (or a value where there was none)
    details: list[FieldChange] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in ("added", "dropped", "emptied", "changed")}


@dataclass
class ProjectDiff:
    tasks_added: list[TaskDesign]
    tasks_removed: list[TaskDesign]
    tasks_changed: list[TaskChange]
    project_changed: list[str]  # "settings" (qtcp_project.yaml), "files" (e.g. newTaskDefaults.yaml)
    project_details: list[FieldChange]
    bindings: BindingsDiff | None  # None: the values of one side are unknown
    detail: bool = False
    mask: Mask = _identity

    @property
    def equal(self) -> bool:
        bindings_equal = self.bindings is None or not any(self.bindings.counts().values())
        return not (self.tasks_added or self.tasks_removed or self.tasks_changed or self.project_changed) and (
            bindings_equal
        )

    @property
    def summary(self) -> str:
        """One line: "+4 tasks, 2 changed, bindings: 11 dropped, 10 emptied", or "no differences"."""
        design = [
            _count(len(self.tasks_added), "+{} task"),
            _count(len(self.tasks_removed), "-{} task"),
            f"{len(self.tasks_changed)} changed" if self.tasks_changed else "",
            "project settings changed" if self.project_changed else "",
        ]
        parts = [part for part in design if part]
        if self.bindings is None:
            parts.append("bindings not compared")
        else:
            counts = [f"{number} {kind}" for kind, number in self.bindings.counts().items() if number]
            if counts:
                parts.append("bindings: " + ", ".join(counts))
        if self.equal:
            return "no differences" + ("" if self.bindings is not None else " in the design; bindings not compared")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and small: names and counts, plus per-field changes when built with detail=True."""
        data: dict[str, Any] = {
            "summary": self.summary,
            "equal": self.equal,
            "tasks": {
                "added": [_task_ref(task) for task in self.tasks_added[:MAX_NAMES]],
                "removed": [_task_ref(task) for task in self.tasks_removed[:MAX_NAMES]],
                "changed": [self._task_change(change) for change in self.tasks_changed[:MAX_NAMES]],
                "counts": self.task_counts(),
            },
            "project": {"changed": self.project_changed},
            "bindings": None,
        }
        if self.detail:
            data["project"]["details"] = self._details(self.project_details)
        if self.bindings is not None:
            bindings: dict[str, Any] = {
                kind: _capped(getattr(self.bindings, kind)) for kind in ("added", "dropped", "emptied", "changed")
            }
            bindings["counts"] = self.bindings.counts()
            if self.detail:
                bindings["details"] = self._details(self.bindings.details)
            data["bindings"] = bindings
        return data

    def task_counts(self) -> dict[str, int]:
        return {"added": len(self.tasks_added), "removed": len(self.tasks_removed), "changed": len(self.tasks_changed)}

    def brief(self) -> dict[str, Any]:
        """The summary and the counts only: what a result says after the preview (or qdi_diff_project) named it all."""
        return {
            "summary": self.summary,
            "equal": self.equal,
            "counts": {
                "tasks": self.task_counts(),
                "bindings": None if self.bindings is None else self.bindings.counts(),
            },
        }

    def _task_change(self, change: TaskChange) -> dict[str, Any]:
        shown: dict[str, Any] = {"name": change.name, "id": change.id, "changed": change.changed}
        if change.previous_name is not None:
            shown["previous_name"] = change.previous_name
        if change.previous_id is not None:
            shown["previous_id"] = change.previous_id
        datasets = {
            kind: _capped(names)
            for kind, names in (
                ("added", change.datasets_added),
                ("removed", change.datasets_removed),
                ("changed", change.datasets_changed),
            )
            if names
        }
        if datasets:
            shown["datasets"] = datasets
        if change.files_changed:
            shown["files"] = _capped(change.files_changed)
        if self.detail:
            shown["details"] = self._details(change.details)
        return shown

    def _details(self, changes: list[FieldChange]) -> list[dict[str, Any]]:
        shown = [change.to_dict(self.mask) for change in changes[:MAX_DETAILS_PER_ITEM]]
        if len(changes) > MAX_DETAILS_PER_ITEM:
            shown.append({"path": "...", "more": len(changes) - MAX_DETAILS_PER_ITEM})
        return shown


def diff_designs(
    current: ProjectDesign,
    incoming: ProjectDesign,
    *,
    current_bindings: Mapping[str, Any] | None = None,
    incoming_bindings: Mapping[str, Any] | None = None,
    detail: bool = False,
    mask: Mask = _identity,
) -> ProjectDiff:
    """What replacing `current` by `incoming` changes. Bindings default to the values each design carries
    (its bindings.json); they are compared only when both sides are known."""
    pairs, removed, added = _match_tasks(current, incoming)
    changes = [change for old, new in pairs if (change := _task_change(old, new))]
    project_details = _field_changes(current.settings, incoming.settings, "")
    project_changed = ["settings"] if project_details else []
    # LEGACY carries no project-level files besides project.json: compare them only between YAML exports.
    if current.format == incoming.format == "YAML" and current.files != incoming.files:
        project_changed.append("files")
        project_details += _files_changes(current.files, incoming.files)
    old_values = current_bindings if current_bindings is not None else current.bindings
    new_values = incoming_bindings if incoming_bindings is not None else incoming.bindings
    bindings = None if old_values is None or new_values is None else _bindings_diff(old_values, new_values)
    return ProjectDiff(
        tasks_added=sorted(added, key=lambda task: task.name),
        tasks_removed=sorted(removed, key=lambda task: task.name),
        tasks_changed=sorted(changes, key=lambda change: change.name),
        project_changed=project_changed,
        project_details=project_details,
        bindings=bindings,
        detail=detail,
        mask=mask,
    )


@dataclass
class BindingImpact:
    """An import's effect on the target's binding variables (its values are never shown, only names)."""

    dropped: list[str]  # the target has them; the incoming design does not use them: their values are lost
    need_value: list[str]  # the incoming design uses them; the target has no such variable yet
    kept: list[str]  # in both: the target's value can be kept

    @property
    def summary(self) -> str:
        return f"bindings: {len(self.dropped)} dropped, {len(self.need_value)} need a value, {len(self.kept)} kept"

    def to_dict(self, *, listed_elsewhere: Iterable[str] = (), listed_as: str = "") -> dict[str, Any]:
        """`listed_elsewhere`: names the same result already lists under `listed_as` (a diff's added bindings):
        each is said once, there."""
        said = set(listed_elsewhere)
        need_value = [name for name in self.need_value if name not in said]
        summary = self.summary
        if len(need_value) < len(self.need_value):
            summary += f" (those needing a value: {listed_as}" + (" and need_value)" if need_value else ")")
        return {
            "summary": summary,
            "dropped": _capped(self.dropped),
            "need_value": _capped(need_value),
            "kept_count": len(self.kept),
        }


def binding_impact(
    target_bindings_now: Mapping[str, Any], variables_in_incoming_design: Iterable[str]
) -> BindingImpact:
    """Which of the target's variables an import would drop, which new ones need a value, which it keeps.

    `variables_in_incoming_design` is what the incoming design declares and uses (`ProjectDesign.variables()`).
    """
    incoming = set(variables_in_incoming_design)
    current = set(target_bindings_now)
    return BindingImpact(
        dropped=sorted(current - incoming), need_value=sorted(incoming - current), kept=sorted(current & incoming)
    )


# ---------------------------------------------------------------------------------------------- comparison


def _match_tasks(
    current: ProjectDesign, incoming: ProjectDesign
) -> tuple[list[tuple[TaskDesign, TaskDesign]], list[TaskDesign], list[TaskDesign]]:
    """(matched pairs, removed, added): by id first, then the leftovers by name (see the module docstring)."""
    old_left, new_left = dict(current.tasks), dict(incoming.tasks)
    pairs = [(old_left.pop(task_id), new_left.pop(task_id)) for task_id in sorted(old_left.keys() & new_left.keys())]
    new_by_name = {task.name: task for task in new_left.values()}
    for task in sorted(old_left.values(), key=lambda task: task.name):
        match = new_by_name.pop(task.name, None)
        if match is not None:
            pairs.append((old_left.pop(task.id), new_left.pop(match.id)))
    return pairs, list(old_left.values()), list(new_left.values())


def _task_change(old: TaskDesign, new: TaskDesign) -> TaskChange | None:
    change = TaskChange(id=new.id, name=new.name, changed=[])
    if old.name != new.name:
        change.changed.append("name")
        change.previous_name = old.name
    if old.id != new.id:
        change.changed.append("id")
        change.previous_id = old.id
    # settings are task.yaml's own keys ("settings.fullLoadOnly", "properties.description"): no prefix needed
    for aspect, prefix in (("type", "type"), ("settings", ""), ("source_selection", "source_selection")):
        details = _field_changes(getattr(old, aspect), getattr(new, aspect), prefix)
        if details:
            change.changed.append(aspect)
            change.details += details
    _compare_datasets(old.datasets, new.datasets, change)
    files = _files_changes(old.files, new.files)
    if files:
        change.changed.append("files")
        change.files_changed = sorted(old.files.keys() ^ new.files.keys()) + sorted(
            path for path in old.files.keys() & new.files.keys() if old.files[path] != new.files[path]
        )
        change.details += files
    return change if change.changed else None


def _compare_datasets(old: dict[str, DatasetDesign], new: dict[str, DatasetDesign], change: TaskChange) -> None:
    change.datasets_added = sorted(new.keys() - old.keys())
    change.datasets_removed = sorted(old.keys() - new.keys())
    for name in sorted(old.keys() & new.keys()):
        details = _field_changes(old[name].settings, new[name].settings, f"datasets.{name}")
        if details:
            change.datasets_changed.append(name)
            change.details += details
    for name in change.datasets_added:
        change.details.append(FieldChange(f"datasets.{name}", new=new[name].settings))
    for name in change.datasets_removed:
        change.details.append(FieldChange(f"datasets.{name}", old=old[name].settings))
    if change.datasets_added or change.datasets_removed or change.datasets_changed:
        change.changed.append("datasets")


def _field_changes(old: Any, new: Any, path: str) -> list[FieldChange]:
    """Leaf-level differences: mappings by key, lists of equal length by position, anything else whole."""
    if old == new and type(old) is type(new):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys(), key=str):
            child = f"{path}{key}" if not path or path.endswith(":") else f"{path}.{key}"
            changes += _field_changes(old.get(key, _ABSENT), new.get(key, _ABSENT), child)
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = enumerate(zip(old, new, strict=True))
        return [change for index, (a, b) in pairs for change in _field_changes(a, b, f"{path}[{index}]")]
    return [FieldChange(path.removesuffix(":"), old, new)]


def _files_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """Per file, paths read "schedule.yaml:scheduling[0].schedulingType" (file names hold dots themselves)."""
    changes: list[FieldChange] = []
    for path in sorted(old.keys() | new.keys()):
        changes += _field_changes(old.get(path, _ABSENT), new.get(path, _ABSENT), f"{path}:")
    return changes


def _is_empty(value: Any) -> bool:
    # Qlik writes an unset variable as null in bindings.json and as "" in the definition: both mean no value.
    return value is None or value == ""


def _bindings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> BindingsDiff:
    diff = BindingsDiff(added=sorted(new.keys() - old.keys()), dropped=sorted(old.keys() - new.keys()))
    for name in diff.added:
        diff.details.append(FieldChange(name, new=new[name]))
    for name in diff.dropped:
        diff.details.append(FieldChange(name, old=old[name]))
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name], new[name]
        if _is_empty(before) and _is_empty(after) or before == after:
            continue
        (diff.emptied if _is_empty(after) else diff.changed).append(name)
        diff.details.append(FieldChange(name, before, after))
    return diff


# ---------------------------------------------------------------------------------------------- showing


def _shown(value: Any, mask: Mask) -> Any:
    """A value small enough to show, every string passed through `mask` (secrets never leave unmasked)."""
    if isinstance(value, str):
        masked = mask(value)
        return masked if len(masked) <= MAX_VALUE_CHARS else masked[: MAX_VALUE_CHARS - 1] + "…"
    if isinstance(value, dict | list):
        masked = _masked_strings(value, mask)
        if len(json.dumps(masked, ensure_ascii=False)) <= MAX_VALUE_CHARS:
            return masked
        return f"<mapping of {len(value)} keys>" if isinstance(value, dict) else f"<list of {len(value)} items>"
    return value


def _masked_strings(value: Any, mask: Mask) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(str(key)): _masked_strings(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked_strings(item, mask) for item in value]
    return value


def _capped(names: list[str]) -> list[str]:
    if len(names) <= MAX_NAMES:
        return list(names)
    return [*names[:MAX_NAMES], f"... {len(names) - MAX_NAMES} more"]


def _count(number: int, template: str) -> str:
    if not number:
        return ""
    return template.format(number) + ("s" if number != 1 else "")


def _task_ref(task: TaskDesign) -> dict[str, str]:
    return {"name": task.name, "id": task.id, "type": task.type}
