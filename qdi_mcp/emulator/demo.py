"""The demo tenant: spaces, connections and four projects an agent can explore and operate at once.

    DEV_SPACE   Customer 360          DATA_PIPELINE / SNOWFLAKE  6 tasks, all prepared, idle; CRM landing and
                                                                   both storages last ran COMPLETED
                Sales QVD             DATA_PIPELINE / QLIK_QVD   2 tasks, none prepared; the landing's
                                                                   sourceConnection binding is empty, so its
                                                                   prepare FAILS (fix: PUT bindings)
    PROD_SPACE  Customer 360 (prod)   DATA_PIPELINE / SNOWFLAKE  promotion target: an older 2-task copy
                                                                   (same task ids) bound to PROD connections
                Orders replication    DATA_MOVEMENT / SNOWFLAKE  1 CDC replication task, RUNNING

Everything is derived from fixed seeds: every call returns equal objects with the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.emulator.demo_bindings import (
    DemoEnvironment,
    connection_properties,
    connection_reference,
    environment_bindings,
)
from qdi_mcp.emulator.project_model import ProjectDefinition, TaskDefinition
from qdi_mcp.emulator.task_templates import (
    DatasetSpec,
    new_project_definition,
    new_task_definition,
    slug_task_id,
)

OWNER_ID = "Wq3hZ8cN1vKd5tRb9mXe2pLs7yGu4fJa"  # Qlik user ids are 32 url-safe characters
DEV_SPACE_ID = "6650f0c1a2b3c4d5e6f7d001"
PROD_SPACE_ID = "6650f0c1a2b3c4d5e6f7d002"
CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"
CUSTOMER_360_PROD_ID = "6650f0c1a2b3c4d5e6f70002"
ORDERS_REPLICATION_ID = "6650f0c1a2b3c4d5e6f70003"
SALES_QVD_ID = "6650f0c1a2b3c4d5e6f70004"

_CONNECTION_NAMESPACE = uuid.UUID("3f0c6d0e-5b1a-4c44-9d6e-0a6d3c1e9b27")


@dataclass
class DemoSpace:
    id: str
    name: str


@dataclass
class DemoConnection:
    id: str
    name: str
    space_name: str  # referenced as {{id(connection, SPACE_NAME.CONN_NAME)}}
    type: str = ""  # Qlik connector type, e.g. "repsrc_mysql"

    @property
    def reference(self) -> str:
        return connection_reference(self.space_name, self.name)


@dataclass
class DemoProject:
    id: str
    name: str
    space_id: str
    owner_id: str
    description: str
    type: str  # DATA_PIPELINE | DATA_MOVEMENT
    platform_type: str  # SNOWFLAKE | QLIK_QVD | ...
    definition: ProjectDefinition
    bindings: dict[str, Any]  # current variables (values), keyed like bindings.json
    prepared_task_ids: set[str] = field(default_factory=set)
    running_task_ids: set[str] = field(default_factory=set)
    completed_task_ids: set[str] = field(default_factory=set)


@dataclass
class DemoTenant:
    spaces: list[DemoSpace]
    connections: list[DemoConnection]
    projects: list[DemoProject]
    owner_id: str


def _connection(space_name: str, name: str, connector_type: str) -> DemoConnection:
    connection_id = str(uuid.uuid5(_CONNECTION_NAMESPACE, f"{space_name}.{name}"))
    return DemoConnection(id=connection_id, name=name, space_name=space_name, type=connector_type)


def _connections() -> list[DemoConnection]:
    return [
        _connection("DEV_SPACE", "MySQL_DEV", "repsrc_mysql"),
        _connection("DEV_SPACE", "Salesforce", "external_data_provider"),
        _connection("DEV_SPACE", "Snowflake_DEV", "snowflake"),
        _connection("PROD_SPACE", "MySQL_PROD", "repsrc_mysql"),
        _connection("PROD_SPACE", "Salesforce", "external_data_provider"),
        _connection("PROD_SPACE", "Snowflake_PROD", "snowflake"),
        _connection("PROD_SPACE", "Postgres_Orders", "repsrc_postgresql"),
    ]


class _TaskIds:
    """Deterministic Qlik-style ids for one project's tasks."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._taken: set[str] = set()

    def __call__(self, name: str) -> str:
        task_id = slug_task_id(name, self._taken, seed=self._seed)
        self._taken.add(task_id)
        return task_id


def _copy_of(task: TaskDefinition, name: str) -> list[tuple[str, str]]:
    """(task id, dataset id) of one of `task`'s datasets, by name."""
    return [(task.id, dataset.id) for dataset in task.datasets() if dataset.name == name]


def _reads(*pairs: tuple[TaskDefinition, str]) -> list[tuple[str, str]]:
    return [link for task, name in pairs for link in _copy_of(task, name)]


