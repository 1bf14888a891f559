"""Read and write Qlik project export zips (the `qtcp_*` layout, and the deprecated LEGACY JSON layout).

Layout (paths inside the zip, all at its root):
    qtcp_project.yaml                   properties + settings of the project
    qtcp_bindings_definition.json       {"variables": {name: default}, "connectionProperties": {...}}
    bindings.json                       same shape, with values (only when bindings are included)
    qtcp_tasks/<TASK NAME>/task.yaml    one folder per task, named after the task
    qtcp_tasks/<TASK NAME>/...          sourceSelection.yaml, datasets/*.yaml, schedule.yaml, ...
    anything else                       kept as is (e.g. qtcp_tasks/newTaskDefaults.yaml)
"""

from __future__ import annotations

import base64
import io
import json
import stat
import zipfile
from typing import Any, NoReturn

import yaml

from qdi_mcp.emulator.project_model import (
    TASK_TYPES,
    ProjectDefinition,
    ProjectZipError,
    TaskDefinition,
    variables_in,
)
from qdi_mcp.emulator.task_defaults import task_yaml_defaults, with_defaults, without_defaults
from qdi_mcp.emulator.yaml_codec import dump_yaml, load_yaml

PROJECT_FILE = "qtcp_project.yaml"
BINDINGS_DEFINITION_FILE = "qtcp_bindings_definition.json"
BINDINGS_FILE = "bindings.json"
TASKS_FOLDER = "qtcp_tasks/"
TASK_FILE = "task.yaml"
LEGACY_PROJECT_FILE = "project.json"
ZIP_NAME = "<zip>"

EXPORT_MODES = ("MINIMAL", "ALL", "LEGACY")

# Generous for real projects (the 9-task fixture is 0.4 MB) yet refuses zip bombs before inflating them.
MAX_ENTRIES = 20_000
MAX_TOTAL_UNCOMPRESSED_BYTES = 512 * 1024 * 1024

# Fixed entry timestamp (the zip epoch, as Qlik writes): same project, same bytes.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------------------------------------- reading


def project_zip_format(data: bytes) -> str:
    """ "YAML" (a `qtcp_project.yaml` at the root) or "LEGACY" (the JSON layout); ProjectZipError otherwise."""
    entries = _read_entries(data)
    if PROJECT_FILE in entries:
        return "YAML"
    if LEGACY_PROJECT_FILE in entries:
        return "LEGACY"
    _missing_project_file(entries)


def read_project_zip(data: bytes) -> ProjectDefinition:
    """Parse and validate an export zip (YAML or LEGACY); raises ProjectZipError naming the offending entry."""
    entries = _read_entries(data)
    if PROJECT_FILE not in entries:
        if LEGACY_PROJECT_FILE in entries:
            return _read_legacy(entries)
        _missing_project_file(entries)
    return _read_yaml(entries)


def _missing_project_file(entries: dict[str, bytes]) -> NoReturn:
    nested = sorted(name for name in entries if name.endswith("/" + PROJECT_FILE))
    hint = (
        f"; found {nested[0]}: zip the folder's contents, not the folder itself"
        if nested
        else "; is this a Qlik project export?"
    )
    raise ProjectZipError(PROJECT_FILE, f"missing at the root of the zip{hint}")


def _read_yaml(entries: dict[str, bytes]) -> ProjectDefinition:
    project_file = _expect_mapping(PROJECT_FILE, _parse(PROJECT_FILE, entries[PROJECT_FILE]))
    properties = _expect_mapping(PROJECT_FILE, project_file.get("properties") or {}, "properties")
    settings = _expect_mapping(PROJECT_FILE, project_file.get("settings") or {}, "settings")

    definition_variables, connection_properties = _read_bindings_file(entries, BINDINGS_DEFINITION_FILE)
    bindings = None
    if BINDINGS_FILE in entries:
        bindings, bindings_connections = _read_bindings_file(entries, BINDINGS_FILE)
        connection_properties = connection_properties or bindings_connections

    tasks, other_files = _read_tasks_and_others(entries)
    return ProjectDefinition(
        properties=properties,
        settings=settings,
        tasks=tasks,
        bindings_definition=definition_variables or {},
        bindings=bindings,
        other_files=other_files,
        connection_properties=connection_properties,
    )


