"""A project's lineage from its design: the real Qlik export (landing → storage → transform → data mart), the
emulator's demo projects as the server reads them on a tenant, and the designs a broken import can leave."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from qdi_data import FIXTURE_ZIP
from qdi_testkit import CUSTOMER_360, open_stack

from qdi_mcp.tools.lineage import LINEAGE_TTL_SECONDS, Read, forget, lineage_of, project_lineage
from qdi_mcp.tools.project_design import read_project_zip


@pytest.fixture(scope="module")
def churn() -> bytes:
    return FIXTURE_ZIP.read_bytes()  # the real export (tests/data/README.md)


def test_the_real_export_gives_each_task_its_stage_and_neighbours(churn: bytes) -> None:
    lineage = lineage_of(read_project_zip(churn))
    names = [[lineage.name(task_id) for task_id in stage] for stage in lineage.stages()]
    assert names == [
        ["CHURN LANDING", "DEMOGRAPHICS REGISTERED", "SALESFORCE LANDING"],
        ["CHURN STORAGE", "DEMOGRAPHICS STORAGE", "SALESFORCE STORAGE"],
        ["CHURN TRANSFORM", "SALESFORCE TRANSFORM"],
        ["DATA MART"],
    ]
    transform = lineage.tasks["transform-drwz"]
    assert transform.upstream == ("demographics_storage-bx34", "storage-0ivk")
    assert transform.downstream == ("data_mart-5anr",)
    assert lineage.missing == {} and lineage.cycle == ()


def test_downstream_is_every_task_reached_in_stage_order(churn: bytes) -> None:
    lineage = lineage_of(read_project_zip(churn))
    downstream = [lineage.name(t) for t in lineage.downstream_of("churn_landing-wjkl")]
    assert downstream == ["CHURN STORAGE", "CHURN TRANSFORM", "DATA MART"]
    assert lineage.downstream_of("data_mart-5anr") == []


def test_readers_of_datasets_follow_what_each_task_selects(churn: bytes) -> None:
    lineage = lineage_of(read_project_zip(churn))
    # DEMOGRAPHICS STORAGE selects one table of DEMOGRAPHICS REGISTERED by name (explicitlySelected).
    assert lineage.readers_of("demographics_registered-bx33", ["DEMOGRAPHICS"]) == ["demographics_storage-bx34"]
    assert lineage.readers_of("demographics_registered-bx33", ["SOMETHING_ELSE"]) == []
    # CHURN STORAGE takes every table of CHURN LANDING (tablePattern '%'); omitted datasets mean all of them.
    assert lineage.readers_of("churn_landing-wjkl", ["usage_data"]) == ["storage-0ivk"]
    assert lineage.readers_of("churn_landing-wjkl") == ["storage-0ivk"]


@pytest.mark.parametrize(
    ("read", "names", "covered"),
    [
        (Read("t", pattern="%"), ["anything"], True),
        (Read("t", pattern="sales_%"), ["SALES_2024"], True),
        (Read("t", pattern="sales_%"), ["orders"], False),
        (Read("t", pattern="a_c"), ["abc"], True),
        (Read("t", pattern="a.c"), ["abc"], False),  # a dot is a dot in LIKE, not any character
        (Read("t", table="Account"), ["account"], True),
        (Read("t", table="Account"), ["Contact"], False),
        (Read("t"), ["whatever"], True),
    ],
)
def test_a_read_covers_datasets_by_like_pattern_or_name(read: Read, names: list[str], covered: bool) -> None:
    assert read.covers(names) is covered


def _design(selections: dict[str, list[str]]) -> bytes:
    """A YAML export whose tasks read the listed upstream task ids."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("qtcp_project.yaml", "properties: {name: p}\n")
        for task_id, upstream in selections.items():
            folder = f"qtcp_tasks/{task_id.upper()}/"
            archive.writestr(folder + "task.yaml", f"properties: {{name: {task_id.upper()}, id: {task_id}, type: X}}\n")
            patterns = "".join(f"  - {{sourceTask: {source}, tablePattern: '%'}}\n" for source in upstream)
            archive.writestr(folder + "sourceSelection.yaml", "includePatterns:\n" + patterns if upstream else "{}\n")
    return buffer.getvalue()


