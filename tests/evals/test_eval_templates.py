"""The trajectory template syntax: references to earlier results, resolved without evaluating anything."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evals.harness.templates import TemplateError, references_in, resolve

SCOPE: dict[str, Any] = {
    "steps": {
        "projects": {"projects": [{"id": "p1", "name": "Customer 360"}, {"id": "p2", "name": "Customer 360 (prod)"}]},
        "bindings": {"variables": {"a": 1, "b": "x"}},
        "tasks": {"tasks": [{"id": "t1"}], "count": 1},
    },
    "confirmations": {"stop": {"confirmation_token": "eyJ2IjoxfQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
}


def test_a_whole_string_reference_keeps_its_json_type() -> None:
    assert resolve("${steps.tasks.count}", SCOPE) == 1
    assert resolve("${steps.tasks.tasks}", SCOPE) == [{"id": "t1"}]


def test_references_inside_text_are_inserted_as_text() -> None:
    assert resolve("there are ${steps.tasks.count} tasks", SCOPE) == "there are 1 tasks"


def test_selection_by_field_picks_the_matching_item_even_with_spaces_and_parentheses() -> None:
    assert resolve("${steps.projects.projects[name=Customer 360 (prod)].id}", SCOPE) == "p2"
    assert resolve("${steps.projects.projects.0.id}", SCOPE) == "p1"


def test_merge_and_templated_keys_edit_a_map_read_earlier() -> None:
    value = {"$merge": ["${steps.bindings.variables}", {"task.${steps.tasks.tasks.0.id}.x": "y", "a": 2}]}
    assert resolve(value, SCOPE) == {"a": 2, "b": "x", "task.t1.x": "y"}


def test_tamper_changes_one_signature_character_and_nothing_else() -> None:
    original = SCOPE["confirmations"]["stop"]["confirmation_token"]
    tampered = resolve("${confirmations.stop.confirmation_token|tamper}", SCOPE)
    assert tampered != original and len(tampered) == len(original)
    assert tampered.split(".")[0] == original.split(".")[0]
    assert sum(a != b for a, b in zip(tampered, original, strict=True)) == 1


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${nope.x}", "unknown name 'nope'"),
        ("${steps.missing}", "has no key 'missing'"),
        ("${steps.projects.projects[name=Sales QVD].id}", "no item of steps.projects.projects has name"),
        ("${steps.tasks.tasks.5}", "has 1 items"),
        ("${steps.tasks.count|shout}", "unknown filter 'shout'"),
        ("${steps.tasks.count.x}", "cannot take 'x'"),
        ("${__import__('os')}", "unknown name '__import__'"),
        ("${steps.tasks+1}", "cannot read the path"),
    ],
)
def test_unresolvable_references_raise_a_template_error_naming_the_problem(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        resolve(template, SCOPE)


def test_merge_refuses_anything_but_a_list_of_mappings() -> None:
    with pytest.raises(TemplateError, match="not a mapping"):
        resolve({"$merge": ["${steps.tasks.count}"]}, SCOPE)


def test_references_in_finds_references_in_keys_and_nested_values() -> None:
    found = references_in({"k${steps.a.b}": ["x ${steps.c.d}", {"e": "${confirmations.f.g|tamper}"}]})
    assert found == ["steps.a.b", "steps.c.d", "confirmations.f.g|tamper"]