def _read_entries(data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise ProjectZipError(ZIP_NAME, f"not a valid zip file ({error})") from error
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ProjectZipError(ZIP_NAME, f"too many entries ({len(infos)} > {MAX_ENTRIES})")
        if sum(info.file_size for info in infos) > MAX_TOTAL_UNCOMPRESSED_BYTES:
            raise ProjectZipError(ZIP_NAME, "uncompressed content exceeds the import size limit")
        entries: dict[str, bytes] = {}
        for info in infos:
            _check_entry_is_safe(info)
            if info.is_dir():
                continue
            if info.filename in entries:
                raise ProjectZipError(info.filename, "appears twice in the zip")
            try:
                entries[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as error:
                raise ProjectZipError(info.filename, f"cannot be extracted ({error})") from error
    return entries


def _check_entry_is_safe(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise ProjectZipError(name, "entry path escapes the project root (absolute path or '..')")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ProjectZipError(name, "symbolic links are not allowed in a project zip")
    if info.flag_bits & 0x1:
        raise ProjectZipError(name, "encrypted entries are not supported")


def _parse(name: str, raw: bytes) -> Any:
    """YAML/JSON entries parsed, other entries kept as bytes."""
    if not name.endswith((".yaml", ".yml", ".json")):
        return raw
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProjectZipError(name, f"not UTF-8 text (byte {error.start})") from error
    if name.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ProjectZipError(
                name, f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from error
    try:
        return load_yaml(text)
    except yaml.YAMLError as error:
        raise ProjectZipError(name, _yaml_error_detail(error)) from error


def _yaml_error_detail(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


def _expect_mapping(name: str, value: Any, what: str = "content") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProjectZipError(name, f"{what} must be a mapping, got {type(value).__name__}")
    return value


def _read_bindings_file(entries: dict[str, bytes], name: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    if name not in entries:
        return None, {}
    content = _expect_mapping(name, _parse(name, entries[name]))
    variables = _expect_mapping(name, content.get("variables") or {}, '"variables"')
    connections = _expect_mapping(name, content.get("connectionProperties") or {}, '"connectionProperties"')
    return variables, connections


def _read_tasks_and_others(entries: dict[str, bytes]) -> tuple[list[TaskDefinition], dict[str, Any]]:
    task_folders: dict[str, dict[str, bytes]] = {}
    other_files: dict[str, Any] = {}
    for name, raw in entries.items():
        if name in (PROJECT_FILE, BINDINGS_DEFINITION_FILE, BINDINGS_FILE):
            continue
        relative = name.removeprefix(TASKS_FOLDER)
        if name.startswith(TASKS_FOLDER) and "/" in relative:
            folder, path = relative.split("/", 1)
            task_folders.setdefault(folder, {})[path] = raw
        else:
            other_files[name] = _parse(name, raw)

    tasks: list[TaskDefinition] = []
    seen_ids: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for folder in sorted(task_folders):
        task = _read_task(folder, task_folders[folder])
        task_file = f"{TASKS_FOLDER}{folder}/{TASK_FILE}"
        if task.id in seen_ids:
            raise ProjectZipError(task_file, f"duplicate task id {task.id!r} (also in {seen_ids[task.id]})")
        if task.name in seen_names:
            raise ProjectZipError(task_file, f"duplicate task name {task.name!r} (also in {seen_names[task.name]})")
        seen_ids[task.id] = seen_names[task.name] = task_file
        tasks.append(task)
    return tasks, other_files


def _read_task(folder: str, raw_files: dict[str, bytes]) -> TaskDefinition:
    prefix = f"{TASKS_FOLDER}{folder}/"
    task_file = prefix + TASK_FILE
    if TASK_FILE not in raw_files:
        raise ProjectZipError(task_file, f"missing: every task folder needs a {TASK_FILE}")
    files = {path: _parse(prefix + path, raw) for path, raw in sorted(raw_files.items())}
    content = _expect_mapping(task_file, files[TASK_FILE])
    properties = _expect_mapping(task_file, content.get("properties"), "properties")
    for key in ("id", "name", "type"):
        if not isinstance(properties.get(key), str) or not properties[key]:
            raise ProjectZipError(task_file, f"properties.{key} is missing or not a non-empty string")
    task_type = properties["type"]
    if task_type not in TASK_TYPES:
        raise ProjectZipError(
            task_file, f"unknown task type {task_type!r}; expected one of {', '.join(sorted(TASK_TYPES))}"
        )
    description = properties.get("description", "")
    files[TASK_FILE] = without_defaults(content, task_yaml_defaults(task_type))
    return TaskDefinition(
        id=properties["id"],
        name=properties["name"],
        type=task_type,
        description=description if isinstance(description, str) else str(description),
        files=files,
    )


# ---------------------------------------------------------------------------------------------- writing


def write_project_zip(
    project: ProjectDefinition,
    *,
    mode: str = "MINIMAL",
    include_bindings: bool = False,
    bindings: dict[str, Any] | None = None,
) -> bytes:
    """Serialise a project as an export zip; same input, same bytes.

    MINIMAL omits task.yaml attributes that equal their type's default, ALL writes them (see
    task_defaults), LEGACY writes the deprecated JSON layout (imported by the sync endpoint and import-async).
    The bindings definition always declares every `{{variable}}` the files use; bindings.json is written only with
    `include_bindings`, from `bindings` (else the project's own bindings, else the declared defaults).
    """
    if mode not in EXPORT_MODES:
        raise ValueError(f"unknown export mode {mode!r}; expected one of {', '.join(EXPORT_MODES)}")
    definition = complete_bindings_definition(project)
    values = _bindings_values(project, definition, bindings) if include_bindings else None
    if mode == "LEGACY":
        return _write_legacy(project, values)

    files: dict[str, Any] = {
        PROJECT_FILE: {"properties": project.properties, "settings": project.settings},
        BINDINGS_DEFINITION_FILE: _bindings_document(definition, project.connection_properties),
    }
    if values is not None:
        files[BINDINGS_FILE] = _bindings_document(values, project.connection_properties)
    for path, content in project.other_files.items():
        files[_checked_path(path, path)] = content
    for folder, task in zip(_task_folders(project.tasks), project.tasks, strict=True):
        for path, content in _task_files(task, mode).items():
            files[_checked_path(f"{TASKS_FOLDER}{folder}/{path}", path)] = content
    return _zip({name: _serialise(name, content) for name, content in files.items()})


def complete_bindings_definition(project: ProjectDefinition) -> dict[str, Any]:
    """The declared variables plus any variable the files (or declared defaults) use but do not declare."""
    definition = dict(project.bindings_definition)
    used = project.variables_used()
    pending = sorted(used - definition.keys())
    while pending:
        for name in pending:
            definition[name] = ""
        # a default may itself refer to another variable ("{{task-type.landing.databaseName}}")
        pending = sorted(variables_in(list(definition.values())) - definition.keys())
    return definition


def _bindings_values(
    project: ProjectDefinition, definition: dict[str, Any], bindings: dict[str, Any] | None
) -> dict[str, Any]:
    chosen = bindings if bindings is not None else project.bindings
    values = dict(definition)
    values.update(chosen or {})
    return values


def _bindings_document(variables: dict[str, Any], connection_properties: dict[str, Any]) -> dict[str, Any]:
    return {"variables": variables, "connectionProperties": connection_properties}


def _task_folders(tasks: list[TaskDefinition]) -> list[str]:
    """One folder per task, named after it; characters a path cannot hold replaced, clashes suffixed."""
    folders: list[str] = []
    taken: set[str] = set()
    for task in tasks:
        folder = "".join("_" if char in '/\\:*?"<>|' or ord(char) < 32 else char for char in task.name)
        folder = folder.strip().strip(".") or task.id
        if folder.lower() in taken:
            folder = f"{folder} ({task.id})"
        taken.add(folder.lower())
        folders.append(folder)
    return folders


def _task_files(task: TaskDefinition, mode: str) -> dict[str, Any]:
    """The task's files with its identity written into task.yaml and defaults applied per mode."""
    files = dict(task.files)
    content = files.get(TASK_FILE)
    content = dict(content) if isinstance(content, dict) else {}
    properties = dict(content.get("properties") or {})
    properties.update({"name": task.name, "id": task.id, "type": task.type})
    if task.description:
        properties["description"] = task.description
    else:
        properties.pop("description", None)
    content = {"properties": properties, **{k: v for k, v in content.items() if k != "properties"}}
    defaults = task_yaml_defaults(task.type)
    content = without_defaults(content, defaults) if mode == "MINIMAL" else with_defaults(content, defaults)
    files[TASK_FILE] = content
    return files


def _checked_path(path: str, shown: str) -> str:
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or ".." in parts or "" in parts:
        raise ProjectZipError(shown, "file path must be relative, without '..' or empty parts")
    return path


def _serialise(name: str, content: Any) -> bytes:
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    if name.endswith(".json"):
        return json.dumps(content, indent=2, ensure_ascii=False).encode("utf-8")
    return dump_yaml(content).encode("utf-8")


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the permission bits below mean what they say
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, entries[name])
    return buffer.getvalue()


def _write_legacy(project: ProjectDefinition, values: dict[str, Any] | None) -> bytes:
    """The deprecated JSON layout: project.json plus tasks/<id>.json (and bindings.json on request).

    Qlik calls legacy exports "opaque deployment artifacts" (qlik.dev di-projects overview): this layout is the
    emulator's own, and `_read_legacy` reads back exactly what it writes, so LEGACY export -> import round-trips.
    """
    project_document = {
        "format": "LEGACY",
        # qlik.dev export-and-import: LEGACY is supported during a 12-month transition, then deprecated
        "deprecated": "LEGACY exports are deprecated; export with MINIMAL or ALL (YAML) where you can",
        "properties": project.properties,
        "settings": project.settings,
        "tasks": [task.id for task in project.tasks],
        "bindingsDefinition": complete_bindings_definition(project),
        "connectionProperties": project.connection_properties,
        "otherFiles": {path: _legacy_value(content) for path, content in project.other_files.items()},
    }
    entries = {LEGACY_PROJECT_FILE: project_document}
    for task in project.tasks:
        entries[_checked_path(f"tasks/{task.id}.json", task.id)] = {
            "id": task.id,
            "name": task.name,
            "type": task.type,
            "description": task.description,
            "files": {path: _legacy_value(content) for path, content in task.files.items()},
        }
    if values is not None:
        entries[BINDINGS_FILE] = {"variables": values}
    return _zip({name: json.dumps(doc, indent=2, ensure_ascii=False).encode() for name, doc in entries.items()})


def _legacy_value(content: Any) -> Any:
    if isinstance(content, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(content)).decode("ascii")}
    return content


def _read_legacy(entries: dict[str, bytes]) -> ProjectDefinition:
    """The project `_write_legacy` wrote: project.json, tasks/<id>.json, bindings.json when included."""
    project_file = _expect_mapping(LEGACY_PROJECT_FILE, _parse(LEGACY_PROJECT_FILE, entries[LEGACY_PROJECT_FILE]))
    task_ids = project_file.get("tasks") or []
    if not isinstance(task_ids, list) or not all(isinstance(task_id, str) for task_id in task_ids):
        raise ProjectZipError(LEGACY_PROJECT_FILE, '"tasks" must be a list of task ids')
    tasks = [_read_legacy_task(entries, task_id) for task_id in task_ids]
    bindings = None
    if BINDINGS_FILE in entries:
        bindings, _ = _read_bindings_file(entries, BINDINGS_FILE)
    other_files = _expect_mapping(LEGACY_PROJECT_FILE, project_file.get("otherFiles") or {}, '"otherFiles"')
    return ProjectDefinition(
        properties=_expect_mapping(LEGACY_PROJECT_FILE, project_file.get("properties") or {}, "properties"),
        settings=_expect_mapping(LEGACY_PROJECT_FILE, project_file.get("settings") or {}, "settings"),
        tasks=tasks,
        bindings_definition=_expect_mapping(
            LEGACY_PROJECT_FILE, project_file.get("bindingsDefinition") or {}, '"bindingsDefinition"'
        ),
        bindings=bindings,
        other_files={path: _from_legacy_value(content) for path, content in other_files.items()},
        connection_properties=_expect_mapping(
            LEGACY_PROJECT_FILE, project_file.get("connectionProperties") or {}, '"connectionProperties"'
        ),
    )


def _read_legacy_task(entries: dict[str, bytes], task_id: str) -> TaskDefinition:
    name = f"tasks/{task_id}.json"
    if name not in entries:
        raise ProjectZipError(name, f"missing: {LEGACY_PROJECT_FILE} lists task {task_id!r}")
    document = _expect_mapping(name, _parse(name, entries[name]))
    for key in ("id", "name", "type"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ProjectZipError(name, f"{key} is missing or not a non-empty string")
    if document["type"] not in TASK_TYPES:
        raise ProjectZipError(name, f"unknown task type {document['type']!r}")
    files = _expect_mapping(name, document.get("files") or {}, '"files"')
    return TaskDefinition(
        id=document["id"],
        name=document["name"],
        type=document["type"],
        description=str(document.get("description") or ""),
        files={path: _from_legacy_value(content) for path, content in files.items()},
    )


def _from_legacy_value(content: Any) -> Any:
    if isinstance(content, dict) and set(content) == {"base64"} and isinstance(content["base64"], str):
        return base64.b64decode(content["base64"])
    return content
