"""Rules every tool spec in tool_specs/ must follow, checked against the design's tables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp.types
import pytest
import yaml
from jsonschema import Draft202012Validator

import qdi_mcp.specs.loader as specs_module
from qdi_mcp.specs import (
    CONFIRMATION_TOKEN_ARGUMENT,
    MODEL_VISIBLE_BUDGET,
    MODEL_VISIBLE_PER_TOOL,
    ToolSpec,
    get_spec,
    load_specs,
    model_visible_size,
    specs_by_name,
    specs_dir,
)

REPO_TOOL_SPECS = Path(__file__).resolve().parents[1] / "tool_specs"

TOOLSETS: dict[str, set[str]] = {
    "projects": {
        "qdi_list_projects",
        "qdi_create_project",
        "qdi_get_project",
        "qdi_export_project",
        "qdi_import_project",
        "qdi_get_bindings",
        "qdi_update_bindings",
        "qdi_validate_project_files",
        "qdi_list_spaces",
        "qdi_list_connections",
    },
    "tasks": {"qdi_list_tasks", "qdi_get_task"},
    "actions": {
        "qdi_prepare_project",
        "qdi_validate_project",
        "qdi_prepare_task",
        "qdi_validate_task",
        "qdi_recreate_task_datasets",
        "qdi_get_action",
    },
    "runtime": {
        "qdi_start_task",
        "qdi_stop_task",
        "qdi_get_task_state",
        "qdi_get_task_datasets_state",
        "qdi_request_task_reload",
        "qdi_list_task_runs",
        "qdi_get_task_run",
        "qdi_get_task_run_datasets",
    },
    "workflows": {
        "qdi_prepare_project_and_wait",
        "qdi_validate_project_and_wait",
        "qdi_prepare_task_and_wait",
        "qdi_validate_task_and_wait",
        "qdi_recreate_task_datasets_and_wait",
        "qdi_wait_for_action",
        "qdi_start_task_and_wait",
        "qdi_stop_task_and_wait",
        "qdi_get_project_status",
        "qdi_import_project_and_wait",
        "qdi_promote_project",
        "qdi_diff_project",
        "qdi_run_project_and_wait",
    },
}

# DESIGN.md's safety classes; a tuple means "write, destructive when <argument> equals <value>".
SAFETY: dict[str, str | tuple[str, object]] = {
    "qdi_list_projects": "read",
    "qdi_create_project": "write",
    "qdi_get_project": "read",
    "qdi_export_project": "read",
    "qdi_import_project": "destructive",
    "qdi_prepare_project": ("allow_recreate", True),
    "qdi_validate_project": "read",
    "qdi_get_bindings": "read",
    "qdi_update_bindings": "write",
    "qdi_list_tasks": "read",
    "qdi_get_task": "read",
    "qdi_prepare_task": ("allow_recreate", True),
    "qdi_recreate_task_datasets": "destructive",
    "qdi_request_task_reload": ("reload_strategy", "TRUNCATE"),
    "qdi_validate_task": "read",
    "qdi_start_task": "write",
    "qdi_stop_task": "destructive",
    "qdi_get_task_state": "read",
    "qdi_get_task_datasets_state": "read",
    "qdi_get_action": "read",
    "qdi_prepare_project_and_wait": ("allow_recreate", True),
    "qdi_validate_project_and_wait": "read",
    "qdi_prepare_task_and_wait": ("allow_recreate", True),
    "qdi_validate_task_and_wait": "read",
    "qdi_recreate_task_datasets_and_wait": "destructive",
    "qdi_wait_for_action": "read",
    "qdi_start_task_and_wait": "write",
    "qdi_stop_task_and_wait": "destructive",
    "qdi_get_project_status": "read",
    # issue 14, imports
    "qdi_import_project_and_wait": "destructive",
    "qdi_validate_project_files": "read",
    # issue 16, change management
    "qdi_promote_project": "destructive",
    # run history (issue 14)
    "qdi_list_task_runs": "read",
    "qdi_get_task_run": "read",
    "qdi_get_task_run_datasets": "read",
    "qdi_list_spaces": "read",
    "qdi_list_connections": "read",
    # issue 16, change management
    "qdi_diff_project": "read",
    # issue 17, pipelines
    "qdi_run_project_and_wait": "write",
}

ID_ARGUMENTS = ("project_id", "task_id", "action_id")
ALL_SPECS = load_specs(REPO_TOOL_SPECS)


def spec_ids(spec: ToolSpec) -> str:
    return spec.name


def walk_schema(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, subschema) of a JSON schema, the root included."""
    if not isinstance(node, dict):
        return
    yield where, node
    for name, child in node.get("properties", {}).items():
        yield from walk_schema(child, f"{where}.properties.{name}")
    for keyword in ("items", "additionalProperties"):
        yield from walk_schema(node.get(keyword), f"{where}.{keyword}")
    for keyword in ("anyOf", "oneOf", "allOf"):
        for index, child in enumerate(node.get(keyword, [])):
            yield from walk_schema(child, f"{where}.{keyword}[{index}]")


