"""The demo tenant: deterministic, realistic, and seeded with the situations agents must handle."""

from __future__ import annotations

import re

from qdi_mcp.emulator.demo import DemoProject, DemoTenant, demo_tenant
from qdi_mcp.emulator.project_files import order_tasks, type_rank

CONNECTION_REFERENCE = re.compile(r"^\{\{id\(connection, (?P<space>[^.]+)\.(?P<name>[^)]+)\)\}\}$")


def project(tenant: DemoTenant, name: str) -> DemoProject:
    return next(candidate for candidate in tenant.projects if candidate.name == name)


def connection_variables(demo_project: DemoProject) -> dict[str, object]:
    return {
        name: value
        for name, value in demo_project.bindings.items()
        if name.rsplit(".", 1)[-1].endswith("Connection") and name != "cloudStagingConnection"
    }


def test_demo_tenant_is_the_same_on_every_call() -> None:
    first, second = demo_tenant(), demo_tenant()
    assert first == second
    assert first is not second
    first.projects[0].bindings["projectName"] = "changed"
    first.projects[0].definition.tasks.pop()
    assert demo_tenant() == second  # callers own their copy


def test_demo_has_dev_and_prod_spaces_with_their_connections() -> None:
    tenant = demo_tenant()
    spaces = {space.name: space for space in tenant.spaces}
    assert {"DEV_SPACE", "PROD_SPACE"} <= spaces.keys()
    assert all(re.fullmatch(r"[0-9a-f]{24}", space.id) for space in tenant.spaces)
    assert {connection.space_name for connection in tenant.connections} <= spaces.keys()
    keys = [(connection.space_name, connection.name) for connection in tenant.connections]
    assert len(keys) == len(set(keys))
    assert len({connection.id for connection in tenant.connections}) == len(tenant.connections)
    assert {"MySQL_DEV", "MySQL_PROD", "Snowflake_DEV", "Snowflake_PROD", "Postgres_Orders"} <= {
        connection.name for connection in tenant.connections
    }


def test_demo_projects_have_the_expected_kinds_and_qlik_shaped_ids() -> None:
    tenant = demo_tenant()
    kinds = {p.name: (p.type, p.platform_type) for p in tenant.projects}
    assert kinds["Customer 360"] == ("DATA_PIPELINE", "SNOWFLAKE")
    assert kinds["Customer 360 (prod)"][0] == "DATA_PIPELINE"
    assert kinds["Orders replication"][0] == "DATA_MOVEMENT"
    assert kinds["Sales QVD"] == ("DATA_PIPELINE", "QLIK_QVD")
    space_ids = {space.name: space.id for space in tenant.spaces}
    assert project(tenant, "Customer 360").space_id == space_ids["DEV_SPACE"]
    assert project(tenant, "Customer 360 (prod)").space_id == space_ids["PROD_SPACE"]
    for demo_project in tenant.projects:
        assert re.fullmatch(r"[0-9a-f]{24}", demo_project.id)
        assert demo_project.owner_id == tenant.owner_id
        assert demo_project.description
        assert demo_project.definition.properties["type"] == demo_project.type
        assert demo_project.definition.properties["platformType"] == demo_project.platform_type
    assert len({p.id for p in tenant.projects}) == len(tenant.projects)


def test_customer_360_is_a_landing_storage_transform_mart_chain() -> None:
    c360 = project(demo_tenant(), "Customer 360")
    tasks = c360.definition.tasks
    assert {task.type for task in tasks} == {"LANDING", "STORAGE", "TRANSFORM", "DATAMART"}
    ordered = order_tasks(tasks)
    assert [task.type for task in ordered] == sorted((task.type for task in tasks), key=type_rank)
    by_name = {task.name: task for task in tasks}
    assert by_name["CRM STORAGE"].upstream_task_ids() == {by_name["CRM LANDING"].id}
    assert by_name["CUSTOMER TRANSFORM"].upstream_task_ids() == {
        by_name["CRM STORAGE"].id,
        by_name["ERP STORAGE"].id,
    }
    assert by_name["CUSTOMER TRANSFORM"].id in by_name["SALES MART"].upstream_task_ids()
    assert c360.prepared_task_ids == {task.id for task in tasks}
    assert c360.running_task_ids == set()
    assert {by_name["CRM STORAGE"].id, by_name["ERP STORAGE"].id} <= c360.completed_task_ids


