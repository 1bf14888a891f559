"""validate-project-definitions: the limited checks Qlik documents, as a list of `{path, level, reason}` reports.

qlik.dev validate-configuration (stored doc 68552673894): "The validation endpoint performs limited checks. It
verifies the uploaded ZIP file, checks supported file types, detects empty files, and reports task definitions
where `settings` is missing. It does not validate binding variable resolution, unused bindings, task
relationships, or all schema constraints." Its troubleshooting adds the 10 MB limit ("does not exceed the 10 MB
size limit") and "accepts YAML and JSON declarative pipeline project files".

A zip that cannot be read at all is a 400 (the reference documents 400, 404 and 500 for this endpoint, no 413, so
an oversized file is a 400 too); what is wrong inside a readable zip is a report.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import yaml

from .errors import bad_request
from .yaml_codec import load_yaml
from .zipformat import (
    LEGACY_PROJECT_FILE,
    MAX_TOTAL_UNCOMPRESSED_BYTES,
    PROJECT_FILE,
    TASK_FILE,
    TASKS_FOLDER,
)

MAX_ZIP_BYTES = 10 * 1024 * 1024
SUPPORTED_SUFFIXES = (".yaml", ".yml", ".json")


def check_definitions(data: bytes) -> list[dict[str, str]]:
    if not data:
        raise bad_request("The .zip file is empty.", parameter="zip")
    if len(data) > MAX_ZIP_BYTES:
        raise bad_request(
            f"The .zip file is {len(data)} bytes; it must not exceed the 10 MB size limit.", parameter="zip"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if sum(info.file_size for info in infos) > MAX_TOTAL_UNCOMPRESSED_BYTES:
                raise bad_request("The .zip file unpacks to more than the import size limit.", parameter="zip")
            entries = {info.filename: archive.read(info) for info in infos if not info.is_dir()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, RuntimeError) as error:
        raise bad_request(f"The file is not a valid .zip archive ({error}).", parameter="zip") from None
    reports: list[dict[str, str]] = []
    if PROJECT_FILE not in entries and LEGACY_PROJECT_FILE not in entries:
        reports.append(_report(PROJECT_FILE, "ERROR", "File is missing at the root of the zip."))
    if LEGACY_PROJECT_FILE in entries and PROJECT_FILE not in entries:
        # qlik.dev export-and-import: the JSON format is supported during a transition period, then deprecated
        reports.append(_report(LEGACY_PROJECT_FILE, "WARNING", "Legacy JSON project format; it is deprecated."))
    for name, raw in sorted(entries.items()):
        reports.extend(_file_reports(name, raw))
    return reports


def _file_reports(name: str, raw: bytes) -> list[dict[str, str]]:
    if not name.lower().endswith(SUPPORTED_SUFFIXES):
        return [_report(name, "ERROR", "Unsupported file type: project files are YAML or JSON.")]
    if not raw.strip():
        return [_report(name, "ERROR", "File is empty.")]
    try:
        text = raw.decode("utf-8-sig")
        content: Any = json.loads(text) if name.lower().endswith(".json") else load_yaml(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError):
        return [_report(name, "ERROR", "File cannot be parsed.")]
    if _is_task_file(name) and not (isinstance(content, dict) and "settings" in content):
        # the wording of validate-configuration's example report
        return [_report(name, "ERROR", "Property 'settings' is missing.")]
    return []


def _is_task_file(name: str) -> bool:
    relative = name.removeprefix(TASKS_FOLDER)
    return name.startswith(TASKS_FOLDER) and relative.count("/") == 1 and relative.endswith("/" + TASK_FILE)


def _report(path: str, level: str, reason: str) -> dict[str, str]:
    return {"path": path, "level": level, "reason": reason}
