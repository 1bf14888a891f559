"""The diff engine of issue 16: reading both export formats, comparing designs and bindings, the binding impact."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdi_data import FIXTURE_ZIP

from qdi_mcp.tools import project_design
from qdi_mcp.tools.project_design import ProjectDesign, ProjectFileError, TaskDesign
from qdi_mcp.tools.project_diff import MAX_NAMES, binding_impact, diff_designs, read_project_zip

FIXTURE_TASKS = {
    "CHURN LANDING": 0,
    "CHURN STORAGE": 3,
    "CHURN TRANSFORM": 6,
    "DATA MART": 9,
    "DEMOGRAPHICS REGISTERED": 0,
    "DEMOGRAPHICS STORAGE": 1,
    "SALESFORCE LANDING": 0,
    "SALESFORCE STORAGE": 4,
    "SALESFORCE TRANSFORM": 6,
}


@pytest.fixture(scope="module")
def churn_bytes() -> bytes:
    return FIXTURE_ZIP.read_bytes()


@pytest.fixture(scope="module")
def churn(churn_bytes: bytes) -> ProjectDesign:
    return read_project_zip(churn_bytes)


def rewrite(data: bytes, edit: Callable[[dict[str, bytes]], None]) -> bytes:
    """The zip with its entries edited in memory (`edit` may change, add or delete entries)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    edit(entries)
    return make_zip(entries)


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def edit_bindings(entries: dict[str, bytes], change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(entries["bindings.json"])
    change(document["variables"])
    entries["bindings.json"] = json.dumps(document).encode()


# ---------------------------------------------------------------------------------------------- reading


def test_the_real_yaml_export_parses_into_its_nine_tasks_and_bindings(churn: ProjectDesign) -> None:
    assert churn.format == "YAML"
    assert {task.name: len(task.datasets) for task in churn.tasks.values()} == FIXTURE_TASKS
    storage = churn.tasks["storage-0ivk"]
    assert (storage.name, storage.type) == ("CHURN STORAGE", "STORAGE")
    assert storage.source_selection == {"includePatterns": [{"sourceTask": "churn_landing-wjkl", "tablePattern": "%"}]}
    assert sorted(storage.files) == ["schedule.yaml", "transformationRules.yaml"]
    assert storage.datasets["subscriptions"].settings["properties"]["id"] == "subscriptions-kyi2"
    # YAML 1.2 scalars, as Qlik means them: an unquoted timestamp stays a string (and JSON-ready)
    schedule = storage.files["schedule.yaml"]["scheduling"][0]["timeBasedScheduling"]
    assert schedule["startDateTime"] == "2024-09-18T15:19:15.3900000Z"
    assert churn.bindings is not None and len(churn.bindings) == 78
    assert churn.bindings["projectName"] == "E2E Customer Churn"
    assert "task.storage-0ivk.taskSchema" in churn.variables()
    # functions are not variables
    assert not any(name.startswith("id(") for name in churn.variables())


def test_the_identity_of_a_task_is_not_part_of_its_settings(churn: ProjectDesign) -> None:
    landing = churn.tasks["churn_landing-wjkl"]
    assert "properties" not in landing.settings  # name, id and type were all it had
    assert landing.settings["settings"]["landingAppRuntime"] == {"sourceCdcFetchIntervalMinutes": 60}


# ---------------------------------------------------------------------------------------------- comparing


def test_a_zip_diffed_against_itself_has_no_differences(churn_bytes: bytes, churn: ProjectDesign) -> None:
    diff = diff_designs(churn, read_project_zip(churn_bytes))
    assert diff.equal and diff.summary == "no differences"
    compact = diff.to_dict()
    assert compact["tasks"]["counts"] == {"added": 0, "removed": 0, "changed": 0}
    assert compact["bindings"]["counts"] == {"added": 0, "dropped": 0, "emptied": 0, "changed": 0}
    # 316 bytes of JSON for the 9-task fixture
    assert len(json.dumps(compact)) < 500
    assert diff_designs(churn, churn, detail=True).to_dict()["tasks"]["changed"] == []


def test_planted_changes_are_each_reported(churn_bytes: bytes, churn: ProjectDesign) -> None:
    def plant(entries: dict[str, bytes]) -> None:
        for name in [name for name in entries if name.startswith("qtcp_tasks/SALESFORCE LANDING/")]:
            del entries[name]  # a task removed
        entries["qtcp_tasks/AUDIT LANDING/task.yaml"] = (
            b"properties:\n  name: AUDIT LANDING\n  id: audit-1\n  type: LANDING\n"
        )
        entries["qtcp_tasks/DATA MART/datasets/DIM_NEW.yaml"] = b"properties:\n  id: dim_new-1\n  name: DIM_NEW\n"
        landing = "qtcp_tasks/CHURN LANDING/task.yaml"
        entries[landing] = entries[landing].replace(
            b"sourceCdcFetchIntervalMinutes: 60", b"sourceCdcFetchIntervalMinutes: 5"
        )

        def bindings(variables: dict[str, Any]) -> None:
            del variables["task-type.landing.warehouseName"]  # dropped
            variables["task-type.storage.databaseName"] = ""  # emptied
            variables["task-type.transform.warehouseName"] = "BIG_WH"  # changed
            variables["task.audit-1.taskSchema"] = "AUDIT"  # added

        edit_bindings(entries, bindings)

    incoming = read_project_zip(rewrite(churn_bytes, plant))
    diff = diff_designs(churn, incoming)

    assert diff.summary == "+1 task, -1 task, 2 changed, bindings: 1 added, 1 dropped, 1 emptied, 1 changed"
    compact = diff.to_dict()
    assert compact["tasks"]["added"] == [{"name": "AUDIT LANDING", "id": "audit-1", "type": "LANDING"}]
    assert compact["tasks"]["removed"] == [
        {"name": "SALESFORCE LANDING", "id": "salesforce_landing-_h7t", "type": "LANDING"}
    ]
    changed = {task["name"]: task for task in compact["tasks"]["changed"]}
    assert changed["CHURN LANDING"]["changed"] == ["settings"]
    assert changed["DATA MART"]["changed"] == ["datasets"]
    assert changed["DATA MART"]["datasets"] == {"added": ["DIM_NEW"]}
    assert compact["bindings"] == {
        "added": ["task.audit-1.taskSchema"],
        "dropped": ["task-type.landing.warehouseName"],
        "emptied": ["task-type.storage.databaseName"],
        "changed": ["task-type.transform.warehouseName"],
        "counts": {"added": 1, "dropped": 1, "emptied": 1, "changed": 1},
    }
    assert "details" not in changed["CHURN LANDING"]  # compact unless asked

    detailed = diff_designs(churn, incoming, detail=True).to_dict()
    landing = next(task for task in detailed["tasks"]["changed"] if task["name"] == "CHURN LANDING")
    assert landing["details"] == [
        {"path": "settings.landingAppRuntime.sourceCdcFetchIntervalMinutes", "old": 60, "new": 5}
    ]
    assert {"path": "task-type.transform.warehouseName", "old": "SALES_WH", "new": "BIG_WH"} in detailed["bindings"][
        "details"
    ]


def test_source_selection_schedule_and_dataset_settings_changes_are_named(
    churn_bytes: bytes, churn: ProjectDesign
) -> None:
    def plant(entries: dict[str, bytes]) -> None:
        folder = "qtcp_tasks/CHURN STORAGE/"
        entries[folder + "sourceSelection.yaml"] = entries[folder + "sourceSelection.yaml"].replace(b"'%'", b"'cust%'")
        entries[folder + "schedule.yaml"] = entries[folder + "schedule.yaml"].replace(b"INTERVAL=15", b"INTERVAL=30")
        del entries[folder + "datasets/usage_data.yaml"]
        entries[folder + "datasets/service_data.yaml"] += b"  description: now documented\n"

    diff = diff_designs(churn, read_project_zip(rewrite(churn_bytes, plant)), detail=True).to_dict()
    (storage,) = diff["tasks"]["changed"]
    assert storage["changed"] == ["source_selection", "datasets", "files"]
    assert storage["datasets"] == {"removed": ["usage_data"], "changed": ["service_data"]}
    assert storage["files"] == ["schedule.yaml"]
    paths = [detail["path"] for detail in storage["details"]]
    assert "source_selection.includePatterns[0].tablePattern" in paths
    assert "schedule.yaml:scheduling[0].timeBasedScheduling.schedule[0]" in paths
    assert "datasets.service_data.properties.description" in paths


def test_tasks_match_by_id_across_a_rename_and_by_name_across_a_new_id(
    churn_bytes: bytes, churn: ProjectDesign
) -> None:
    def plant(entries: dict[str, bytes]) -> None:
        renamed = "qtcp_tasks/CHURN LANDING/task.yaml"
        entries[renamed] = entries[renamed].replace(b"name: CHURN LANDING", b"name: CHURN INGEST")
        recreated = "qtcp_tasks/DATA MART/task.yaml"
        entries[recreated] = entries[recreated].replace(b"id: data_mart-5anr", b"id: data_mart-new1")

    changed = {
        task["id"]: task
        for task in diff_designs(churn, read_project_zip(rewrite(churn_bytes, plant))).to_dict()["tasks"]["changed"]
    }
    assert changed["churn_landing-wjkl"] == {
        "name": "CHURN INGEST",
        "id": "churn_landing-wjkl",
        "changed": ["name"],
        "previous_name": "CHURN LANDING",
    }
    assert changed["data_mart-new1"]["changed"] == ["id"]
    assert changed["data_mart-new1"]["previous_id"] == "data_mart-5anr"


def test_bindings_null_and_empty_are_both_no_value_and_unknown_bindings_are_not_compared(churn: ProjectDesign) -> None:
    assert churn.bindings is not None
    nulls = {name: None if value == "" else value for name, value in churn.bindings.items()}
    assert diff_designs(churn, churn, incoming_bindings=nulls).equal
    without = ProjectDesign(settings=churn.settings, tasks=churn.tasks, files=churn.files, bindings=None)
    diff = diff_designs(churn, without)
    assert diff.bindings is None and diff.to_dict()["bindings"] is None
    assert diff.summary == "no differences in the design; bindings not compared"
    emptied = dict(churn.bindings, projectName=None)
    assert diff_designs(churn, without, incoming_bindings=emptied).summary == "bindings: 1 emptied"


def test_binding_values_shown_pass_through_the_mask(churn: ProjectDesign) -> None:
    secret = "s3cr3t-token-value"
    current = dict(churn.bindings or {}, apiToken=secret, oldToken=secret)
    incoming = dict(churn.bindings or {}, apiToken="other", newToken=secret)
    diff = diff_designs(
        churn,
        churn,
        current_bindings=current,
        incoming_bindings=incoming,
        detail=True,
        mask=lambda text: text.replace(secret, "***"),
    )
    shown = json.dumps(diff.to_dict())
    assert secret not in shown
    assert diff.to_dict()["bindings"]["details"] == [
        {"path": "newToken", "new": "***"},
        {"path": "oldToken", "old": "***"},
        {"path": "apiToken", "old": "***", "new": "other"},
    ]


def test_a_large_change_stays_small_in_compact_form_and_details_are_capped(
    churn_bytes: bytes, churn: ProjectDesign
) -> None:
    def rewrite_everything(entries: dict[str, bytes]) -> None:
        for name in list(entries):
            if name.startswith("qtcp_tasks/") and name.endswith(".yaml"):
                entries[name] = (
                    entries[name].replace(b"'", b'"').replace(b"TABLE", b"VIEW").replace(b"name: ", b"name: X_")
                )
        edit_bindings(entries, lambda variables: variables.update({name: "changed" for name in variables}))

    incoming = read_project_zip(rewrite(churn_bytes, rewrite_everything))
    compact = json.dumps(diff_designs(churn, incoming).to_dict())
    detailed = diff_designs(churn, incoming, detail=True).to_dict()
    # every task and dataset renamed, 78 bindings changed: 4,051 bytes compact; the detail is capped
    assert len(compact) < 5000
    assert len(json.dumps(detailed)) < 40_000
    assert all(len(task["details"]) <= 21 for task in detailed["tasks"]["changed"])
    assert detailed["bindings"]["details"][-1] == {"path": "...", "more": 78 - 20}
    assert detailed["bindings"]["changed"][-1] == f"... {78 - MAX_NAMES} more"


@st.composite
def designs(draw: st.DrawFn) -> ProjectDesign:
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
        max_leaves=5,
    )
    settings_dicts = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
    names = draw(st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=4))
    tasks = {
        f"id-{index}": TaskDesign(
            id=f"id-{index}",
            name=name,
            type=draw(st.sampled_from(["LANDING", "STORAGE"])),
            settings=draw(settings_dicts),
            source_selection=draw(settings_dicts),
            datasets={},
            files=draw(st.dictionaries(st.sampled_from(["schedule.yaml", "model.yaml"]), json_values, max_size=2)),
        )
        for index, name in enumerate(names)
    }
    bindings = draw(st.none() | st.dictionaries(st.text(max_size=6), st.none() | st.text(max_size=4), max_size=4))
    return ProjectDesign(settings=draw(settings_dicts), tasks=tasks, bindings=bindings)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_any_design_diffed_with_itself_has_no_differences(design: ProjectDesign) -> None:
    diff = diff_designs(design, design, detail=True)
    assert diff.equal
    assert diff.summary.startswith("no differences")


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(designs(), designs())
def test_a_diff_reversed_swaps_added_and_removed(first: ProjectDesign, second: ProjectDesign) -> None:
    forward, backward = diff_designs(first, second), diff_designs(second, first)
    assert [task.id for task in forward.tasks_added] == [task.id for task in backward.tasks_removed]
    assert len(forward.tasks_changed) == len(backward.tasks_changed)
    assert forward.equal == backward.equal
    if forward.bindings is not None and backward.bindings is not None:
        assert forward.bindings.added == backward.bindings.dropped


