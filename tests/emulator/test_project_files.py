"""The project model read from Qlik's real export: tasks, datasets, dependencies, variables, CDC, order."""

from __future__ import annotations

import re
import zipfile

import pytest
from qdi_data import FIXTURE_ZIP

from qdi_mcp.emulator.project_files import (
    ProjectDefinition,
    TaskDefinition,
    bindings_for,
    default_bindings_definition,
    new_task_definition,
    order_tasks,
    read_project_zip,
    slug_task_id,
    type_rank,
)
from qdi_mcp.emulator.yaml_codec import load_yaml

FIXTURE_TASKS = {
    ("CHURN LANDING", "churn_landing-wjkl", "LANDING"),
    ("SALESFORCE LANDING", "salesforce_landing-_h7t", "LANDING"),
    ("DEMOGRAPHICS REGISTERED", "demographics_registered-bx33", "REGISTERED_DATA"),
    ("CHURN STORAGE", "storage-0ivk", "STORAGE"),
    ("SALESFORCE STORAGE", "salesforce_storage-_h7u", "STORAGE"),
    ("DEMOGRAPHICS STORAGE", "demographics_storage-bx34", "STORAGE"),
    ("CHURN TRANSFORM", "transform-drwz", "TRANSFORM"),
    ("SALESFORCE TRANSFORM", "salesforce_transform-aaqj", "TRANSFORM"),
    ("DATA MART", "data_mart-5anr", "DATAMART"),
}


@pytest.fixture(scope="module")
def churn() -> ProjectDefinition:
    return read_project_zip(FIXTURE_ZIP.read_bytes())


def task_named(project: ProjectDefinition, name: str) -> TaskDefinition:
    return next(task for task in project.tasks if task.name == name)


def test_fixture_import_reads_the_nine_tasks_with_names_ids_and_types(churn: ProjectDefinition) -> None:
    assert {(task.name, task.id, task.type) for task in churn.tasks} == FIXTURE_TASKS
    assert len(churn.tasks) == 9


def test_fixture_import_reads_project_properties_and_settings(churn: ProjectDefinition) -> None:
    assert churn.properties["type"] == "DATA_PIPELINE"
    assert churn.properties["platformType"] == "SNOWFLAKE"
    assert churn.properties["space"] == "ref{project.current.spaceId}"
    assert churn.settings == {"artifactsNaming": {"prefixSchema": "{{project.current.prefixSchema}}"}}


def test_fixture_import_reads_bindings_definition_and_values(churn: ProjectDefinition) -> None:
    definition = churn.bindings_definition
    assert definition["task.churn_landing-wjkl.sourceConnection"] == ""
    assert definition["task.churn_landing-wjkl.databaseName"] == "{{task-type.landing.databaseName}}"
    assert churn.bindings is not None
    assert churn.bindings["platformConnection"] == "{{id(connection, ChurnDB.target_snowflake_e2e)}}"
    assert churn.bindings["cloudStagingConnection"] is None
    assert churn.bindings.keys() == definition.keys()
    assert churn.connection_properties["task.churn_landing-wjkl.sourceConnection"] == {"type": "repsrc_mysql"}


def test_fixture_import_keeps_every_file(churn: ProjectDefinition) -> None:
    task_files = sum(len(task.files) for task in churn.tasks)
    # 63 entries = project file + bindings definition + bindings + task files + other files
    assert task_files + len(churn.other_files) + 3 == 63
    assert churn.other_files["qtcp_tasks/newTaskDefaults.yaml"] == {
        "knowledgeMart": {"llmSettings": {}},
        "fileBasedKnowledgeMart": {"llmSettings": {}},
    }
    transform_files = set(task_named(churn, "CHURN TRANSFORM").files)
    assert {
        "model.yaml",
        "transformationDataFlows/SENTIMENT_ANALYSIS.yaml",
        "datasets/SERVICE_RATINGS.yaml",
    } <= (transform_files)


def test_fixture_import_keeps_qlik_scalars_that_yaml_1_1_would_convert(churn: ProjectDefinition) -> None:
    account = task_named(churn, "SALESFORCE TRANSFORM").files["datasets/ACCOUNT.yaml"]
    assert account["properties"]["datasetAttributes"]["hasLiveViews"] == "OFF"
    schedule = task_named(churn, "CHURN STORAGE").files["schedule.yaml"]
    assert schedule["scheduling"][0]["timeBasedScheduling"]["startDateTime"] == "2024-09-18T15:19:15.3900000Z"


def test_churn_storage_datasets_read_from_churn_landing(churn: ProjectDefinition) -> None:
    storage = task_named(churn, "CHURN STORAGE")
    datasets = {dataset.id: (dataset.name, dataset.inputs) for dataset in storage.datasets()}
    assert datasets == {
        "service_data-kyi1": ("service_data", [("churn_landing-wjkl", "service_data")]),
        "subscriptions-kyi2": ("subscriptions", [("churn_landing-wjkl", "subscriptions")]),
        "usage_data-kyi3": ("usage_data", [("churn_landing-wjkl", "usage_data")]),
    }
    assert storage.upstream_task_ids() == {"churn_landing-wjkl"}


