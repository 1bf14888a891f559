"""Project-level behaviour: create, export, import, and the wire shapes of projects and tasks."""

from __future__ import annotations

from typing import Any

from .bindings import CONNECTION_REFERENCE, connection_reference, find_connection, recalculated
from .errors import bad_request
from .inputs import enum_value, optional_string
from .project_files import ProjectDefinition, new_project_definition, order_tasks
from .state import ProjectState, TaskState, Tenant, dataset_signature

PROJECT_TYPES = ("DATA_PIPELINE", "DATA_MOVEMENT")
PLATFORM_TYPES = (
    "SNOWFLAKE",
    "BIGQUERY",
    "SYNAPSE",
    "DATABRICKS",
    "REDSHIFT",
    "MSSQL",
    "FABRIC",
    "QLIK_QVD",
    "QLIK_QVD_CUSTOMER_MANAGED",
    # qlik.dev di-projects reference (stored doc 68598814407), PlatformType: "QLIK_OPEN_LAKEHOUSE: Qlik Open
    # Lakehouse - NONE: No platform (e.g. replication-only projects)"
    "QLIK_OPEN_LAKEHOUSE",
    "NONE",
)


def project_wire(project: ProjectState) -> dict[str, Any]:
    # DiProjectItemRsp of today's reference: id, name, type, ownerId, spaceId, description, platformType
    return {
        "id": project.id,
        "name": project.name,
        "type": project.type,
        "ownerId": project.owner_id,
        "spaceId": project.space_id,
        "description": project.description,
        "platformType": project.platform_type,
    }


def task_wire(project: ProjectState, task: TaskState) -> dict[str, Any]:
    return {
        "id": task.definition.id,
        "name": task.definition.name,
        "type": task.definition.type,
        "ownerId": project.owner_id,
        "spaceId": project.space_id,
        "description": task.definition.description,
    }


def ordered(project: ProjectState, tasks: list[TaskState]) -> list[TaskState]:
    """Tasks in dependency order (upstream first), as Qlik orchestrates them."""
    return [project.tasks[definition.id] for definition in order_tasks([task.definition for task in tasks])]


def running_detail(task: TaskState) -> str:
    return f"Task '{task.definition.name}' is running: stop the task first, then prepare it."


def create_project(tenant: Tenant, body: dict[str, Any]) -> ProjectState:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("'name' is required: a non-empty string naming the project.", pointer="/name")
    name = name.strip()
    project_type = enum_value(body, "type", PROJECT_TYPES, "DATA_PIPELINE") or "DATA_PIPELINE"
    platform_type = enum_value(body, "platformType", PLATFORM_TYPES, "SNOWFLAKE") or "SNOWFLAKE"
    description = optional_string(body, "description") or ""
    space_id = optional_string(body, "space")
    if not space_id:
        raise bad_request("'space' is required: the id of the space to create the project in.", pointer="/space")
    if space_id not in tenant.spaces:
        raise bad_request(f"Space '{space_id}' does not exist (or you cannot access it).", pointer="/space")
    clash = next(
        (p for p in tenant.projects.values() if p.space_id == space_id and p.name.lower() == name.lower()),
        None,
    )
    if clash is not None:
        raise bad_request(
            f"A project named '{clash.name}' already exists in space '{tenant.space_name(space_id)}' (id {clash.id}).",
            pointer="/name",
        )
    connections = {
        field: _connection_value(tenant, body, field) for field in ("platformConnection", "cloudStagingConnection")
    }
    definition = new_project_definition(project_type=project_type, platform_type=platform_type)
    bindings: dict[str, Any] = dict(definition.bindings_definition)
    bindings["projectName"] = name
    for field, reference in connections.items():
        if field in bindings or reference is not None:
            bindings[field] = reference
    project = ProjectState(
        id=tenant.ids.object_id(),
        name=name,
        space_id=space_id,
        owner_id=tenant.owner_id,
        description=description,
        type=project_type,
        platform_type=platform_type,
        properties=definition.properties,
        settings=definition.settings,
        bindings_definition=definition.bindings_definition,
        bindings=bindings,
    )
    tenant.projects[project.id] = project
    return project