# ---------------------------------------------------------------------------------------------- binding impact


def test_binding_impact_names_what_an_import_drops_needs_and_keeps(churn: ProjectDesign) -> None:
    target_now = {"projectName": "PROD", "prod.only": "x", "platformConnection": "{{id(connection, PROD.sf)}}"}
    impact = binding_impact(target_now, churn.variables())
    assert impact.dropped == ["prod.only"]
    assert impact.kept == ["platformConnection", "projectName"]
    assert len(impact.need_value) == len(churn.variables()) - 2
    assert impact.summary == f"bindings: 1 dropped, {len(impact.need_value)} need a value, 2 kept"
    shown = impact.to_dict()
    # the names are capped (one more entry says how many are left out); the count in the summary stays exact
    assert len(impact.need_value) > MAX_NAMES
    assert shown["need_value"][-1] == f"... {len(impact.need_value) - MAX_NAMES} more"
    assert shown["kept_count"] == 2 and len(shown["need_value"]) == MAX_NAMES + 1 and "PROD.sf" not in json.dumps(shown)


def test_binding_impact_does_not_list_again_the_names_a_diff_already_lists(churn: ProjectDesign) -> None:
    impact = binding_impact({"projectName": "PROD"}, churn.variables())
    listed_by_diff = impact.need_value[:-2]
    shown = impact.to_dict(listed_elsewhere=listed_by_diff, listed_as="changes.bindings.added")
    assert shown["need_value"] == impact.need_value[-2:]
    assert shown["summary"].endswith("(those needing a value: changes.bindings.added and need_value)")
    everything = impact.to_dict(listed_elsewhere=impact.need_value, listed_as="changes.bindings.added")
    assert everything["need_value"] == [] and everything["summary"].endswith(": changes.bindings.added)")
    # nothing listed elsewhere: the summary is the plain one
    assert impact.to_dict()["summary"] == impact.summary