def _mirror(task: TaskDefinition, names: Sequence[str]) -> list[DatasetSpec]:
    """One dataset per upstream dataset, same name: what a storage task does with its landing."""
    return [(name, _copy_of(task, name)) for name in names]


_CRM_TABLES = ("Account", "Contact", "Opportunity", "User")
_ERP_TABLES = ("customers", "orders", "order_lines", "products", "invoices")


def _erp_landing_and_storage(
    landing_id: str, storage_id: str, tables: Sequence[str]
) -> tuple[TaskDefinition, TaskDefinition]:
    landing = new_task_definition(
        "ERP LANDING",
        "LANDING",
        task_id=landing_id,
        datasets=[(table, []) for table in tables],
        schema="erp",
        cdc=True,
        description="Lands the ERP MySQL schema 'erp' into Snowflake, capturing changes every 15 minutes.",
    )
    storage = new_task_definition(
        "ERP STORAGE",
        "STORAGE",
        task_id=storage_id,
        datasets=_mirror(landing, tables),
        description="Keeps the landed ERP tables as queryable, historised Snowflake tables.",
    )
    return landing, storage


def _customer_360_tasks() -> list[TaskDefinition]:
    ids = _TaskIds(CUSTOMER_360_ID)
    crm_landing = new_task_definition(
        "CRM LANDING",
        "LANDING",
        task_id=ids("CRM LANDING"),
        datasets=[(table, []) for table in _CRM_TABLES],
        description="Lands Salesforce accounts, contacts, opportunities and users (full reload).",
    )
    erp_landing, erp_storage = _erp_landing_and_storage(ids("ERP LANDING"), ids("ERP STORAGE"), _ERP_TABLES)
    crm_storage = new_task_definition(
        "CRM STORAGE",
        "STORAGE",
        task_id=ids("CRM STORAGE"),
        datasets=_mirror(crm_landing, _CRM_TABLES),
        description="Keeps the landed Salesforce objects as queryable Snowflake tables.",
    )
    transform = new_task_definition(
        "CUSTOMER TRANSFORM",
        "TRANSFORM",
        task_id=ids("CUSTOMER TRANSFORM"),
        datasets=[
            (
                "CUSTOMER_360",
                _reads((crm_storage, "Account"), (crm_storage, "Contact"), (erp_storage, "customers")),
            ),
            (
                "ORDERS_ENRICHED",
                _reads((erp_storage, "orders"), (erp_storage, "order_lines"), (erp_storage, "products")),
            ),
            ("OPPORTUNITY_PIPELINE", _reads((crm_storage, "Opportunity"), (crm_storage, "Account"))),
        ],
        description="Matches CRM accounts with ERP customers and enriches orders with products.",
    )
    mart = new_task_definition(
        "SALES MART",
        "DATAMART",
        task_id=ids("SALES MART"),
        datasets=[
            ("DIM_CUSTOMER", _reads((transform, "CUSTOMER_360"))),
            ("DIM_PRODUCT", _reads((erp_storage, "products"))),
            ("FACT_SALES", _reads((transform, "ORDERS_ENRICHED"))),
            ("FACT_OPPORTUNITY", _reads((transform, "OPPORTUNITY_PIPELINE"))),
        ],
        description="Star schema of sales and pipeline for the Customer 360 dashboards.",
    )
    return [crm_landing, erp_landing, crm_storage, erp_storage, transform, mart]


def _project(
    *,
    project_id: str,
    name: str,
    space: DemoSpace,
    description: str,
    project_type: str,
    platform_type: str,
    tasks: list[TaskDefinition],
    env: DemoEnvironment,
    connections: Sequence[DemoConnection],
) -> DemoProject:
    definition = new_project_definition(
        project_type=project_type,
        platform_type=platform_type,
        tasks=tasks,
        connection_properties=connection_properties(env, {(c.space_name, c.name): c.type for c in connections}),
    )
    return DemoProject(
        id=project_id,
        name=name,
        space_id=space.id,
        owner_id=OWNER_ID,
        description=description,
        type=project_type,
        platform_type=platform_type,
        definition=definition,
        bindings=environment_bindings(definition, env),
    )


def _by_name(tasks: Sequence[TaskDefinition], *names: str) -> set[str]:
    return {task.id for task in tasks if task.name in names}


