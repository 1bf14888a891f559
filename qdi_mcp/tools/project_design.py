"""A project's design read from an export zip: the comparable half of `qdi_diff_project` (see project_diff).

Both formats Qlik exports are read into one `ProjectDesign`:
    YAML (modes MINIMAL, ALL)   qtcp_project.yaml, qtcp_bindings_definition.json, [bindings.json],
                                qtcp_tasks/<task name>/task.yaml, sourceSelection.yaml, datasets/<name>.yaml, ...
    LEGACY JSON (deprecated)    project.json {"properties", "settings", "tasks": [ids]},
                                tasks/<id>.json {"id", "name", "type", "description", "files": {path: content}},
                                [bindings.json]
so a YAML zip and a LEGACY zip of the same design compare equal. Only the zip's bytes are read (nothing is
extracted to disk), each entry up to a cap, whatever its header claims. The caller has already run the guard's
zip safety check; the caps here keep this module safe on its own.

Error hierarchy:
    ValueError
     └── ProjectFileError     .file (zip entry or "<zip>"), .detail
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import yaml

PROJECT_FILE = "qtcp_project.yaml"
BINDINGS_DEFINITION_FILE = "qtcp_bindings_definition.json"
BINDINGS_FILE = "bindings.json"
TASKS_FOLDER = "qtcp_tasks/"
TASK_FILE = "task.yaml"
SOURCE_SELECTION_FILE = "sourceSelection.yaml"
DATASETS_FOLDER = "datasets/"
LEGACY_PROJECT_FILE = "project.json"
LEGACY_TASKS_FOLDER = "tasks/"
ZIP_NAME = "<zip>"

# The real 9-task export is 63 entries, 0.4 MB, its largest entry 80 KB: these leave a wide margin and still
# refuse a hostile zip before it costs memory.
MAX_ENTRIES = 20_000
MAX_ENTRY_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024

# The identity of a task lives in `TaskDesign` fields, not in its settings (so a rename is not a settings change).
_TASK_IDENTITY = ("name", "id", "type")
# `{{name}}` is a binding variable; `{{id(connection, X.Y)}}` and `{{ref(...)}}` are functions, not variables.
_VARIABLE = re.compile(r"\{\{\s*([^{}()\s,]+)\s*\}\}")


class ProjectFileError(ValueError):
    """The zip is not a project export this module can read; `file` names the entry, `detail` what is wrong."""

    def __init__(self, file: str, detail: str) -> None:
        super().__init__(f"{file}: {detail}")
        self.file = file
        self.detail = detail


@dataclass(frozen=True)
class DatasetDesign:
    name: str
    settings: dict[str, Any]  # the dataset file without its name (its id stays: a new id is a new table)


@dataclass(frozen=True)
class TaskDesign:
    id: str
    name: str
    type: str
    settings: dict[str, Any]  # task.yaml without the identity properties (name, id, type)
    source_selection: dict[str, Any]  # sourceSelection.yaml ({} when absent)
    datasets: dict[str, DatasetDesign]  # by dataset name
    files: dict[str, Any]  # every other file of the task folder (schedule, rules, model, flows), by path


@dataclass(frozen=True)
class ProjectDesign:
    settings: dict[str, Any]  # qtcp_project.yaml (properties and settings)
    tasks: dict[str, TaskDesign]  # by task id (unique within one export)
    files: dict[str, Any] = field(default_factory=dict)  # other project files (qtcp_tasks/newTaskDefaults.yaml)
    declared_variables: dict[str, Any] = field(default_factory=dict)  # the bindings definition: name -> default
    bindings: dict[str, Any] | None = None  # bindings.json values, when the zip carries them
    format: str = "YAML"  # or "LEGACY"

    def variables(self) -> set[str]:
        """The binding variables this design needs: the declared ones plus any `{{name}}` its files use."""
        used = _variables_in([self.settings, self.files, [_task_content(task) for task in self.tasks.values()]])
        return used | set(self.declared_variables)


def read_project_zip(data: bytes) -> ProjectDesign:
    """Parse a YAML or LEGACY export zip; raises ProjectFileError naming the offending entry."""
    entries = _read_entries(data)
    if PROJECT_FILE in entries:
        return _read_yaml_export(entries)
    if LEGACY_PROJECT_FILE in entries:
        return _read_legacy_export(entries)
    nested = sorted(name for name in entries if name.rsplit("/", 1)[-1] in (PROJECT_FILE, LEGACY_PROJECT_FILE))
    hint = f"; found {nested[0]}: zip the folder's contents, not the folder" if nested else ""
    raise ProjectFileError(
        ZIP_NAME, f"not a Qlik project export: no {PROJECT_FILE} (or legacy {LEGACY_PROJECT_FILE}) at its root{hint}"
    )


# ---------------------------------------------------------------------------------------------- the zip


def _read_entries(data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise ProjectFileError(ZIP_NAME, f"not a valid zip file ({error})") from error
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > MAX_ENTRIES:
            raise ProjectFileError(ZIP_NAME, f"too many entries ({len(infos)} > {MAX_ENTRIES})")
        entries: dict[str, bytes] = {}
        total = 0
        for info in infos:
            name = info.filename
            if name.startswith("/") or "\\" in name or ".." in name.split("/"):
                raise ProjectFileError(name, "entry path escapes the project root")
            if name in entries:
                raise ProjectFileError(name, "appears twice in the zip")
            entries[name] = _read_capped(archive, info)
            total += len(entries[name])
            if total > MAX_TOTAL_BYTES:
                raise ProjectFileError(ZIP_NAME, f"content exceeds {MAX_TOTAL_BYTES} bytes uncompressed")
    return entries


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read one byte past the cap instead of trusting the header's size: a header can lie.
    try:
        with archive.open(info) as entry:
            raw = entry.read(MAX_ENTRY_BYTES + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError, ValueError) as error:
        raise ProjectFileError(info.filename, f"cannot be read ({error})") from error
    if len(raw) > MAX_ENTRY_BYTES:
        raise ProjectFileError(info.filename, f"entry is larger than {MAX_ENTRY_BYTES} bytes uncompressed")
    return raw


# ---------------------------------------------------------------------------------------------- decoding


# libyaml's parser is several times faster and still calls the Python resolvers set below.
_SafeLoaderBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_SafeLoaderBase):  # type: ignore[misc,valid-type]
    """YAML 1.2 core-schema scalars, as Qlik writes them: `OFF` and `2024-09-18T15:19:15Z` stay strings.

    PyYAML speaks YAML 1.1, where both would change type (and a datetime is not JSON); only true/false are
    booleans here, only null/~/empty are null.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
):
    _Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def _decode(name: str, raw: bytes) -> Any:
    """YAML and JSON entries parsed; any other entry stands for its content by digest (comparable, JSON-ready)."""
    if not name.endswith((".yaml", ".yml", ".json")):
        return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProjectFileError(name, f"not UTF-8 text (byte {error.start})") from error
    try:
        value = json.loads(text) if name.endswith(".json") else yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506
    except json.JSONDecodeError as error:
        raise ProjectFileError(name, f"invalid JSON at line {error.lineno}: {error.msg}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ProjectFileError(name, f"invalid YAML{where}: {getattr(error, 'problem', None) or error}") from error
    _refuse_shared_nodes(name, value)
    return value


def _refuse_shared_nodes(name: str, value: Any) -> None:
    # A YAML alias makes one container appear many times ("billion laughs"): cheap to load, exponential to walk
    # and compare. Qlik never writes aliases, so a container met twice means the file is hostile.
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                raise ProjectFileError(name, "YAML aliases (shared nodes) are not allowed in project files")
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)