# ---------------------------------------------------------------------------------------------- hostile input


def test_something_that_is_not_a_zip_is_refused() -> None:
    with pytest.raises(ProjectFileError, match="not a valid zip file"):
        read_project_zip(b"PK\x03\x04 certainly not a zip")


def test_a_zip_without_a_project_file_is_refused_with_a_hint() -> None:
    with pytest.raises(ProjectFileError, match="not a Qlik project export"):
        read_project_zip(make_zip({"readme.txt": b"hello"}))
    with pytest.raises(ProjectFileError, match="zip the folder's contents"):
        read_project_zip(make_zip({"churn/qtcp_project.yaml": b"properties: {}\n"}))


def test_an_entry_larger_than_the_cap_is_refused_without_trusting_its_header() -> None:
    huge = b"\n" * (project_design.MAX_ENTRY_BYTES + 1)  # deflates to a few KB: a bomb in miniature
    with pytest.raises(ProjectFileError, match=r"qtcp_project\.yaml: entry is larger than"):
        read_project_zip(make_zip({"qtcp_project.yaml": huge}))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"qtcp_project.yaml": b"properties: [unclosed\n"}, r"qtcp_project\.yaml: invalid YAML at line"),
        ({"qtcp_project.yaml": b"- a list\n"}, "must be a mapping"),
        ({"qtcp_project.yaml": b"a: &x [1, 2]\nb: *x\n"}, "aliases"),
        ({"qtcp_project.yaml": b"{}\n", "qtcp_tasks/T/schedule.yaml": b"{}\n"}, r"T/task\.yaml: missing"),
        ({"qtcp_project.yaml": b"{}\n", "qtcp_tasks/T/task.yaml": b"properties:\n  name: T\n"}, "properties.id"),
        ({"qtcp_project.yaml": b"{}\n", "bindings.json": b"{not json"}, r"bindings\.json: invalid JSON"),
        ({"qtcp_project.yaml": b"\xff\xfe"}, "not UTF-8"),
        ({"qtcp_project.yaml": b"{}\n", "../evil.yaml": b"{}\n"}, "escapes the project root"),
        ({"project.json": b'{"tasks": ["t1"]}'}, r"tasks/t1\.json: listed in project\.json but missing"),
        ({"project.json": b'{"tasks": []}', "extra.bin": b"x"}, "not part of a LEGACY export"),
    ],
)
def test_broken_project_files_are_refused_naming_the_entry(entries: dict[str, bytes], message: str) -> None:
    with pytest.raises(ProjectFileError, match=message):
        read_project_zip(make_zip(entries))


