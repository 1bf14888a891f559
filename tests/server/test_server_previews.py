"""Previews are filled in from each tool's spec (`preview:`): a wrapping "…_and_wait" tool shows what the tool it
wraps shows, and a call that can be narrowed states the scope its token is bound to."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdi_testkit import ORDERS, open_stack

from qdi_mcp.specs import load_specs

pytestmark = pytest.mark.anyio


async def test_a_truncate_reload_preview_names_the_datasets_its_token_is_bound_to(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(ORDERS)
        tid = stack.emulator.tasks(pid)[0]["id"]
        args = {"project_id": pid, "task_id": tid, "reload_strategy": "TRUNCATE"}
        narrowed = await stack.mcp.call_tool("qdi_request_task_reload", args | {"dataset_ids": ["orders", "payments"]})
        everything = await stack.mcp.call_tool("qdi_request_task_reload", args)
    assert narrowed.structured_content["preview"]["scope"] == "only dataset_ids orders, payments"
    # The question is said once, in the summary line the model reads; the structured message only says what to do.
    assert "Scope: only dataset_ids orders, payments." in narrowed.content[0].text.partition("\n")[0]
    assert "Scope:" not in narrowed.structured_content["message"]
    assert everything.structured_content["preview"]["scope"] == "all datasets of the task"


async def test_a_wait_tool_previews_exactly_what_the_tool_it_wraps_previews(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(ORDERS)
        args = {"project_id": pid, "task_id": stack.emulator.tasks(pid)[0]["id"]}
        alone = await stack.mcp.call_tool("qdi_stop_task", args)
        waiting = await stack.mcp.call_tool("qdi_stop_task_and_wait", args)
    assert alone.structured_content["preview"] == waiting.structured_content["preview"]
    assert waiting.structured_content["preview"]["action"] == "stop task"


def test_every_tool_that_can_be_destructive_has_a_preview_and_no_other_tool_has_one() -> None:
    for spec in load_specs():
        assert (spec.preview is not None) == spec.can_be_destructive, spec.name


def test_wrapping_tools_take_the_facts_of_the_tool_they_wrap_and_are_named_by_it() -> None:
    specs = {spec.name: spec for spec in load_specs()}
    wrapping = [spec for spec in specs.values() if spec.wraps]
    # qdi_run_project_and_wait starts many tasks, not what one endpoint tool starts: it wraps nothing.
    single = {name for name in specs if name.endswith("_and_wait")} - {"qdi_run_project_and_wait"}
    assert {spec.name for spec in wrapping} == single
    for spec in wrapping:
        wrapped = specs[spec.wraps]
        assert (spec.preview, spec.hints, spec.resume_with, spec.binds_file) == (
            wrapped.preview,
            wrapped.hints,
            wrapped.resume_with,
            wrapped.binds_file,
        )
        assert wrapped.wrapped_by == spec.name


async def test_a_prepare_preview_says_whether_it_covers_a_subset_or_the_whole_project(tmp_path: Path) -> None:
    # issue 15, "previews hide scope": a subset and the whole project showed identical previews.
    async with open_stack(tmp_path) as stack:
        pid = stack.project_id(ORDERS)
        tid = stack.emulator.tasks(pid)[0]["id"]
        args = {"project_id": pid, "allow_recreate": True}
        subset = await stack.mcp.call_tool("qdi_prepare_project", args | {"selected_task_ids": [tid]})
        whole = await stack.mcp.call_tool("qdi_prepare_project", args)
    assert subset.structured_content["preview"]["scope"] == f"only selected_task_ids {tid}"
    assert whole.structured_content["preview"]["scope"] == "all tasks of the project"
    assert subset.structured_content["preview"] != whole.structured_content["preview"]
