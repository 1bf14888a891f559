"""Writing export zips: round trips, determinism, MINIMAL vs ALL, bindings, LEGACY."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from qdi_data import FIXTURE_ZIP

from qdi_mcp.emulator.demo import demo_tenant
from qdi_mcp.emulator.project_files import (
    ProjectDefinition,
    ProjectZipError,
    complete_bindings_definition,
    new_project_definition,
    new_task_definition,
    project_zip_format,
    read_project_zip,
    write_project_zip,
)
from qdi_mcp.emulator.yaml_codec import load_yaml


@pytest.fixture(scope="module")
def churn() -> ProjectDefinition:
    return read_project_zip(FIXTURE_ZIP.read_bytes())


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def tasks_by_id(project: ProjectDefinition) -> dict[str, Any]:
    return {task.id: task for task in project.tasks}


def count_leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(count_leaves(item) for item in value.values())
    if isinstance(value, list):
        return sum(count_leaves(item) for item in value)
    return 1


def assert_same_project(actual: ProjectDefinition, expected: ProjectDefinition) -> None:
    assert tasks_by_id(actual) == tasks_by_id(expected)
    assert actual.properties == expected.properties
    assert actual.settings == expected.settings
    assert actual.bindings_definition == expected.bindings_definition
    assert actual.other_files == expected.other_files
    assert actual.connection_properties == expected.connection_properties


@pytest.mark.parametrize("mode", ["MINIMAL", "ALL"])
def test_fixture_round_trip_gives_back_the_same_project(churn: ProjectDefinition, mode: str) -> None:
    again = read_project_zip(write_project_zip(churn, mode=mode, include_bindings=True))
    assert_same_project(again, churn)
    assert again.bindings == churn.bindings


def test_fixture_written_and_read_again_keeps_the_nine_tasks(churn: ProjectDefinition) -> None:
    again = read_project_zip(write_project_zip(churn))
    assert sorted((t.name, t.id, t.type) for t in again.tasks) == sorted((t.name, t.id, t.type) for t in churn.tasks)
    assert len(again.tasks) == 9


def test_minimal_export_has_the_same_entries_as_qlik_export(churn: ProjectDefinition) -> None:
    written = entries(write_project_zip(churn, include_bindings=True))
    original = entries(FIXTURE_ZIP.read_bytes())
    assert sorted(written) == sorted(original)
    # JSON files come out byte for byte as Qlik wrote them; YAML differs at most in quoting style
    assert written["bindings.json"] == original["bindings.json"]
    assert written["qtcp_bindings_definition.json"] == original["qtcp_bindings_definition.json"]
    for name in original:
        if name.endswith(".yaml"):
            assert load_yaml(written[name].decode()) == load_yaml(original[name].decode()), name


def test_writing_is_deterministic_with_fixed_timestamps_and_sorted_entries(churn: ProjectDefinition) -> None:
    first = write_project_zip(churn, mode="ALL", include_bindings=True)
    assert write_project_zip(churn, mode="ALL", include_bindings=True) == first
    assert write_project_zip(read_project_zip(first), mode="ALL", include_bindings=True) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not any(info.is_dir() for info in infos)


def test_all_writes_more_attributes_than_minimal_for_every_task(churn: ProjectDefinition) -> None:
    minimal = entries(write_project_zip(churn, mode="MINIMAL"))
    full = entries(write_project_zip(churn, mode="ALL"))
    for task_file in (name for name in minimal if name.endswith("/task.yaml")):
        minimal_yaml = load_yaml(minimal[task_file].decode())
        full_yaml = load_yaml(full[task_file].decode())
        assert count_leaves(full_yaml) > count_leaves(minimal_yaml), task_file
        assert full_yaml["properties"]["description"] == ""
        assert "description" not in minimal_yaml["properties"]
    storage = load_yaml(full["qtcp_tasks/DEMOGRAPHICS STORAGE/task.yaml"].decode())
    assert storage["settings"]["fullLoadOnly"] is True  # a non-default value is never replaced by a default


def test_minimal_omits_values_equal_to_their_default() -> None:
    storage = new_task_definition("S", "STORAGE", task_id="s-0001")
    storage.files["task.yaml"]["settings"]["fullLoadOnly"] = False
    project = new_project_definition(project_type="DATA_PIPELINE", platform_type="SNOWFLAKE", tasks=[storage])
    written = load_yaml(entries(write_project_zip(project))["qtcp_tasks/S/task.yaml"].decode())
    assert "fullLoadOnly" not in written["settings"]
    assert read_project_zip(write_project_zip(project)).tasks[0].is_cdc() is False


def test_include_bindings_writes_bindings_json_with_the_given_values(churn: ProjectDefinition) -> None:
    without = entries(write_project_zip(churn, include_bindings=False))
    assert "bindings.json" not in without
    assert "qtcp_bindings_definition.json" in without
    assert read_project_zip(write_project_zip(churn)).bindings is None

    chosen = dict(churn.bindings or {}, projectName="Churn PROD")
    written = entries(write_project_zip(churn, include_bindings=True, bindings=chosen))
    variables = json.loads(written["bindings.json"])["variables"]
    assert variables["projectName"] == "Churn PROD"
    assert variables["platformConnection"] == "{{id(connection, ChurnDB.target_snowflake_e2e)}}"


def test_bindings_without_values_default_to_the_definition() -> None:
    task = new_task_definition("A LANDING", "LANDING", task_id="a_landing-0001")
    project = new_project_definition(project_type="DATA_PIPELINE", platform_type="SNOWFLAKE", tasks=[task])
    again = read_project_zip(write_project_zip(project, include_bindings=True))
    assert again.bindings == project.bindings_definition


def test_definition_declares_every_variable_the_files_use(churn: ProjectDefinition) -> None:
    declared = dict(churn.bindings_definition)
    del declared["task.churn_landing-wjkl.sourceConnection"]
    del declared["task-type.landing.databaseName"]  # still referenced by another variable's default
    trimmed = ProjectDefinition(
        properties=churn.properties,
        settings=churn.settings,
        tasks=churn.tasks,
        bindings_definition=declared,
        other_files=churn.other_files,
    )
    definition = read_project_zip(write_project_zip(trimmed)).bindings_definition
    assert definition["task.churn_landing-wjkl.sourceConnection"] == ""
    assert definition["task-type.landing.databaseName"] == ""
    assert churn.variables_used() <= definition.keys()


@pytest.mark.parametrize("mode", ["MINIMAL", "ALL"])
def test_demo_projects_round_trip(mode: str) -> None:
    for project in demo_tenant().projects:
        data = write_project_zip(project.definition, mode=mode, include_bindings=True, bindings=project.bindings)
        again = read_project_zip(data)
        assert_same_project(again, project.definition)
        assert again.bindings == project.bindings


def test_task_names_that_are_not_valid_folder_names_still_round_trip() -> None:
    tasks = [
        new_task_definition("Sales / EMEA", "LANDING", task_id="sales_emea-0001"),
        new_task_definition("sales _ emea", "STORAGE", task_id="sales_emea-0002", description="Kept in storage"),
    ]
    tasks[0].files["notes.txt"] = b"\x00raw bytes stay bytes"
    project = new_project_definition(project_type="DATA_PIPELINE", platform_type="SNOWFLAKE", tasks=tasks)
    data = write_project_zip(project)
    assert "qtcp_tasks/Sales _ EMEA/task.yaml" in entries(data)
    again = read_project_zip(data)
    assert tasks_by_id(again) == tasks_by_id(project)
    assert tasks_by_id(again)["sales_emea-0002"].description == "Kept in storage"


def test_written_task_yaml_carries_the_task_identity_fields() -> None:
    task = new_task_definition("OLD NAME", "STORAGE", task_id="s-0001")
    task.name, task.description = "NEW NAME", "Renamed"
    project = new_project_definition(project_type="DATA_PIPELINE", platform_type="SNOWFLAKE", tasks=[task])
    written = entries(write_project_zip(project))
    assert load_yaml(written["qtcp_tasks/NEW NAME/task.yaml"].decode())["properties"] == {
        "name": "NEW NAME",
        "id": "s-0001",
        "type": "STORAGE",
        "description": "Renamed",
    }


def test_legacy_export_is_a_json_zip_that_reads_back_as_the_same_project(churn: ProjectDefinition) -> None:
    data = write_project_zip(churn, mode="LEGACY", include_bindings=True)
    written = entries(data)
    assert "qtcp_project.yaml" not in written
    project = json.loads(written["project.json"])
    assert project["properties"]["platformType"] == "SNOWFLAKE"
    assert json.loads(written["tasks/churn_landing-wjkl.json"])["name"] == "CHURN LANDING"
    assert len([name for name in written if name.startswith("tasks/")]) == 9
    # Qlik's sync import takes exactly this format today (qlik.dev di-projects reference): it must round-trip
    back = read_project_zip(data)
    assert back.tasks == churn.tasks and back.properties == churn.properties and back.settings == churn.settings
    assert back.bindings_definition == complete_bindings_definition(churn)
    assert back.other_files == churn.other_files and back.connection_properties == churn.connection_properties
    assert back.bindings is not None and back.bindings["projectName"] == churn.bindings["projectName"]
    assert project_zip_format(data) == "LEGACY"


def test_unknown_export_mode_is_refused(churn: ProjectDefinition) -> None:
    with pytest.raises(ValueError, match="unknown export mode 'FULL'"):
        write_project_zip(churn, mode="FULL")


def test_a_file_path_escaping_the_task_folder_is_refused_on_write() -> None:
    task = new_task_definition("A", "STORAGE", task_id="a-0001")
    task.files["../../evil.yaml"] = {"x": 1}
    project = new_project_definition(project_type="DATA_PIPELINE", platform_type="SNOWFLAKE", tasks=[task])
    with pytest.raises(ProjectZipError) as raised:
        write_project_zip(project)
    assert raised.value.file == "../../evil.yaml"