def _connection_value(tenant: Tenant, body: dict[str, Any], field: str) -> str | None:
    """A connection given by id, by 'SPACE.NAME' or as a reference -> its `{{id(connection, ...)}}` form."""
    value = optional_string(body, field)
    if not value:
        return None
    connection = find_connection(tenant, value)
    if connection is None and not CONNECTION_REFERENCE.match(value) and "." in value:
        space_name, _, connection_name = value.partition(".")
        connection = tenant.connection_named(space_name, connection_name)
    if connection is None:
        raise bad_request(f"'{field}': connection {value!r} does not exist.", pointer=f"/{field}")
    return connection_reference(connection.space_name, connection.name)


def export_definition(project: ProjectState) -> ProjectDefinition:
    return ProjectDefinition(
        properties=project.properties,
        settings=project.settings,
        tasks=[task.definition for task in project.tasks.values()],
        bindings_definition=project.bindings_definition,
        bindings=None,
        other_files=project.other_files,
        connection_properties=project.connection_properties,
    )


def check_importable(tenant: Tenant, project: ProjectState, definition: ProjectDefinition) -> None:
    running = [task.definition.name for task in project.tasks.values() if task.running]
    if running:
        raise bad_request(
            f"Cannot import into project '{project.name}' while tasks are running: {', '.join(running)}. "
            "Stop them first."
        )
    for field, current in (("type", project.type), ("platformType", project.platform_type)):
        incoming = definition.properties.get(field)
        if incoming is not None and incoming != current:
            raise bad_request(
                f"The zip holds a {field} {incoming} project; project '{project.name}' is {current}.",
                parameter="zip",
            )


def import_definition(project: ProjectState, definition: ProjectDefinition) -> None:
    """Replace the project's tasks with the zip's, keeping the target's bindings (see below).

    A task whose files did not change keeps its state. A changed or new task must be prepared before it
    runs; a changed task that had been prepared and whose datasets differ must recreate its tables.
    """
    tasks: dict[str, TaskState] = {}
    for task_definition in definition.tasks:
        old = project.tasks.get(task_definition.id)
        if old is not None and _same_design(old, task_definition):
            old.definition = task_definition
            tasks[task_definition.id] = old
            continue
        task = TaskState(definition=task_definition, project_id=project.id)
        if old is not None:
            task.datasets, task.run, task.runs_started = old.datasets, old.run, old.runs_started
            task.history = old.history
            task.prepared_signature = old.prepared_signature
            changed = old.prepared_signature is not None and (
                dataset_signature(task_definition) != old.prepared_signature
            )
            task.recreate_required = old.recreate_required or changed
            task.stale_reason = "An import changed the task's design; prepare it before running it."
        task.sync_datasets()
        tasks[task_definition.id] = task
    project.tasks = tasks
    project.properties = definition.properties
    project.settings = definition.settings
    project.bindings_definition = definition.bindings_definition
    project.other_files = definition.other_files
    project.connection_properties = definition.connection_properties
    # The target's bindings are set BEFORE the import (qlik.dev deploy-di-project, Step 5 "Update the project
    # variables for production" precedes Step 6 "Import the project ZIP file"), and a zip's bindings.json is only
    # "a reference for resolved values from the source environment ... Do not rely on bindings.json to provide
    # target environment values during import" (qlik.dev export-and-import, "Binding values"). So the zip's
    # bindings.json is ignored: variables the new design still uses keep the target's values, variables it adds
    # take the declared default of qtcp_bindings_definition.json (empty in Qlik's exports: unset until the
    # operator binds them), and variables it no longer uses go.
    project.bindings = recalculated(project)


def _same_design(old: TaskState, new: Any) -> bool:
    before = old.definition
    return before.name == new.name and before.type == new.type and before.files == new.files