def test_two_tasks_with_one_id_are_refused() -> None:
    task = b"properties:\n  name: %s\n  id: same\n  type: LANDING\n"
    entries = {
        "qtcp_project.yaml": b"{}\n",
        "qtcp_tasks/A/task.yaml": task % b"A",
        "qtcp_tasks/B/task.yaml": task % b"B",
    }
    with pytest.raises(ProjectFileError, match="two tasks have the id 'same'"):
        read_project_zip(make_zip(entries))


# ---------------------------------------------------------------------------------------------- both formats


async def emulator_exports(*modes: str) -> dict[str, ProjectDesign]:
    """One emulated project exported (with bindings) in each mode, through the API client."""
    from qdi_testkit import CUSTOMER_360, TENANT_URL

    from qdi_mcp.api import ApiKeyAuth, QlikClient
    from qdi_mcp.clock import ManualClock
    from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator

    emulator = Emulator(clock=ManualClock())
    auth = ApiKeyAuth(DEFAULT_API_KEY)
    async with QlikClient(TENANT_URL, auth=auth, transport=emulator.transport(), clock=emulator.clock) as client:
        project_id = emulator.project_id(CUSTOMER_360)
        return {
            mode: read_project_zip(await client.export_project(project_id, mode=mode, include_bindings=True))
            for mode in modes
        }


