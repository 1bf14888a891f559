"""The template language: references keep their JSON type when they are the whole string, paths reach into
lists and dotted keys, a few filters, `$merge`, and syntax errors found before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from qdi_mcp.runbook.errors import TemplateError
from qdi_mcp.runbook.templates import (
    Extensions,
    Scope,
    TemplateSyntaxError,
    Unresolved,
    compile_value,
    contains_unresolved,
    resolve,
)

RESULT = {
    "path": "export.zip",
    "count": 3,
    "done": False,
    "nothing": None,
    "tasks": [{"id": "t1", "name": "CRM LANDING"}, {"id": "t2", "name": "ERP LANDING"}],
    "variables": {"task.crm_landing-xqm0.sourceConnection": "{{id(connection, DEV_SPACE.Salesforce)}}", "a": "1"},
}


def scope(**overrides: Any) -> Scope:
    values: dict[str, Any] = {
        "variables": {"project": "p1", "recreate": True, "names": ["a", "b"], "limits": {"max": 5}},
        "steps": {"export": {"result": RESULT, "status": "passed", "error": None}},
    }
    values.update(overrides)
    return Scope(**values)


def render(value: Any, **overrides: Any) -> Any:
    return resolve(compile_value(value), scope(**overrides))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${vars.recreate}", True),
        ("${vars.names}", ["a", "b"]),
        ("${vars.limits}", {"max": 5}),
        ("${steps.export.result.count}", 3),
        ("${steps.export.result.done}", False),
        ("${steps.export.result.nothing}", None),
        ("${steps.export.result.tasks}", RESULT["tasks"]),
    ],
)
def test_a_whole_string_reference_keeps_the_json_type(template: str, expected: Any) -> None:
    assert render(template) == expected
    assert type(render(template)) is type(expected)


def test_a_reference_inside_text_is_rendered_as_text() -> None:
    assert render("backup-${vars.project}-${steps.export.result.count}.zip") == "backup-p1-3.zip"
    assert render("flag=${vars.recreate} names=${vars.names}") == 'flag=true names=["a","b"]'


def test_list_items_are_reached_by_position_from_either_end() -> None:
    assert render("${steps.export.result.tasks.0.id}") == "t1"
    assert render("${steps.export.result.tasks.-1.name}") == "ERP LANDING"


def test_keys_that_contain_dots_are_reachable_without_quoting() -> None:
    reference = "${steps.export.result.variables.task.crm_landing-xqm0.sourceConnection}"
    assert render(reference) == "{{id(connection, DEV_SPACE.Salesforce)}}"


def test_step_status_and_error_are_referable() -> None:
    assert render("${steps.export.status}") == "passed"
    assert render("${steps.export.error}") is None


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${steps.export.result.tasks | length}", 2),
        ("${steps.export.result.tasks | map(id)}", ["t1", "t2"]),
        ('${steps.export.result.tasks | map(name) | join(", ")}', "CRM LANDING, ERP LANDING"),
        ('${steps.export.result.missing | default("none")}', "none"),
        ("${steps.export.result.nothing | default(0)}", 0),
        ("${steps.export.result.count | default(0)}", 3),
        ("${vars.limits | json}", '{"max":5}'),
    ],
)
def test_filters_transform_the_value(template: str, expected: Any) -> None:
    assert render(template) == expected


def test_a_doubled_dollar_writes_a_literal_reference() -> None:
    assert render("price $${vars.project}") == "price ${vars.project}"


def test_merge_combines_mappings_and_later_ones_win() -> None:
    value = {"$merge": ["${steps.export.result.variables}", {"a": "2", "b": "${vars.project}"}]}
    assert render(value) == {**RESULT["variables"], "a": "2", "b": "p1"}


def test_merge_of_something_that_is_not_a_mapping_fails_at_run_time() -> None:
    with pytest.raises(TemplateError, match=r"\$merge item 0 is a list"):
        render({"$merge": ["${vars.names}"]})


def test_a_missing_key_is_an_error_that_lists_the_keys_there() -> None:
    with pytest.raises(TemplateError) as caught:
        render("${steps.export.result.pth}")
    assert "no key 'pth'" in str(caught.value)
    assert "path" in str(caught.value)


def test_a_reference_to_a_step_that_has_not_run_fails_unless_the_scope_is_partial() -> None:
    with pytest.raises(TemplateError, match="has not run"):
        render("${steps.later.result.tasks}")
    planned = render({"tasks": "${steps.later.result.tasks}", "p": "${vars.project}"}, partial=True)
    assert planned["p"] == "p1"
    assert isinstance(planned["tasks"], Unresolved)
    assert str(planned["tasks"]) == "<steps.later.result.tasks>"
    assert contains_unresolved(planned)


def test_item_refers_to_the_current_for_each_item() -> None:
    assert render("${item.id}", item={"id": "t9"}) == "t9"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${vars.project", "unclosed"),
        ("${}", "empty reference"),
        ("${env.HOME}", "must start with one of vars, steps, item"),
        ("${steps.export.path}", "after the step name comes one of result, status, error"),
        ("${vars..x}", "empty segment"),
        ("${vars.names | upper}", "unknown filter 'upper'"),
        ("${vars.names | join}", "needs an argument"),
        ("${vars.names | join(, )}", "must be a JSON value"),
        ("${vars.names | length(3)}", "takes no argument"),
    ],
)
def test_malformed_templates_are_rejected_when_compiled(template: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=message):
        compile_value(template)


def test_merge_must_be_the_only_key_and_hold_a_list() -> None:
    with pytest.raises(TemplateSyntaxError, match="only key"):
        compile_value({"$merge": [{}], "other": 1})
    with pytest.raises(TemplateSyntaxError, match="non-empty list"):
        compile_value({"$merge": "${vars.x}"})


def test_a_string_without_references_is_left_alone() -> None:
    assert compile_value("{{id(connection, PROD_SPACE.MySQL_PROD)}}") == "{{id(connection, PROD_SPACE.MySQL_PROD)}}"


def test_a_list_item_is_selected_by_a_field_value_even_with_dots_spaces_and_parentheses() -> None:
    tasks = [{"id": "t1", "name": "CRM LANDING"}, {"id": "t2", "name": "ERP v1.2 (old)"}]
    steps = {"list": {"result": {"tasks": tasks}, "status": "passed", "error": None}}
    assert render("${steps.list.result.tasks[name=ERP v1.2 (old)].id}", steps=steps) == "t2"
    assert render("${steps.list.result.tasks[name=CRM LANDING]}", steps=steps) == tasks[0]
    with pytest.raises(TemplateError, match=r"no item of steps\.list\.result\.tasks has name = 'SALES MART'"):
        render("${steps.list.result.tasks[name=SALES MART].id}", steps=steps)


def test_a_mapping_key_may_hold_a_reference() -> None:
    value = {"$merge": ["${steps.export.result.variables}", {"task.${steps.export.result.tasks.0.id}.x": "y"}]}
    assert render(value) == {**RESULT["variables"], "task.t1.x": "y"}
    with pytest.raises(TemplateError, match="must give text"):
        render({"${steps.export.result.count}": 1})


def test_extensions_add_roots_and_filters_only_where_they_are_given() -> None:
    extensions = Extensions(roots=("extra",), filters={"shout": lambda value: str(value).upper()})
    compiled = compile_value("${extra.word|shout}", extensions)
    assert resolve(compiled, Scope(variables={}, extra={"extra": {"word": "hi"}})) == "HI"
    with pytest.raises(TemplateSyntaxError, match="must start with one of vars, steps, item, not 'extra'"):
        compile_value("${extra.word}")
    with pytest.raises(TemplateSyntaxError, match="unknown filter 'shout'"):
        compile_value("${vars.project|shout}")
