"""Default attribute values of task.yaml, per task type: what `mode="ALL"` adds and `mode="MINIMAL"` omits.

Qlik's MINIMAL export writes only values that differ from the defaults; the fixture shows which values it
considers non-default (a landing's `ddlHandlingPolicy: {addColumn: IGNORE, createTable: IGNORE}`, a
storage's `fullLoadOnly: true`, `renameTable: IGNORE`, a landing's retry policy `ALWAYS`/0). This table holds
the matching defaults the emulator assumes. It is deliberately small: one place to extend when a real
export shows another default.

The emulator keeps task files in their MINIMAL form (the reader strips defaults), so an import of an ALL
export and an import of a MINIMAL export of the same project give the same definition.
"""

from __future__ import annotations

import copy
from typing import Any

_DESCRIPTION = {"properties": {"description": ""}}

_RETRY = {
    "errorHandling": {
        "environmental": {
            "maximumRetrySettings": {"maximumRetry": "COUNT", "count": 3},
            "retryIntervalSeconds": 5,
        }
    }
}

_LANDING_DDL = {
    "ddlHandlingPolicy": {
        "addColumn": "APPLY",
        "createTable": "APPLY",
        "dropColumn": "IGNORE",
        "dropTable": "IGNORE",
        "changeColumnDataType": "APPLY",
    }
}

_STORAGE_DDL = {"ddlHandlingPolicy": {"renameTable": "APPLY", "renameColumn": "APPLY"}}


def _settings(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(copy.deepcopy(part))
    return {"settings": merged}


# task type -> default task.yaml content (merged over _DESCRIPTION, which every type has).
TASK_YAML_DEFAULTS: dict[str, dict[str, Any]] = {
    "LANDING": _settings(_RETRY, _LANDING_DDL),
    "LAKE_LANDING": _settings(_RETRY, _LANDING_DDL),
    "REPLICATE_LANDING": _settings(_RETRY, _LANDING_DDL),
    "REPLICATION": _settings(_RETRY, _LANDING_DDL, {"fullLoadOnly": False}),
    "STORAGE": _settings(_RETRY, _STORAGE_DDL, {"fullLoadOnly": False, "historyEnabled": False}),
    "QVD_STORAGE": _settings(_RETRY, _STORAGE_DDL, {"fullLoadOnly": False}),
    "LAKEHOUSE_STORAGE": _settings(_RETRY, _STORAGE_DDL, {"fullLoadOnly": False}),
    "TRANSFORM": _settings(_RETRY, {"defaultMaterialization": "VIEW"}),
    "DATAMART": _settings(_RETRY),
    "REGISTERED_DATA": _settings({}),
}


def task_yaml_defaults(task_type: str) -> dict[str, Any]:
    """The default task.yaml attributes of a task type (a fresh copy: callers may modify it)."""
    defaults = copy.deepcopy(_DESCRIPTION)
    defaults.update(copy.deepcopy(TASK_YAML_DEFAULTS.get(task_type, {})))
    return defaults


def with_defaults(content: Any, defaults: dict[str, Any]) -> Any:
    """`content` with every default it lacks filled in (values present in `content` win)."""
    if not isinstance(content, dict):
        return content
    merged = dict(content)
    for key, default in defaults.items():
        if key not in merged:
            merged[key] = copy.deepcopy(default)
        elif isinstance(default, dict):
            merged[key] = with_defaults(merged[key], default)
    return merged


def without_defaults(content: Any, defaults: dict[str, Any]) -> Any:
    """`content` without the attributes that equal their default; mappings emptied by that disappear."""
    if not isinstance(content, dict):
        return content
    stripped: dict[str, Any] = {}
    for key, value in content.items():
        if key not in defaults:
            stripped[key] = value
            continue
        default = defaults[key]
        if isinstance(default, dict) and isinstance(value, dict):
            reduced = without_defaults(value, default)
            # keep an empty mapping the file wrote on purpose; drop one that only held defaults
            if reduced or not value:
                stripped[key] = reduced
        elif value != default or type(value) is not type(default):
            stripped[key] = value
    return stripped