def test_the_designed_tools_have_a_spec_each() -> None:
    assert sorted(spec.name for spec in ALL_SPECS) == sorted(SAFETY)


def test_names_are_unique_and_short_enough_for_prefixing_clients() -> None:
    names = [spec.name for spec in ALL_SPECS]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"qdi_[a-z0-9_]{1,48}", name) for name in names)


def test_each_spec_file_is_named_after_its_tool() -> None:
    for spec in ALL_SPECS:
        assert spec.source is not None
        assert spec.source.name == f"{spec.name}.yaml"


def test_toolsets_group_the_tools_as_designed() -> None:
    actual: dict[str, set[str]] = {}
    for spec in ALL_SPECS:
        actual.setdefault(spec.toolset, set()).add(spec.name)
    assert actual == TOOLSETS


def test_workflow_specs_name_their_operation_and_the_endpoint_operations_they_call() -> None:
    endpoint_operations = {operation for spec in ALL_SPECS if spec.endpoint for operation in spec.endpoint.operations}
    for spec in ALL_SPECS:
        if spec.kind == "workflow":
            assert spec.endpoint is None
            assert spec.workflow_operation == spec.name.removeprefix("qdi_")
            assert spec.polls and set(spec.polls) <= endpoint_operations
            assert spec.operations == spec.polls
        else:
            assert spec.workflow_operation is None and spec.polls == ()
            assert spec.operations == (spec.endpoint.operation, *spec.endpoint.alternatives)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_safety_class_matches_the_design(spec: ToolSpec) -> None:
    expected = SAFETY[spec.name]
    if isinstance(expected, tuple):
        argument, value = expected
        assert spec.safety == "write"
        assert [(c.argument, c.equals) for c in spec.destructive_when] == [(argument, value)]
    else:
        assert spec.safety == expected
        assert spec.destructive_when == ()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_annotations_agree_with_the_safety_class(spec: ToolSpec) -> None:
    hints = spec.annotations
    assert set(hints) == {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}
    if spec.safety == "read":
        assert (hints["readOnlyHint"], hints["destructiveHint"]) == (True, False)
    elif spec.safety == "destructive" or spec.destructive_when:
        assert (hints["readOnlyHint"], hints["destructiveHint"]) == (False, True)
    else:
        assert (hints["readOnlyHint"], hints["destructiveHint"]) == (False, False)
    assert hints["idempotentHint"] is (spec.safety == "read" or spec.name == "qdi_update_bindings")
    assert hints["openWorldHint"] is True


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_spec_builds_a_valid_mcp_tool(spec: ToolSpec) -> None:
    tool = mcp.types.Tool.model_validate(
        {
            "name": spec.name,
            "title": spec.title,
            "description": spec.description,
            "inputSchema": spec.input_schema,
            "outputSchema": spec.output_schema,
            "annotations": spec.mcp_annotations,
        }
    )
    assert tool.annotations is not None
    assert tool.annotations.title == spec.title
    assert tool.annotations.read_only_hint is spec.is_read_only


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_input_and_output_schemas_are_valid_2020_12_object_schemas(spec: ToolSpec) -> None:
    for schema in (spec.input_schema, spec.output_schema, spec.result_schema):
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
    assert "$shared" not in json.dumps([spec.input_schema, spec.output_schema])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_inputs_are_closed_and_every_property_is_described(spec: ToolSpec) -> None:
    assert spec.input_schema["additionalProperties"] is False
    for where, node in walk_schema(spec.input_schema):
        assert not {"title", "examples", "$schema"} & set(node), where
        for name, child in node.get("properties", {}).items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{where}.{name} is not snake_case"
            assert child.get("description"), f"{where}.properties.{name} has no description"
    required = spec.input_schema.get("required", [])
    assert set(required) <= set(spec.input_schema["properties"])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_id_arguments_are_bounded_non_empty_strings(spec: ToolSpec) -> None:
    for name in ID_ARGUMENTS:
        argument = spec.input_schema["properties"].get(name)
        if argument is not None:
            assert (argument["type"], argument["minLength"], argument["maxLength"]) == ("string", 1, 200)
            assert name in spec.input_schema["required"]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_confirmation_token_is_injected_only_where_a_call_can_be_destructive(spec: ToolSpec) -> None:
    has_token = CONFIRMATION_TOKEN_ARGUMENT in spec.input_schema["properties"]
    assert has_token is spec.can_be_destructive
    assert CONFIRMATION_TOKEN_ARGUMENT not in spec.input_schema.get("required", [])


CONFIRMATION_REQUIRED = {
    "status": "confirmation_required",
    "confirmation_token": "v1.abc.def",
    "expires_at": "2025-01-01T00:05:00Z",
    "preview": {
        "action": "stop task",
        "target": "task Orders landing in project Churn",
        "current_state": "RUNNING",
        "consequence": "change capture pauses until the task is started again",
    },
    "message": "Repeat the call with confirmation_token to proceed.",
}


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_confirmation_required_result_is_accepted_only_by_tools_that_can_be_destructive(
    spec: ToolSpec,
) -> None:
    accepted = Draft202012Validator(spec.output_schema).is_valid(CONFIRMATION_REQUIRED)
    assert accepted is spec.can_be_destructive
    assert (spec.output_schema is spec.result_schema) is not spec.can_be_destructive