def test_transform_and_mart_depend_on_the_tasks_they_read(churn: ProjectDefinition) -> None:
    assert task_named(churn, "CHURN TRANSFORM").upstream_task_ids() == {
        "storage-0ivk",
        "demographics_storage-bx34",
    }
    assert task_named(churn, "DATA MART").upstream_task_ids() == {
        "transform-drwz",
        "salesforce_transform-aaqj",
    }
    assert task_named(churn, "DEMOGRAPHICS STORAGE").upstream_task_ids() == {"demographics_registered-bx33"}
    assert task_named(churn, "CHURN LANDING").upstream_task_ids() == set()


def test_landing_datasets_come_from_its_explicit_source_selection(churn: ProjectDefinition) -> None:
    landing = task_named(churn, "SALESFORCE LANDING")
    assert [(dataset.id, dataset.name, dataset.inputs) for dataset in landing.datasets()] == [
        ("account", "account", []),
        ("contact", "contact", []),
        ("opportunity", "opportunity", []),
        ("user", "user", []),
    ]


def test_variables_used_lists_plain_variables_but_not_functions(churn: ProjectDefinition) -> None:
    landing = task_named(churn, "CHURN LANDING")
    assert landing.variables_used() == {
        "task.churn_landing-wjkl.sourceConnection",
        "task.churn_landing-wjkl.taskSchema",
        "task.churn_landing-wjkl.databaseName",
        "task.churn_landing-wjkl:null$_$churn.schema",
    }
    transform = task_named(churn, "CHURN TRANSFORM")  # its files also hold {{ref(...)}} and {{id(dataflow, ...)}}
    assert transform.variables_used() == {
        "task.transform-drwz.internalSchema",
        "task.transform-drwz.taskSchema",
        "task.transform-drwz.databaseName",
        "task.transform-drwz.warehouseName",
    }


def test_every_variable_the_fixture_uses_is_declared(churn: ProjectDefinition) -> None:
    assert churn.variables_used() <= churn.bindings_definition.keys()


def test_is_cdc_follows_the_landing_fetch_interval_and_full_load_only(churn: ProjectDefinition) -> None:
    cdc = {task.name for task in churn.tasks if task.is_cdc()}
    assert cdc == {"CHURN LANDING"}  # SALESFORCE LANDING has no change-fetch interval; storages are batches


def test_is_cdc_for_replication_unless_full_load_only() -> None:
    assert new_task_definition("ORDERS", "REPLICATION", cdc=True).is_cdc()
    assert not new_task_definition("ORDERS", "REPLICATION", cdc=False).is_cdc()
    landing = new_task_definition("ERP LANDING", "LANDING", cdc=True)
    assert landing.is_cdc()
    landing.files["task.yaml"]["settings"]["fullLoadOnly"] = True
    assert not landing.is_cdc()
    assert not new_task_definition("ERP LANDING", "LANDING", cdc=False).is_cdc()


def test_order_tasks_puts_landings_before_storages_before_transforms_before_the_mart(
    churn: ProjectDefinition,
) -> None:
    ordered = order_tasks(list(reversed(churn.tasks)))
    assert sorted(task.id for task in ordered) == sorted(task.id for task in churn.tasks)
    types = [task.type for task in ordered]
    assert types == sorted(types, key=type_rank)
    assert ordered[-1].name == "DATA MART"
    position = {task.id: index for index, task in enumerate(ordered)}
    for task in ordered:
        assert all(position[upstream] < position[task.id] for upstream in task.upstream_task_ids())


def test_order_tasks_follows_links_over_type_rank() -> None:
    transform = new_task_definition("EARLY TRANSFORM", "TRANSFORM", task_id="early-aaaa")
    storage = new_task_definition(
        "LATE STORAGE", "STORAGE", task_id="late-bbbb", datasets=[("X", [("early-aaaa", "x-1")])]
    )
    assert [task.id for task in order_tasks([storage, transform])] == ["early-aaaa", "late-bbbb"]


def test_order_tasks_returns_each_task_once_despite_a_cycle() -> None:
    first = new_task_definition("A", "STORAGE", task_id="a-0001", datasets=[("X", [("b-0002", "y")])])
    second = new_task_definition("B", "STORAGE", task_id="b-0002", datasets=[("Y", [("a-0001", "x")])])
    landing = new_task_definition("L", "LANDING", task_id="l-0003")
    ordered = order_tasks([first, second, landing])
    assert [task.id for task in ordered][0] == "l-0003"
    assert sorted(task.id for task in ordered) == ["a-0001", "b-0002", "l-0003"]