@pytest.mark.anyio
async def test_a_legacy_json_export_and_a_yaml_export_of_one_project_compare_equal() -> None:
    exports = await emulator_exports("MINIMAL", "LEGACY")
    legacy, yaml_export = exports["LEGACY"], exports["MINIMAL"]
    assert (legacy.format, yaml_export.format) == ("LEGACY", "YAML")
    assert len(legacy.tasks) == len(yaml_export.tasks) == 6
    assert legacy.bindings == yaml_export.bindings and legacy.bindings
    diff = diff_designs(yaml_export, legacy, detail=True)
    assert diff.summary == "no differences", diff.to_dict()
    # a planted change still shows across formats
    first = next(iter(legacy.tasks.values()))
    changed = TaskDesign(**{**vars(first), "settings": {**first.settings, "fullLoadOnly": True}})
    planted = ProjectDesign(**{**vars(legacy), "tasks": {**legacy.tasks, first.id: changed}})
    assert diff_designs(yaml_export, planted).summary == "1 changed"


@pytest.mark.anyio
async def test_an_all_export_differs_from_a_minimal_one_only_by_the_defaults_it_spells_out() -> None:
    # ALL writes default values that MINIMAL (and the emulator's LEGACY) leave out; the engine compares files as
    # they are, so a caller compares exports of one mode (see the report of issue 16's diff engine).
    exports = await emulator_exports("ALL", "MINIMAL")
    diff = diff_designs(exports["ALL"], exports["MINIMAL"], detail=True)
    assert not diff.tasks_added and not diff.tasks_removed and diff.bindings is not None
    assert all(change.changed == ["settings"] for change in diff.tasks_changed)
    removals = [detail.to_dict(mask=str) for change in diff.tasks_changed for detail in change.details]
    assert removals and all("old" in shown and "new" not in shown for shown in removals)
