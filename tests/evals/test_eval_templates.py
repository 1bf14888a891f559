"""The trajectory templates: the runbook's language plus the `confirmations` root and the `tamper` filter,
resolved without evaluating anything."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evals.harness.trajectory_templates import (
    new_scope,
    record_confirmation,
    record_result,
    references,
    render,
)
from qdi_mcp.runbook.errors import TemplateError
from qdi_mcp.runbook.templates import Scope, TemplateSyntaxError

TOKEN = "eyJ2IjoxfQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
RESULTS: dict[str, Any] = {
    "projects": {"projects": [{"id": "p1", "name": "Customer 360"}, {"id": "p2", "name": "Customer 360 (prod)"}]},
    "bindings": {"variables": {"a": 1, "b": "x"}},
    "tasks": {"tasks": [{"id": "t1"}], "count": 1},
}


def scope() -> Scope:
    made = new_scope()
    for step_id, result in RESULTS.items():
        record_result(made, step_id, result)
    record_confirmation(made, "stop", {"confirmation_token": TOKEN})
    return made


def test_a_whole_string_reference_keeps_its_json_type() -> None:
    assert render("${steps.tasks.result.count}", scope()) == 1
    assert render("${steps.tasks.result.tasks}", scope()) == [{"id": "t1"}]


def test_references_inside_text_are_inserted_as_text() -> None:
    assert render("there are ${steps.tasks.result.count} tasks", scope()) == "there are 1 tasks"


def test_selection_by_field_picks_the_matching_item_even_with_spaces_and_parentheses() -> None:
    assert render("${steps.projects.result.projects[name=Customer 360 (prod)].id}", scope()) == "p2"
    assert render("${steps.projects.result.projects.0.id}", scope()) == "p1"


def test_merge_and_templated_keys_edit_a_map_read_earlier() -> None:
    value = {"$merge": ["${steps.bindings.result.variables}", {"task.${steps.tasks.result.tasks.0.id}.x": "y", "a": 2}]}
    assert render(value, scope()) == {"a": 2, "b": "x", "task.t1.x": "y"}


def test_a_confirmation_is_read_from_its_own_root() -> None:
    assert render("${confirmations.stop.confirmation_token}", scope()) == TOKEN


def test_tamper_changes_one_signature_character_and_nothing_else() -> None:
    tampered = render("${confirmations.stop.confirmation_token|tamper}", scope())
    assert tampered != TOKEN and len(tampered) == len(TOKEN)
    assert tampered.split(".")[0] == TOKEN.split(".")[0]
    assert sum(a != b for a, b in zip(tampered, TOKEN, strict=True)) == 1


def test_tamper_refuses_what_is_not_a_token() -> None:
    with pytest.raises(TemplateError, match=re.escape("|tamper applies to a confirmation token")):
        render("${steps.tasks.result.count|tamper}", scope())


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${steps.missing.result}", "step 'missing' has not run"),
        ("${steps.tasks.result.missing}", "no key 'missing'"),
        ("${steps.projects.result.projects[name=Sales QVD].id}", "no item of steps.projects.result.projects has name"),
        ("${steps.tasks.result.tasks.5}", "no item '5'"),
        ("${steps.tasks.result.count.x}", "is a number, so it has no 'x'"),
        ("${confirmations.nope.confirmation_token}", "no key 'nope' in confirmations"),
    ],
)
def test_unresolvable_references_raise_a_template_error_naming_the_problem(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(template, scope())


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${nope.x}", "must start with one of vars, steps, item, confirmations, not 'nope'"),
        ("${__import__('os')}", "must start with one of"),
        ("${steps.tasks.count}", "after the step name comes one of result, status, error"),
        ("${steps.tasks.result.count|shout}", "unknown filter 'shout'"),
    ],
)
def test_malformed_references_are_refused_before_anything_runs(template: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=re.escape(message)):
        references(template)


def test_merge_refuses_anything_but_a_list_of_mappings() -> None:
    with pytest.raises(TemplateError, match="not a mapping"):
        render({"$merge": ["${steps.tasks.result.count}"]}, scope())


def test_references_finds_references_in_keys_and_nested_values() -> None:
    found = references({"k${steps.a.result.b}": ["x ${steps.c.result.d}", {"e": "${confirmations.f.g|tamper}"}]})
    assert [reference.text for reference in found] == [
        "steps.a.result.b",
        "steps.c.result.d",
        "confirmations.f.g|tamper",
    ]