def test_slug_task_id_is_qlik_shaped_deterministic_and_avoids_existing_ids() -> None:
    task_id = slug_task_id("CHURN LANDING", set(), seed="project-1")
    assert re.fullmatch(r"churn_landing-[a-z0-9_]{4}", task_id)
    assert slug_task_id("CHURN LANDING", set(), seed="project-1") == task_id
    assert slug_task_id("CHURN LANDING", {task_id}, seed="project-1") != task_id
    other_seeds = {slug_task_id("CHURN LANDING", set(), seed=f"project-{n}") for n in range(2, 6)}
    assert other_seeds - {task_id}
    assert slug_task_id("Ventes / Région", set(), seed=1).startswith("ventes_r_gion-")


def test_new_landing_task_selects_tables_through_its_source_connection_variable() -> None:
    landing = new_task_definition(
        "ERP LANDING",
        "LANDING",
        task_id="erp_landing-ab12",
        datasets=[("orders", [])],
        schema="erp",
        cdc=True,
    )
    selection = landing.files["sourceSelection.yaml"]
    assert selection["sourceConnection"] == "{{task.erp_landing-ab12.sourceConnection}}"
    assert selection["explicitlySelected"] == [
        {"name": "orders", "schema": "{{task.erp_landing-ab12:null$_$erp.schema}}", "type": "TABLE"}
    ]
    assert [dataset.id for dataset in landing.datasets()] == ["orders"]
    assert landing.files["task.yaml"]["properties"] == {
        "name": "ERP LANDING",
        "id": "erp_landing-ab12",
        "type": "LANDING",
    }
    without_source = new_task_definition("X LANDING", "LANDING", source_connection=False)
    assert "sourceConnection" not in without_source.files["sourceSelection.yaml"]


def test_new_storage_task_writes_one_dataset_file_per_dataset_and_its_upstream() -> None:
    storage = new_task_definition(
        "ERP STORAGE",
        "STORAGE",
        task_id="erp_storage-cd34",
        datasets=[("orders", [("erp_landing-ab12", "orders")]), ("lines", [("erp_landing-ab12", "lines")])],
    )
    assert storage.files["sourceSelection.yaml"] == {
        "includePatterns": [{"sourceTask": "erp_landing-ab12", "tablePattern": "%"}]
    }
    datasets = storage.datasets()
    assert [(dataset.name, dataset.inputs) for dataset in datasets] == [
        ("lines", [("erp_landing-ab12", "lines")]),
        ("orders", [("erp_landing-ab12", "orders")]),
    ]
    assert all(re.fullmatch(rf"{dataset.name}-[a-z0-9_]{{4}}", dataset.id) for dataset in datasets)
    assert storage.upstream_task_ids() == {"erp_landing-ab12"}
    assert "{{task.erp_storage-cd34.warehouseName}}" in str(storage.files["task.yaml"])


def test_new_task_definition_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown task type 'LANDINGG'"):
        new_task_definition("X", "LANDINGG")


def test_default_bindings_definition_declares_every_task_variable_with_type_defaults() -> None:
    landing = new_task_definition("A LANDING", "LANDING", task_id="a_landing-0001", schema="s", datasets=[("t", [])])
    storage = new_task_definition("A STORAGE", "STORAGE", task_id="a_storage-0002")
    definition = default_bindings_definition([landing, storage], "SNOWFLAKE")
    assert landing.variables_used() | storage.variables_used() <= definition.keys()
    assert definition["task.a_storage-0002.warehouseName"] == "{{task-type.storage.warehouseName}}"
    assert definition["task.a_landing-0001.sourceConnection"] == ""
    assert definition["platformConnection"] == ""
    qvd = default_bindings_definition(
        [new_task_definition("Q", "QVD_STORAGE", task_id="q-0003", platform_type="QLIK_QVD")], "QLIK_QVD"
    )
    assert "platformConnection" not in qvd
    assert not any(name.endswith(("databaseName", "warehouseName")) for name in qvd)


def test_bindings_for_overrides_defaults_and_refuses_undeclared_variables() -> None:
    definition = {"projectName": "", "task.a-1.databaseName": "{{task-type.landing.databaseName}}"}
    assert bindings_for(definition, {"projectName": "P"}) == {
        "projectName": "P",
        "task.a-1.databaseName": "{{task-type.landing.databaseName}}",
    }
    with pytest.raises(ValueError, match="typo"):
        bindings_for(definition, {"typo": "x"})


def test_fixture_task_files_are_kept_exactly_as_exported(churn: ProjectDefinition) -> None:
    # the fixture is a MINIMAL export: stripping defaults on import must not change any of its files
    with zipfile.ZipFile(FIXTURE_ZIP) as archive:
        for task in churn.tasks:
            for path, content in task.files.items():
                assert content == load_yaml(archive.read(f"qtcp_tasks/{task.name}/{path}").decode()), path