def test_confirmation_required_result_must_carry_a_token() -> None:
    schema = get_spec("qdi_stop_task", REPO_TOOL_SPECS).output_schema
    without_token = {k: v for k, v in CONFIRMATION_REQUIRED.items() if k != "confirmation_token"}
    assert not Draft202012Validator(schema).is_valid(without_token)


@pytest.mark.parametrize(
    ("name", "arguments", "destructive"),
    [
        ("qdi_get_project", {"project_id": "p"}, False),
        ("qdi_create_project", {"name": "n", "type": "DATA_PIPELINE", "space_id": "s"}, False),
        ("qdi_stop_task", {"project_id": "p", "task_id": "t"}, True),
        ("qdi_import_project", {"project_id": "p", "path": "a.zip"}, True),
        ("qdi_prepare_project", {"project_id": "p"}, False),
        ("qdi_prepare_project", {"project_id": "p", "allow_recreate": False}, False),
        ("qdi_prepare_project", {"project_id": "p", "allow_recreate": True}, True),
        ("qdi_prepare_task_and_wait", {"project_id": "p", "task_id": "t", "allow_recreate": True}, True),
        ("qdi_request_task_reload", {"project_id": "p", "task_id": "t"}, False),
        ("qdi_request_task_reload", {"project_id": "p", "task_id": "t", "reload_strategy": "NONE"}, False),
        ("qdi_request_task_reload", {"project_id": "p", "task_id": "t", "reload_strategy": "TRUNCATE"}, True),
    ],
)
def test_is_destructive_for_depends_on_the_arguments_only_where_designed(
    name: str, arguments: dict[str, Any], destructive: bool
) -> None:
    spec = get_spec(name, REPO_TOOL_SPECS)
    assert spec.is_destructive_for(arguments) is destructive
    assert spec.needs_confirmation_for(arguments) is destructive


def test_a_number_does_not_match_a_boolean_destructive_condition() -> None:
    # Python's 1 == True must not make allow_recreate=1 (rejected by the schema anyway) look destructive.
    spec = get_spec("qdi_prepare_project", REPO_TOOL_SPECS)
    assert spec.is_destructive_for({"project_id": "p", "allow_recreate": 1}) is False


def test_model_visible_size_counts_name_description_and_compact_input_schema() -> None:
    spec = get_spec("qdi_get_project", REPO_TOOL_SPECS)
    compact = json.dumps(spec.input_schema).replace(", ", ",").replace(": ", ":")
    assert model_visible_size(spec) == len(spec.name) + len(spec.description) + len(compact)


def test_all_tools_together_fit_the_model_visible_size_budget() -> None:
    sizes = {spec.name: model_visible_size(spec) for spec in ALL_SPECS}
    assert sum(sizes.values()) <= MODEL_VISIBLE_BUDGET
    # No single tool may eat the budget.
    assert max(sizes.values()) <= MODEL_VISIBLE_PER_TOOL, max(sizes, key=sizes.__getitem__)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=spec_ids)
def test_descriptions_point_to_tools_that_exist(spec: ToolSpec) -> None:
    names = specs_by_name(REPO_TOOL_SPECS)
    for mentioned in re.findall(r"qdi_[a-z0-9_]+", spec.description):
        assert mentioned in names, f"{spec.name} mentions unknown tool {mentioned}"


def test_every_shared_fragment_is_used() -> None:
    shared = yaml.safe_load((REPO_TOOL_SPECS / "_shared.yaml").read_text(encoding="utf-8"))["fragments"]
    texts = [path.read_text(encoding="utf-8") for path in REPO_TOOL_SPECS.glob("*.yaml")]
    loader_uses = {"confirmation_token", "confirmation_required", "confirmation_declined", "precondition_unmet"}
    for name in set(shared) - loader_uses:
        assert any(f"$shared: {name}" in text for text in texts), f"fragment {name} is never used"


def test_default_specs_are_the_repository_specs_and_are_cached() -> None:
    # An editable install reads the repo's tool_specs/; a wheel reads its copy: same files either way.
    default_files = {p.name: p.read_bytes() for p in specs_dir().glob("*.yaml")}
    assert default_files == {p.name: p.read_bytes() for p in REPO_TOOL_SPECS.glob("*.yaml")}
    assert load_specs() is load_specs(specs_dir())
    assert get_spec("qdi_get_task") is specs_by_name()["qdi_get_task"]


def test_specs_dir_prefers_the_package_copy_of_a_wheel_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "qdi_mcp"
    (package / "specs").mkdir(parents=True)
    monkeypatch.setattr(specs_module, "__file__", str(package / "specs" / "loader.py"))
    assert specs_dir() == tmp_path / "site" / "tool_specs"
    (package / "tool_specs").mkdir()
    assert specs_dir() == package / "tool_specs"


def test_get_spec_names_an_unknown_tool() -> None:
    with pytest.raises(KeyError, match="qdi_nope"):
        get_spec("qdi_nope", REPO_TOOL_SPECS)
