"""`expect` and `where` conditions: operators, list quantifiers, missing values, and readable failures."""

from __future__ import annotations

from typing import Any

import pytest

from qdi_mcp.runbook.conditions import check_condition, condition_failures, holds

STATUS = {
    "state": "COMPLETED",
    "timed_out": False,
    "elapsed_seconds": 42.5,
    "counts": {"completed": 5, "running": 1},
    "tasks": [
        {"name": "CRM LANDING", "state": "COMPLETED", "datasets_in_error": 0},
        {"name": "CRM STORAGE", "state": "COMPLETED", "datasets_in_error": 1},
        {"name": "ERP LANDING", "state": "RUNNING", "datasets_in_error": None},
    ],
}


@pytest.mark.parametrize(
    "condition",
    [
        {"state": "COMPLETED", "timed_out": False},
        {"state": {"in": ["COMPLETED", "RUNNING"]}},
        {"state": {"not_in": ["FAILED"]}},
        {"state": {"ne": "FAILED"}},
        {"elapsed_seconds": {"gte": 42.5, "lt": 60}},
        {"counts.failed": {"exists": False}},
        {"counts": {"completed": 5}},
        {"counts.failed": {"exists": False}},
        {"counts.running": {"not": {"gt": 1}}},
        {"tasks": {"length": {"eq": 3}}},
        {"tasks": {"any": {"state": "RUNNING"}}},
        {"tasks": {"none": {"state": "FAILED"}}},
        {"tasks": {"all": {"name": {"matches": "LANDING|STORAGE"}}}},
        {"tasks.0.name": {"glob": ["CRM*", "ERP*"]}},
        {"tasks.0.name": {"contains": "LAND"}},
        {"counts": {"contains": "running"}},
        {"tasks.2.datasets_in_error": {"empty": True}},
    ],
)
def test_conditions_that_hold(condition: dict[str, Any]) -> None:
    assert condition_failures(condition, STATUS) == []


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"state": "FAILED"}, "state: expected FAILED, got COMPLETED"),
        ({"timed_out": 0}, "timed_out: expected 0, got false"),
        ({"state": {"in": ["FAILED", "CANCELED"]}}, 'state: expected one of ["FAILED", "CANCELED"], got COMPLETED'),
        ({"elapsed_seconds": {"lt": 10}}, "elapsed_seconds: expected < 10, got 42.5"),
        ({"state": {"gt": 3}}, "state: expected > 3, got COMPLETED"),
        ({"counts.failed": 0}, "counts.failed: missing: no key 'failed' in counts (keys: completed, running)"),
        ({"tasks": {"length": {"gte": 4}}}, "tasks: length expected >= 4, got 3"),
        ({"tasks.0.name": {"glob": "ERP*"}}, 'tasks.0.name: expected a name like ["ERP*"], got CRM LANDING'),
    ],
)
def test_conditions_that_fail_say_what_was_expected_and_what_came(condition: dict[str, Any], message: str) -> None:
    assert condition_failures(condition, STATUS) == [message]


def test_all_names_each_item_that_breaks_the_condition() -> None:
    failures = condition_failures({"tasks": {"all": {"datasets_in_error": {"in": [0, None]}}}}, STATUS)
    assert failures == ["tasks: item 1 (CRM STORAGE): datasets_in_error: expected one of [0, null], got 1"]


def test_none_names_the_items_that_match() -> None:
    failures = condition_failures({"tasks": {"none": {"name": {"glob": "CRM*"}}}}, STATUS)
    assert len(failures) == 1
    assert "item 0 (CRM LANDING)" in failures[0] and "item 1 (CRM STORAGE)" in failures[0]


def test_a_quantifier_on_something_that_is_not_a_list_fails() -> None:
    assert condition_failures({"state": {"all": {"x": 1}}}, STATUS) == ["state: expected a list, got COMPLETED"]


def test_holds_is_what_where_uses_to_keep_items() -> None:
    kept = [t["name"] for t in STATUS["tasks"] if holds({"name": {"glob": ["*LANDING"]}}, t)]
    assert kept == ["CRM LANDING", "ERP LANDING"]


def test_true_and_one_are_different_values() -> None:
    assert not holds({"flag": 1}, {"flag": True})
    assert holds({"flag": True}, {"flag": True})


@pytest.mark.parametrize(
    ("condition", "location", "message"),
    [
        ({"state": {"in": "COMPLETED"}}, "expect.state.in", "takes a list"),
        ({"n": {"gte": True}}, "expect.n.gte", "takes a number"),
        ({"n": {"exists": "yes"}}, "expect.n.exists", "takes true or false"),
        ({"name": {"matches": "(["}}, "expect.name.matches", "not a valid regular expression"),
        ({"name": {"glob": 3}}, "expect.name.glob", "takes a pattern"),
        ({"state": {"eq": "X", "state": "Y"}}, "expect.state", "mixes operators (eq) with other keys (state)"),
        ({"tasks": {"all": {"n": {"lt": []}}}}, "expect.tasks.all.n.lt", "takes a number"),
    ],
)
def test_malformed_conditions_are_found_before_running(condition: Any, location: str, message: str) -> None:
    problems = check_condition(condition, "expect")
    assert len(problems) == 1
    assert problems[0][0] == location
    assert message in problems[0][1]


