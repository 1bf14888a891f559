"""Demo bindings: the values a demo project's variables take in its environment (DEV or PROD).

Every project variable gets a value derived from a few environment facts, the way a person would bind
them after importing: connections by `{{id(connection, SPACE.NAME)}}`, schemas named after their task,
one database and warehouse for every task type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.emulator.project_model import ProjectDefinition
from qdi_mcp.emulator.task_templates import slug


def connection_reference(space_name: str, connection_name: str) -> str:
    """How bindings point at a connection: resolved by name when a project is imported or prepared."""
    return f"{{{{id(connection, {space_name}.{connection_name})}}}}"


@dataclass
class DemoEnvironment:
    """Where a project's variables point: a space, its target database and its source connections."""

    project_name: str
    space_name: str
    platform_connection: str | None
    database: str = ""
    warehouse: str = ""
    sources: dict[str, str] = field(default_factory=dict)  # task id -> connection name ("" = unbound)
    targets: dict[str, str] = field(default_factory=dict)  # task id -> connection name
    source_schemas: dict[str, str] = field(default_factory=dict)  # schema name in variables -> value


def environment_bindings(definition: ProjectDefinition, env: DemoEnvironment) -> dict[str, Any]:
    names = {task.id: task.name for task in definition.tasks}

    def connection(name: str) -> str:
        return connection_reference(env.space_name, name) if name else ""

    bindings: dict[str, Any] = {}
    for variable, default in definition.bindings_definition.items():
        scope, _, setting = variable.rpartition(".")
        task_id = scope.removeprefix("task.")
        value: Any = default
        if variable == "projectName":
            value = env.project_name
        elif variable == "platformConnection":
            value = connection(env.platform_connection or "")
        elif variable == "cloudStagingConnection":
            value = None  # Snowflake needs no staging area (as in Qlik's own export)
        elif variable.startswith("task-type."):
            value = {"databaseName": env.database, "warehouseName": env.warehouse}.get(setting, "CUSTOM")
        elif setting == "sourceConnection":
            value = connection(env.sources.get(task_id, ""))
        elif setting == "targetConnection":
            value = connection(env.targets.get(task_id, ""))
        elif setting == "taskSchema" and task_id in names:
            value = slug(names[task_id]).upper()
        elif setting == "internalSchema" and task_id in names:
            value = f"{slug(names[task_id]).upper()}__INTERNAL"
        elif setting == "schema" and "$_$" in scope:
            value = env.source_schemas.get(scope.rsplit("$_$", 1)[-1], "")
        bindings[variable] = value
    return bindings


def connection_properties(env: DemoEnvironment, connector_types: dict[tuple[str, str], str]) -> dict[str, Any]:
    """`connectionProperties` of the bindings files: the connector type behind each source variable."""
    return {
        f"task.{task_id}.sourceConnection": {"type": connector_types[(env.space_name, name)]}
        for task_id, name in sorted(env.sources.items())
        if name
    }