def _mapping(name: str, value: Any, what: str = "content") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProjectFileError(name, f"{what} must be a mapping, got {type(value).__name__}")
    return value


def _text(name: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProjectFileError(name, f"{what} is missing or not a non-empty string")
    return value


def _variables_in(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.update(_VARIABLE.findall(item))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# ---------------------------------------------------------------------------------------------- the two formats


def _read_yaml_export(entries: dict[str, bytes]) -> ProjectDesign:
    settings = _mapping(PROJECT_FILE, _decode(PROJECT_FILE, entries[PROJECT_FILE]))
    folders: dict[str, dict[str, Any]] = {}
    project_files: dict[str, Any] = {}
    for name, raw in entries.items():
        if name in (PROJECT_FILE, BINDINGS_DEFINITION_FILE, BINDINGS_FILE):
            continue
        relative = name.removeprefix(TASKS_FOLDER)
        if name.startswith(TASKS_FOLDER) and "/" in relative:
            folder, path = relative.split("/", 1)
            folders.setdefault(folder, {})[path] = _decode(name, raw)
        else:
            project_files[name] = _decode(name, raw)
    tasks = [_task_from_files(f"{TASKS_FOLDER}{folder}/", files, None) for folder, files in sorted(folders.items())]
    return ProjectDesign(
        settings=settings,
        tasks=_by_id(tasks),
        files=project_files,
        declared_variables=_variables_of(entries, BINDINGS_DEFINITION_FILE) or {},
        bindings=_variables_of(entries, BINDINGS_FILE),
        format="YAML",
    )


def _read_legacy_export(entries: dict[str, bytes]) -> ProjectDesign:
    document = _mapping(LEGACY_PROJECT_FILE, _decode(LEGACY_PROJECT_FILE, entries[LEGACY_PROJECT_FILE]))
    listed = document.get("tasks") or []
    if not isinstance(listed, list) or not all(isinstance(task_id, str) for task_id in listed):
        raise ProjectFileError(LEGACY_PROJECT_FILE, '"tasks" must be a list of task ids')
    task_entries = sorted(name for name in entries if name.startswith(LEGACY_TASKS_FOLDER))
    missing = sorted({f"{LEGACY_TASKS_FOLDER}{task_id}.json" for task_id in listed} - set(task_entries))
    if missing:
        raise ProjectFileError(missing[0], "listed in project.json but missing from the zip")
    unknown = sorted(set(entries) - set(task_entries) - {LEGACY_PROJECT_FILE, BINDINGS_FILE})
    if unknown:
        raise ProjectFileError(unknown[0], "not part of a LEGACY export (project.json, tasks/<id>.json, bindings.json)")
    tasks = []
    for name in task_entries:
        task = _mapping(name, _decode(name, entries[name]))
        files = {path: _legacy_file(name, path, content) for path, content in _mapping(name, task.get("files")).items()}
        tasks.append(_task_from_files(name, files, task))
    return ProjectDesign(
        settings={key: _mapping(LEGACY_PROJECT_FILE, document.get(key), key) for key in ("properties", "settings")},
        tasks=_by_id(tasks),
        bindings=_variables_of(entries, BINDINGS_FILE),
        format="LEGACY",
    )


def _legacy_file(task_entry: str, path: str, content: Any) -> Any:
    # LEGACY carries a non-YAML file as {"base64": ...}; digest it the way the YAML reader digests raw entries.
    if isinstance(content, dict) and set(content) == {"base64"} and isinstance(content["base64"], str):
        try:
            return _decode(path, base64.b64decode(content["base64"], validate=True))
        except ValueError as error:
            raise ProjectFileError(f"{task_entry}: {path}", f"invalid base64 ({error})") from error
    return content


def _variables_of(entries: dict[str, bytes], name: str) -> dict[str, Any] | None:
    if name not in entries:
        return None
    return _mapping(name, _mapping(name, _decode(name, entries[name])).get("variables"), '"variables"')


def _task_from_files(where: str, files: dict[str, Any], legacy: dict[str, Any] | None) -> TaskDesign:
    """One task from its folder's files; a LEGACY task document's own identity fields win over its task.yaml."""
    task_file = where + TASK_FILE if legacy is None else where
    if TASK_FILE not in files:
        raise ProjectFileError(task_file, f"missing: every task needs a {TASK_FILE}")
    content = dict(_mapping(task_file, files.pop(TASK_FILE)))
    properties = dict(_mapping(task_file, content.pop("properties", None), "properties"))
    if legacy is not None:
        properties.update({key: legacy[key] for key in (*_TASK_IDENTITY, "description") if key in legacy})
    identity = {key: _text(task_file, properties.pop(key, None), f"properties.{key}") for key in _TASK_IDENTITY}
    # An empty description is no description: LEGACY always writes the field, YAML only when it is set.
    if properties.get("description") in ("", None):
        properties.pop("description", None)
    settings = {"properties": properties, **content} if properties else content
    datasets: dict[str, DatasetDesign] = {}
    for path in sorted(path for path in files if path.startswith(DATASETS_FOLDER) and path.count("/") == 1):
        dataset = _dataset(where + path, path, files.pop(path))
        if dataset.name in datasets:
            raise ProjectFileError(where + path, f"duplicate dataset name {dataset.name!r}")
        datasets[dataset.name] = dataset
    return TaskDesign(
        id=identity["id"],
        name=identity["name"],
        type=identity["type"],
        settings=settings,
        source_selection=_mapping(where + SOURCE_SELECTION_FILE, files.pop(SOURCE_SELECTION_FILE, None)),
        datasets=datasets,
        files=files,
    )


def _dataset(entry: str, path: str, content: Any) -> DatasetDesign:
    content = dict(_mapping(entry, content))
    properties = dict(_mapping(entry, content.get("properties"), "properties"))
    name = properties.pop("name", None) or path.removeprefix(DATASETS_FOLDER).rsplit(".", 1)[0]
    content["properties"] = properties
    return DatasetDesign(name=str(name), settings=content)


def _by_id(tasks: list[TaskDesign]) -> dict[str, TaskDesign]:
    by_id: dict[str, TaskDesign] = {}
    names: set[str] = set()
    for task in tasks:
        if task.id in by_id:
            raise ProjectFileError(ZIP_NAME, f"two tasks have the id {task.id!r}")
        if task.name in names:
            raise ProjectFileError(ZIP_NAME, f"two tasks are named {task.name!r}")
        by_id[task.id] = task
        names.add(task.name)
    return by_id


def _task_content(task: TaskDesign) -> list[Any]:
    return [task.settings, task.source_selection, [d.settings for d in task.datasets.values()], task.files]