def test_a_cycle_leaves_its_tasks_and_those_behind_it_without_a_stage() -> None:
    lineage = lineage_of(read_project_zip(_design({"a": [], "b": ["a", "c"], "c": ["b"], "d": ["c"]})))
    assert lineage.tasks["a"].stage == 0
    assert lineage.cycle == ("b", "c", "d")
    assert [task.stage for task in (lineage.tasks["b"], lineage.tasks["d"])] == [None, None]
    assert lineage.stages() == [["a"]]


def test_a_reference_to_a_task_not_in_the_project_is_reported_not_followed() -> None:
    lineage = lineage_of(read_project_zip(_design({"a": ["gone"], "b": ["a"]})))
    assert lineage.missing == {"a": ("gone",)}
    assert lineage.tasks["a"].upstream == () and lineage.tasks["a"].stage == 0
    assert lineage.tasks["b"].stage == 1


@pytest.mark.anyio
async def test_the_demo_projects_export_their_lineage_and_it_is_kept_briefly(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        lineage = await project_lineage(stack.client, pid)
        names = [[lineage.name(task_id) for task_id in stage] for stage in lineage.stages()]
        assert names == [
            ["CRM LANDING", "ERP LANDING"],
            ["CRM STORAGE", "ERP STORAGE"],
            ["CUSTOMER TRANSFORM"],
            ["SALES MART"],
        ]
        assert lineage.tasks[stack.task_id(CUSTOMER_360, "SALES MART")].upstream == (
            stack.task_id(CUSTOMER_360, "CUSTOMER TRANSFORM"),
            stack.task_id(CUSTOMER_360, "ERP STORAGE"),
        )
        exports = stack.emulator.requests["export_project"]
        assert await project_lineage(stack.client, pid) is lineage
        assert stack.emulator.requests["export_project"] == exports
        stack.clock.advance(LINEAGE_TTL_SECONDS + 1)  # type: ignore[attr-defined]
        await project_lineage(stack.client, pid)
        assert stack.emulator.requests["export_project"] == exports + 1
        await forget(stack.client)
        await project_lineage(stack.client, pid)
        assert stack.emulator.requests["export_project"] == exports + 2


@pytest.mark.anyio
async def test_a_write_through_the_server_forgets_the_kept_lineage(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(CUSTOMER_360)
        await project_lineage(stack.client, pid)
        exports = stack.emulator.requests["export_project"]
        args = {"project_id": pid, "task_id": stack.task_id(CUSTOMER_360, "CRM STORAGE"), "reload_strategy": "NONE"}
        result = await stack.mcp.call_tool("qdi_request_task_reload", args)
        assert not result.is_error
        await project_lineage(stack.client, pid)
        assert stack.emulator.requests["export_project"] == exports + 1


def test_a_transform_reads_the_datasets_its_own_datasets_name_as_inputs() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("qtcp_project.yaml", "properties: {name: p}\n")
        archive.writestr("qtcp_tasks/S/task.yaml", "properties: {name: S, id: s, type: STORAGE}\n")
        archive.writestr("qtcp_tasks/T/task.yaml", "properties: {name: T, id: t, type: TRANSFORM}\n")
        archive.writestr(
            "qtcp_tasks/T/datasets/OUT.yaml",
            "properties:\n  name: OUT\n  inputDatasets:\n    - {datasetId: orders-k2, name: ORDERS, taskId: s}\n",
        )
    lineage = lineage_of(read_project_zip(buffer.getvalue()))
    assert lineage.tasks["t"].upstream == ("s",) and lineage.tasks["t"].stage == 1
    assert lineage.readers_of("s", ["orders-k2"]) == ["t"]
    assert lineage.readers_of("s", ["orders"]) == ["t"]
    assert lineage.readers_of("s", ["customers-x1", "CUSTOMERS"]) == []