def test_a_cdc_replication_task_is_running_at_start() -> None:
    orders = project(demo_tenant(), "Orders replication")
    (replication,) = orders.definition.tasks
    assert replication.type == "REPLICATION"
    assert replication.is_cdc()
    assert orders.running_task_ids == {replication.id}
    assert connection_variables(orders)[f"task.{replication.id}.sourceConnection"] == (
        "{{id(connection, PROD_SPACE.Postgres_Orders)}}"
    )


def test_running_and_completed_tasks_are_prepared_and_running_ones_capture_changes() -> None:
    for demo_project in demo_tenant().projects:
        tasks = {task.id: task for task in demo_project.definition.tasks}
        assert demo_project.prepared_task_ids <= tasks.keys()
        assert demo_project.running_task_ids <= demo_project.prepared_task_ids
        assert demo_project.completed_task_ids <= demo_project.prepared_task_ids
        assert not demo_project.running_task_ids & demo_project.completed_task_ids
        assert all(tasks[task_id].is_cdc() for task_id in demo_project.running_task_ids)


def test_some_task_was_never_prepared() -> None:
    unprepared = [
        task.name
        for demo_project in demo_tenant().projects
        for task in demo_project.definition.tasks
        if task.id not in demo_project.prepared_task_ids
    ]
    assert "SALES QVD STORAGE" in unprepared


def test_only_the_sales_qvd_landing_has_an_unbound_source_connection() -> None:
    tenant = demo_tenant()
    existing = {(connection.space_name, connection.name) for connection in tenant.connections}
    unbound = []
    for demo_project in tenant.projects:
        used = set().union(*(task.variables_used() for task in demo_project.definition.tasks))
        for name, value in connection_variables(demo_project).items():
            match = CONNECTION_REFERENCE.match(value or "") if isinstance(value, str) else None
            if match:
                assert (match["space"], match["name"]) in existing, (demo_project.name, name)
            elif name in used:
                unbound.append((demo_project.name, name))
    landing = next(task for task in project(tenant, "Sales QVD").definition.tasks if task.type == "LANDING")
    assert unbound == [("Sales QVD", f"task.{landing.id}.sourceConnection")]
    assert project(tenant, "Sales QVD").bindings[f"task.{landing.id}.sourceConnection"] == ""


def test_bindings_give_a_value_for_every_declared_variable() -> None:
    for demo_project in demo_tenant().projects:
        definition = demo_project.definition
        assert demo_project.bindings.keys() == definition.bindings_definition.keys()
        assert definition.variables_used() <= definition.bindings_definition.keys()
        assert demo_project.bindings["projectName"] == demo_project.name


def test_prod_is_a_promotion_target_bound_to_prod_connections() -> None:
    tenant = demo_tenant()
    dev, prod = project(tenant, "Customer 360"), project(tenant, "Customer 360 (prod)")
    assert {task.id for task in prod.definition.tasks} < {task.id for task in dev.definition.tasks}
    for demo_project, space in ((dev, "DEV_SPACE"), (prod, "PROD_SPACE")):
        references = [value for value in connection_variables(demo_project).values() if value]
        assert references
        assert all(CONNECTION_REFERENCE.match(str(value))["space"] == space for value in references)


def test_about_ten_tasks_of_varied_types_with_descriptions() -> None:
    tasks = [task for demo_project in demo_tenant().projects for task in demo_project.definition.tasks]
    assert 9 <= len(tasks) <= 14
    assert len({task.type for task in tasks}) >= 5
    assert all(task.description for task in tasks)
    assert all(re.fullmatch(r"[a-z0-9_]+-[a-z0-9_]{4}", task.id) for task in tasks)
