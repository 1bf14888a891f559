"""Qlik's declarative project files: the public face of the emulator's content modules.

What lives where:
    project_model   DatasetDefinition, TaskDefinition, ProjectDefinition, ProjectZipError, order_tasks
    zipformat       project_zip_format, read_project_zip, write_project_zip (MINIMAL / ALL / LEGACY)
    task_defaults   the per-type default attributes that ALL writes and MINIMAL omits
    task_templates  builders: slug_task_id, new_task_definition, default_bindings_definition, ...
    yaml_codec      YAML read/written with Qlik's (YAML 1.2) scalar rules

Error hierarchy:
    ValueError
     └── ProjectZipError     .file (zip entry or "<zip>"), .detail
"""

from __future__ import annotations

from qdi_mcp.emulator.project_model import (
    TASK_TYPES,
    DatasetDefinition,
    ProjectDefinition,
    ProjectZipError,
    TaskDefinition,
    order_tasks,
    type_rank,
    variables_in,
)
from qdi_mcp.emulator.task_defaults import task_yaml_defaults
from qdi_mcp.emulator.task_templates import (
    bindings_for,
    default_bindings_definition,
    new_project_definition,
    new_task_definition,
    slug,
    slug_task_id,
    task_type_key,
)
from qdi_mcp.emulator.zipformat import (
    EXPORT_MODES,
    complete_bindings_definition,
    project_zip_format,
    read_project_zip,
    write_project_zip,
)

__all__ = [
    "EXPORT_MODES",
    "TASK_TYPES",
    "DatasetDefinition",
    "ProjectDefinition",
    "ProjectZipError",
    "TaskDefinition",
    "bindings_for",
    "complete_bindings_definition",
    "default_bindings_definition",
    "new_project_definition",
    "new_task_definition",
    "order_tasks",
    "project_zip_format",
    "read_project_zip",
    "slug",
    "slug_task_id",
    "task_type_key",
    "task_yaml_defaults",
    "type_rank",
    "variables_in",
    "write_project_zip",
]
