"""A broken spec fails loudly at load, naming the file and the field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from qdi_mcp.specs import SpecError, load_specs

REPO_TOOL_SPECS = Path(__file__).resolve().parents[1] / "tool_specs"

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "tool_specs"
    shutil.copytree(REPO_TOOL_SPECS, directory)
    return directory


def edit(directory: Path, tool: str, change: Edit) -> None:
    path = directory / f"{tool}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def load_error(directory: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_specs(directory)
    return caught.value


def test_copied_specs_load_before_any_edit(spec_dir: Path) -> None:
    assert len(load_specs(spec_dir)) == len(list(REPO_TOOL_SPECS.glob("qdi_*.yaml")))


def test_undescribed_property_names_file_and_field(spec_dir: Path) -> None:
    edit(spec_dir, "qdi_get_project", lambda d: d["input_schema"]["properties"].update(foo={"type": "string"}))
    error = load_error(spec_dir)
    assert str(error) == (
        "tool_specs/qdi_get_project.yaml: input_schema.properties.foo: 'description' is a required property"
    )
    assert (error.file, error.field) == ("tool_specs/qdi_get_project.yaml", "input_schema.properties.foo")


def set_key(*path: str, value: Any) -> Edit:
    def change(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def delete_key(*path: str) -> Edit:
    def change(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def add_input(name: str, schema: dict[str, Any]) -> Edit:
    return lambda document: document["input_schema"]["properties"].update({name: schema})


# (tool file, edit, expected field, words the message must contain)
BROKEN: dict[str, tuple[str, Edit, str | None, str]] = {
    "name differs from file": ("qdi_get_task", set_key("name", value="qdi_fetch_task"), "name", "file name"),
    "name breaks the pattern": ("qdi_get_task", set_key("name", value="getTask"), "name", "does not match"),
    "unknown toolset": ("qdi_get_task", set_key("toolset", value="admin"), "toolset", "'admin'"),
    "unknown safety class": ("qdi_get_task", set_key("safety", value="harmless"), "safety", "'harmless'"),
    "misspelt top-level key": ("qdi_get_task", set_key("descripton", value="x"), None, "'descripton'"),
    "missing output schema": ("qdi_get_task", delete_key("output_schema"), None, "'output_schema'"),
    "overlong description": ("qdi_get_task", set_key("description", value="x" * 401), "description", "long"),
    "read tool claims it writes": (
        "qdi_get_task",
        set_key("annotations", "readOnlyHint", value=False),
        "annotations.readOnlyHint",
        "must be true for a 'read' tool",
    ),
    "destructive tool hides it": (
        "qdi_stop_task",
        set_key("annotations", "destructiveHint", value=False),
        "annotations.destructiveHint",
        "'destructive' tool",
    ),
    "conditionally destructive tool hides it": (
        "qdi_prepare_project",
        set_key("annotations", "destructiveHint", value=False),
        "annotations.destructiveHint",
        "with destructive_when",
    ),
    "annotation missing": (
        "qdi_get_task",
        delete_key("annotations", "openWorldHint"),
        "annotations",
        "'openWorldHint'",
    ),
    "condition on a missing argument": (
        "qdi_prepare_project",
        set_key("destructive_when", value=[{"argument": "recreate", "equals": True}]),
        "destructive_when[0].argument",
        "'recreate'",
    ),
    "condition value the argument cannot take": (
        "qdi_request_task_reload",
        set_key("destructive_when", value=[{"argument": "reload_strategy", "equals": "DROP"}]),
        "destructive_when[0].equals",
        "'DROP'",
    ),
    "condition on an always destructive tool": (
        "qdi_stop_task",
        set_key("destructive_when", value=[{"argument": "task_id", "equals": "x"}]),
        "destructive_when",
        "only for 'write' tools",
    ),
    "invalid JSON schema type": (
        "qdi_get_task",
        add_input("verbose", {"type": "strng", "description": "More."}),
        "input_schema.properties.verbose.type",
        "'strng'",
    ),
    "open input schema": (
        "qdi_get_task",
        set_key("input_schema", "additionalProperties", value=True),
        "input_schema.additionalProperties",
        "False was expected",
    ),
    "title inside an input schema": (
        "qdi_get_project",
        set_key("input_schema", "properties", "project_id", value={"$shared": "project_id", "title": "Id"}),
        "input_schema.properties.project_id.title",
        "'title' is not allowed in input schemas",
    ),
    "camelCase argument": (
        "qdi_get_task",
        add_input("taskId", {"type": "string", "description": "Id."}),
        "input_schema.properties",
        "'taskId'",
    ),
    "required argument not declared": (
        "qdi_get_task",
        set_key("input_schema", "required", value=["project_id", "task"]),
        "input_schema.required[1]",
        "'task' is not a property",
    ),
    "confirmation token declared by hand": (
        "qdi_stop_task",
        add_input("confirmation_token", {"type": "string", "description": "Token."}),
        "input_schema.properties.confirmation_token",
        "added by the loader",
    ),
    "unknown shared fragment": (
        "qdi_get_task",
        set_key("input_schema", "properties", "task_id", value={"$shared": "task_identifier"}),
        "input_schema.properties.task_id",
        "unknown shared fragment 'task_identifier'",
    ),
    "non-object output schema": (
        "qdi_get_task",
        set_key("output_schema", value={"type": "array"}),
        "output_schema.type",
        "'object' was expected",
    ),
    "endpoint tool without endpoint": ("qdi_get_task", delete_key("endpoint"), None, "'endpoint'"),
    "endpoint tool with polls": (
        "qdi_get_task",
        set_key("polls", value=["get_task"]),
        "polls",
        "not allowed",
    ),
    "workflow tool with an endpoint": (
        "qdi_wait_for_action",
        set_key(
            "endpoint",
            value={"operation": "get_action"},
        ),
        "endpoint",
        "not allowed for kind 'workflow'",
    ),
    "examples inside an array item": (
        "qdi_request_task_reload",
        set_key("input_schema", "properties", "dataset_ids", "items", "examples", value=["d1"]),
        "input_schema.properties.dataset_ids.items.examples",
        "not allowed in input schemas",
    ),
    "$schema in the output schema": (
        "qdi_get_task",
        set_key("output_schema", "$schema", value="https://json-schema.org/draft/2020-12/schema"),
        "output_schema.$schema",
        "not allowed",
    ),
    # The route of an operation lives in the API client's endpoint table only; a spec may not restate it.
    "route written in the spec": (
        "qdi_get_task",
        set_key("endpoint", "path", value="/api/v1/di-projects/{projectId}/di-tasks/{dataTaskId}"),
        "endpoint",
        "'path' was unexpected",
    ),
    "malformed operation name": (
        "qdi_get_task",
        set_key("endpoint", "operation", value="getTask"),
        "endpoint.operation",
        "does not match",
    ),
    "workflow without polls": ("qdi_wait_for_action", delete_key("polls"), None, "'polls'"),
    "workflow polling an unbound operation": (
        "qdi_wait_for_action",
        set_key("polls", value=["get_action", "get_action_log"]),
        "polls[1]",
        "'get_action_log' is not the operation of any endpoint spec",
    ),
    "two tools on one operation": (
        "qdi_get_task",
        set_key("endpoint", "operation", value="get_project"),
        "endpoint.operation",
        "already used by qdi_get_project",
    ),
    # per-tool facts (preview, hints, resume_with, wraps, confirmation)
    "destructive tool without a preview": (
        "qdi_stop_task",
        delete_key("preview"),
        "preview",
        "required for a tool that can be destructive",
    ),
    "preview on a read tool": (
        "qdi_get_task",
        set_key("preview", value={"action": "look", "target": "task", "consequence": "Nothing at all happens."}),
        "preview",
        "only for tools that can be destructive",
    ),
    "preview text names an optional argument": (
        "qdi_request_task_reload",
        set_key("preview", "consequence", value="Truncates {dataset_ids} on the next run."),
        "preview.consequence",
        "required argument",
    ),
    "preview text reaches past an argument": (
        "qdi_stop_task",
        set_key("preview", "consequence", value="Stops {task_id.__class__} for good."),
        "preview.consequence",
        "required argument",
    ),
    "task preview of a tool without task_id": (
        "qdi_import_project",
        set_key("preview", "target", value="task"),
        "preview.target",
        "'task_id'",
    ),
    "scope argument that is not a list": (
        "qdi_request_task_reload",
        set_key("preview", "scope", "argument", value="reload_strategy"),
        "preview.scope.argument",
        "not an array argument",
    ),
    "hint names an unknown argument": (
        "qdi_start_task",
        set_key("hints", "check_outcome", value="call qdi_get_task_state with {dataset_id} first"),
        "hints.check_outcome",
        "required argument",
    ),
    "resume_with names no tool": (
        "qdi_start_task",
        set_key("resume_with", value="qdi_follow_task"),
        "resume_with",
        "not a tool spec",
    ),
    "resume_with names a write tool": (
        "qdi_start_task",
        set_key("resume_with", value="qdi_stop_task"),
        "resume_with",
        "must be a read tool",
    ),
    "an endpoint tool wraps another": (
        "qdi_start_task",
        set_key("wraps", value="qdi_stop_task"),
        "wraps",
        "only a workflow tool wraps",
    ),
    "confirmation bound to a missing argument": (
        "qdi_import_project",
        set_key("confirmation", "binds_file", value="zip_path"),
        "confirmation.binds_file",
        "not a required string argument",
    ),
    "confirmation on a tool that never asks": (
        "qdi_get_task",
        set_key("confirmation", value={"binds_file": "task_id"}),
        "confirmation",
        "only for tools that can be destructive",
    ),
    "backup of an argument the tool does not require": (
        "qdi_update_bindings",
        set_key("backup", value="remove_missing"),
        "backup",
        "not a required string argument",
    ),
    "backup on a read tool": (
        "qdi_get_bindings",
        set_key("backup", value="project_id"),
        "backup",
        "only for tools that change a project",
    ),
    "backup without the backup in the result": (
        "qdi_update_bindings",
        lambda d: d["output_schema"]["properties"].pop("backup"),
        "output_schema.properties",
        "returns it",
    ),
}


@pytest.mark.parametrize(("tool", "change", "field", "words"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_spec_is_reported_with_file_and_field(
    spec_dir: Path, tool: str, change: Edit, field: str | None, words: str
) -> None:
    edit(spec_dir, tool, change)
    error = load_error(spec_dir)
    assert error.file == f"tool_specs/{tool}.yaml"
    assert error.field == field
    assert words in error.problem
    location = f"tool_specs/{tool}.yaml: {field}: " if field else f"tool_specs/{tool}.yaml: "
    assert str(error).startswith(location)


def test_invalid_yaml_names_the_file(spec_dir: Path) -> None:
    (spec_dir / "qdi_get_task.yaml").write_text("name: qdi_get_task\ntitle: [unclosed\n", encoding="utf-8")
    error = load_error(spec_dir)
    assert (error.file, error.field) == ("tool_specs/qdi_get_task.yaml", None)
    assert "invalid YAML" in error.problem


def test_spec_that_is_not_a_mapping_names_the_file(spec_dir: Path) -> None:
    (spec_dir / "qdi_get_task.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    error = load_error(spec_dir)
    assert error.file == "tool_specs/qdi_get_task.yaml"
    assert "mapping" in error.problem


def test_self_referencing_shared_fragment_is_reported(spec_dir: Path) -> None:
    shared = spec_dir / "_shared.yaml"
    text = shared.read_text(encoding="utf-8")
    shared.write_text(text.replace("fragments:\n", "fragments:\n  loop: {$shared: loop}\n", 1), encoding="utf-8")
    error = load_error(spec_dir)
    assert (error.file, error.field) == ("tool_specs/_shared.yaml", "fragments.loop")
    assert "refers to itself" in error.problem


def test_malformed_shared_file_is_reported(spec_dir: Path) -> None:
    (spec_dir / "_shared.yaml").write_text("project_id: {type: string}\n", encoding="utf-8")
    error = load_error(spec_dir)
    assert error.file == "tool_specs/_shared.yaml"
    assert "'fragments'" in error.problem


def test_destructive_tool_without_confirmation_fragments_is_reported(tmp_path: Path) -> None:
    directory = tmp_path / "tool_specs"
    directory.mkdir()
    stop = yaml.safe_load((REPO_TOOL_SPECS / "qdi_stop_task.yaml").read_text(encoding="utf-8"))
    text_id = {"type": "string", "minLength": 1, "maxLength": 200, "description": "Id."}
    stop["input_schema"]["properties"] = {"project_id": text_id, "task_id": text_id}
    stop["output_schema"] = {"type": "object"}
    (directory / "qdi_stop_task.yaml").write_text(yaml.safe_dump(stop), encoding="utf-8")
    error = load_error(directory)
    assert (error.file, error.field) == ("tool_specs/qdi_stop_task.yaml", "input_schema")
    assert "'confirmation_token'" in error.problem


def test_a_directory_of_plain_specs_needs_no_shared_file(tmp_path: Path) -> None:
    directory = tmp_path / "specs"
    directory.mkdir()
    task = yaml.safe_load((REPO_TOOL_SPECS / "qdi_get_task.yaml").read_text(encoding="utf-8"))
    text_id = {"type": "string", "minLength": 1, "maxLength": 200, "description": "Id."}
    task["input_schema"]["properties"] = {"project_id": text_id, "task_id": text_id}
    task["output_schema"] = {"type": "object"}
    (directory / "qdi_get_task.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
    (loaded,) = load_specs(directory)
    assert loaded.name == "qdi_get_task"
    assert loaded.input_schema["properties"]["task_id"] == text_id


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        load_specs(tmp_path / "nowhere")


def test_undescribed_confirmation_token_fragment_is_reported(spec_dir: Path) -> None:
    shared = spec_dir / "_shared.yaml"
    document = yaml.safe_load(shared.read_text(encoding="utf-8"))
    del document["fragments"]["confirmation_token"]["description"]
    shared.write_text(yaml.safe_dump(document), encoding="utf-8")
    error = load_error(spec_dir)
    assert (error.file, error.field) == ("tool_specs/_shared.yaml", "fragments.confirmation_token")
    assert "'description' is a required property" in error.problem


def test_confirmation_result_fragment_must_be_an_object_schema(spec_dir: Path) -> None:
    shared = spec_dir / "_shared.yaml"
    document = yaml.safe_load(shared.read_text(encoding="utf-8"))
    document["fragments"]["confirmation_required"] = {"type": "string"}
    shared.write_text(yaml.safe_dump(document), encoding="utf-8")
    error = load_error(spec_dir)
    assert (error.file, error.field) == ("tool_specs/_shared.yaml", "fragments.confirmation_required")
