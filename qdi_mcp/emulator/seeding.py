"""Fill a Tenant from C's demo content (`demo.demo_tenant()`), adding the runtime history it describes.

Tasks listed as completed get a finished run an hour ago; tasks listed as running (CDC) have been running
for two hours. One dataset of the first storage task with a finished run is in ERROR (a type conversion
failure), so an agent has something to diagnose: `datasetsInErrorCount` > 0, the dataset's message, and a
fix (request a reload of that dataset, run the task again).
"""

from __future__ import annotations

from .demo import DemoTenant
from .runtime import seed_cdc_run, seed_completed_run, start_task
from .state import Connection, ProjectState, Space, TaskState, Tenant, dataset_signature

STORAGE_TYPES = ("STORAGE", "QVD_STORAGE", "LAKEHOUSE_STORAGE")
LAST_RUN_AGO_SECONDS = 3600.0
CDC_RUNNING_FOR_SECONDS = 2 * 3600.0
ERROR_TEMPLATE = (
    "Full load of '{name}' failed: value 'N/A' in column UPDATED_AT cannot be converted to TIMESTAMP_NTZ "
    "(source row 1873). Fix the source data, then request a reload of this dataset and run the task."
)


def load_demo(tenant: Tenant, demo: DemoTenant, *, with_projects: bool = True) -> None:
    for space in demo.spaces:
        tenant.spaces[space.id] = Space(space.id, space.name)
    for connection in demo.connections:
        tenant.connections[connection.id] = Connection(connection.id, connection.name, connection.space_name)
    if not with_projects:
        return
    now = tenant.now()
    error_placed = False
    for demo_project in demo.projects:
        definition = demo_project.definition
        project = ProjectState(
            id=demo_project.id,
            name=demo_project.name,
            space_id=demo_project.space_id,
            owner_id=demo_project.owner_id,
            description=demo_project.description,
            type=demo_project.type,
            platform_type=demo_project.platform_type,
            properties=definition.properties,
            settings=definition.settings,
            bindings_definition=definition.bindings_definition,
            bindings=dict(demo_project.bindings),
            other_files=definition.other_files,
            connection_properties=definition.connection_properties,
        )
        tenant.projects[project.id] = project
        ran = demo_project.running_task_ids | demo_project.completed_task_ids
        for task_definition in definition.tasks:
            task = TaskState(definition=task_definition, project_id=project.id)
            task.sync_datasets()
            if task.id in demo_project.prepared_task_ids | ran:
                task.prepared = True
                task.prepared_signature = dataset_signature(task_definition)
            project.tasks[task.id] = task
        for task in project.tasks.values():
            if task.id in demo_project.running_task_ids:
                if task.definition.is_cdc():
                    seed_cdc_run(tenant, task, started_at=now - CDC_RUNNING_FOR_SECONDS)
                else:
                    start_task(tenant, task, option=None, process_changes_from=None)
            elif task.id in demo_project.completed_task_ids:
                error_dataset = None
                if not error_placed and task.definition.type in STORAGE_TYPES and task.datasets:
                    error_dataset = list(task.datasets.values())[-1]
                    error_placed = True
                seed_completed_run(
                    tenant,
                    task,
                    ended_at=now - LAST_RUN_AGO_SECONDS,
                    error_dataset_id=error_dataset.dataset_id if error_dataset else None,
                    error=ERROR_TEMPLATE.format(name=error_dataset.name) if error_dataset else "",
                )


def demo_task(tenant: Tenant, project_name: str, task_name: str) -> TaskState:
    """A task of the loaded tenant by project and task name (for tests and evals)."""
    for project in tenant.projects.values():
        if project.name == project_name:
            for task in project.tasks.values():
                if task.definition.name == task_name:
                    return task
    raise KeyError(f"no task {task_name!r} in a project named {project_name!r}")