def test_an_empty_condition_is_rejected() -> None:
    assert check_condition({}, "expect")[0][1].startswith("must be a mapping of result paths")


@pytest.mark.parametrize(
    "matcher",
    [
        {"ne": "FAILED"},
        {"not_in": ["FAILED", "CANCELED"]},
        {"not": {"eq": "FAILED"}},
        {"not": {"gt": 0}},
        {"empty": True},
        {"empty": False},
        {"eq": None},
        {"in": [None, "COMPLETED"]},
        {"lt": 10},
        {"glob": "*"},
        {"matches": ".*"},
        {"contains": ""},
        {"length": {"gte": 0}},
        {"all": {"state": "COMPLETED"}},
        {"none": {"state": "FAILED"}},
        {"exists": True},
        {"exists": False, "ne": "FAILED"},
        None,
    ],
)
def test_a_path_the_value_does_not_have_fails_every_expectation_on_it(matcher: Any) -> None:
    # `stat` for `state`: before, ne / not_in / not / empty passed on the missing value and hid the typo.
    failures = condition_failures({"stat": matcher}, STATUS)

    assert len(failures) == 1
    assert failures[0].startswith("stat: ")
    assert "missing" in failures[0] or "expected a value" in failures[0]


def test_a_missing_path_names_the_keys_that_exist_there() -> None:
    (failure,) = condition_failures({"stat": {"ne": "FAILED"}}, STATUS)

    assert failure.startswith("stat: missing: no key 'stat'")
    assert "state" in failure and "timed_out" in failure


def test_a_missing_field_in_each_item_fails_for_every_item() -> None:
    failures = condition_failures({"tasks": {"all": {"datasets_in_eror": {"not_in": [1, 2, 3]}}}}, STATUS)

    assert [failure.split(": datasets_in_eror: missing")[0] for failure in failures] == [
        "tasks: item 0 (CRM LANDING)",
        "tasks: item 1 (CRM STORAGE)",
        "tasks: item 2 (ERP LANDING)",
    ]


@pytest.mark.parametrize(
    ("matcher", "passes"),
    [
        ({"exists": False}, True),
        ({"exists": True}, False),
        ({"not": {"exists": True}}, True),
        ({"not": {"exists": False}}, False),
        ({"not": {"not": {"exists": False}}}, True),
    ],
)
def test_only_an_existence_check_looks_at_whether_a_path_is_there(matcher: dict[str, Any], passes: bool) -> None:
    assert holds({"counts.failed": matcher}, STATUS) is passes


def test_where_keeps_no_item_on_a_field_it_does_not_have() -> None:
    kept = [t["name"] for t in STATUS["tasks"] if holds({"stat": {"ne": "FAILED"}}, t)]
    assert kept == []


def test_an_operator_mixed_with_a_misspelt_one_gets_a_suggestion() -> None:
    ((location, message),) = check_condition({"state": {"ne": "FAILED", "neq": "CANCELED"}}, "expect")

    assert location == "expect.state"
    assert "mixes operators (ne) with other keys (neq); 'neq': did you mean ne?" in message


@pytest.mark.parametrize(
    ("matcher", "passes"),
    [({"ne": "FAILED"}, True), ({"not_in": ["FAILED"]}, True), ({"eq": None}, True), ("COMPLETED", False)],
)
def test_a_path_through_a_null_is_null_not_missing(matcher: Any, passes: bool) -> None:
    # A task that never ran has `last_run: null`; "its last run did not fail" holds, "it completed" does not.
    never_ran = {"name": "ERP LANDING", "last_run": None}
    assert holds({"last_run.state": matcher}, never_ran) is passes
    assert holds({"last_run.state": {"exists": False}}, never_ran) is True  # no run, so no run state


def test_a_key_absent_under_a_present_object_is_still_missing() -> None:
    failures = condition_failures({"last_run.stat": {"ne": "FAILED"}}, {"last_run": {"state": "COMPLETED"}})
    assert failures and "missing" in failures[0] and "state" in failures[0]


@pytest.mark.parametrize(
    ("condition", "passes"),
    [
        ({"last_run": {"state": {"ne": "FAILED"}}}, True),  # the nested form reads like the dotted one
        ({"last_run": {"state": "COMPLETED"}}, False),
        ({"last_run.state": {"exists": True, "ne": "FAILED"}}, False),  # no run, so no state: exists says no
        ({"last_run.state": {"exists": False, "ne": "FAILED"}}, True),
        ({"last_run.state": {"not": {"exists": True}}}, True),
        ({"tasks": {"all": {"last_run.state": {"ne": "FAILED"}}}}, True),
    ],
)
def test_a_null_on_the_way_reads_the_same_in_every_form(condition: dict[str, Any], passes: bool) -> None:
    subject = {"last_run": None, "tasks": [{"last_run": None}, {"last_run": {"state": "COMPLETED"}}]}
    assert holds(condition, subject) is passes, condition_failures(condition, subject)