def demo_tenant() -> DemoTenant:
    """A fresh demo tenant; equal (same ids, same content) on every call."""
    dev, prod = DemoSpace(DEV_SPACE_ID, "DEV_SPACE"), DemoSpace(PROD_SPACE_ID, "PROD_SPACE")
    connections = _connections()

    c360_tasks = _customer_360_tasks()
    ids = {task.name: task.id for task in c360_tasks}
    customer_360 = _project(
        project_id=CUSTOMER_360_ID,
        name="Customer 360",
        space=dev,
        description="Unified customer view from Salesforce and the ERP, modelled for sales analytics.",
        project_type="DATA_PIPELINE",
        platform_type="SNOWFLAKE",
        tasks=c360_tasks,
        env=DemoEnvironment(
            "Customer 360",
            "DEV_SPACE",
            "Snowflake_DEV",
            database="C360_DEV",
            warehouse="COMPUTE_WH",
            sources={ids["CRM LANDING"]: "Salesforce", ids["ERP LANDING"]: "MySQL_DEV"},
            source_schemas={"erp": "erp"},
        ),
        connections=connections,
    )
    customer_360.prepared_task_ids = {task.id for task in c360_tasks}
    customer_360.completed_task_ids = _by_name(c360_tasks, "CRM LANDING", "CRM STORAGE", "ERP STORAGE")

    # Promoted from DEV months ago: the same task ids, fewer tables, bound to PROD connections.
    prod_tasks = list(
        _erp_landing_and_storage(ids["ERP LANDING"], ids["ERP STORAGE"], ("customers", "orders", "products"))
    )
    customer_360_prod = _project(
        project_id=CUSTOMER_360_PROD_ID,
        name="Customer 360 (prod)",
        space=prod,
        description="Production copy of Customer 360; promote DEV changes here (export, import, prepare).",
        project_type="DATA_PIPELINE",
        platform_type="SNOWFLAKE",
        tasks=prod_tasks,
        env=DemoEnvironment(
            "Customer 360 (prod)",
            "PROD_SPACE",
            "Snowflake_PROD",
            database="C360_PROD",
            warehouse="PROD_WH",
            sources={ids["ERP LANDING"]: "MySQL_PROD"},
            source_schemas={"erp": "erp"},
        ),
        connections=connections,
    )
    customer_360_prod.prepared_task_ids = {task.id for task in prod_tasks}
    customer_360_prod.completed_task_ids = _by_name(prod_tasks, "ERP STORAGE")

    orders = _orders_replication(prod, connections)
    sales_qvd = _sales_qvd(dev, connections)
    return DemoTenant(
        spaces=[dev, prod],
        connections=connections,
        projects=[customer_360, customer_360_prod, orders, sales_qvd],
        owner_id=OWNER_ID,
    )


def _orders_replication(space: DemoSpace, connections: Sequence[DemoConnection]) -> DemoProject:
    ids = _TaskIds(ORDERS_REPLICATION_ID)
    replication = new_task_definition(
        "ORDERS REPLICATION",
        "REPLICATION",
        task_id=ids("ORDERS REPLICATION"),
        datasets=[(table, []) for table in ("orders", "order_items", "customers", "payments", "shipments")],
        schema="public",
        cdc=True,
        description="Replicates the Postgres order system to Snowflake continuously (full load, then CDC).",
    )
    project = _project(
        project_id=ORDERS_REPLICATION_ID,
        name="Orders replication",
        space=space,
        description="Near-real-time copy of the order database for operational reporting.",
        project_type="DATA_MOVEMENT",
        platform_type="SNOWFLAKE",
        tasks=[replication],
        env=DemoEnvironment(
            "Orders replication",
            "PROD_SPACE",
            "Snowflake_PROD",
            database="ORDERS_PROD",
            warehouse="PROD_WH",
            sources={replication.id: "Postgres_Orders"},
            targets={replication.id: "Snowflake_PROD"},
            source_schemas={"public": "public"},
        ),
        connections=connections,
    )
    project.prepared_task_ids = {replication.id}
    project.running_task_ids = {replication.id}
    return project


def _sales_qvd(space: DemoSpace, connections: Sequence[DemoConnection]) -> DemoProject:
    ids = _TaskIds(SALES_QVD_ID)
    tables = ("orders", "order_lines", "customers", "stores")
    landing = new_task_definition(
        "SALES LANDING",
        "LANDING",
        task_id=ids("SALES LANDING"),
        datasets=[(table, []) for table in tables],
        schema="sales",
        platform_type="QLIK_QVD",
        description="Lands the store sales schema into Qlik-managed QVD files.",
    )
    storage = new_task_definition(
        "SALES QVD STORAGE",
        "QVD_STORAGE",
        task_id=ids("SALES QVD STORAGE"),
        datasets=_mirror(landing, tables),
        platform_type="QLIK_QVD",
        description="Keeps the landed sales tables as QVDs for Qlik Sense apps.",
    )
    return _project(
        project_id=SALES_QVD_ID,
        name="Sales QVD",
        space=space,
        description="Store sales as QVD files for the regional Qlik Sense apps.",
        project_type="DATA_PIPELINE",
        platform_type="QLIK_QVD",
        tasks=[landing, storage],
        # The landing's source connection was never chosen: preparing it fails until bindings name one.
        env=DemoEnvironment(
            "Sales QVD",
            "DEV_SPACE",
            None,
            sources={landing.id: ""},
            source_schemas={"sales": "sales"},
        ),
        connections=connections,
    )
