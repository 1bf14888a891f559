"""Lint of the tool definitions agents see: real specs pass (known findings are pending a spec fix, and that
list cannot go stale), each rule catches what it is for, and the size budget holds against the baseline."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from evals.harness.lint import (
    BASELINE_PATH,
    PENDING_SPEC_FIXES,
    SIMILARITY_THRESHOLD,
    UPDATE_BASELINE_ENV,
    lint_specs,
    run_lint,
    write_baseline,
)
from qdi_mcp.specs import ToolSpec, get_spec, load_specs

SPECS = list(load_specs())


def test_the_served_tool_definitions_pass_the_lint_and_the_size_budget() -> None:
    if os.environ.get(UPDATE_BASELINE_ENV) == "1":
        write_baseline(SPECS)  # accept today's sizes on purpose (like regenerating a snapshot)
    report = run_lint(SPECS)
    assert report.ok, "\n".join(report.problems())
    assert {finding.key for finding in report.pending} == PENDING_SPEC_FIXES


def test_the_baseline_lists_every_tool() -> None:
    baseline = json.loads(BASELINE_PATH.read_text(encoding="utf-8"))
    assert set(baseline["tools"]) == {spec.name for spec in SPECS}
    assert baseline["total"] == sum(baseline["tools"].values())


def _changed(tool: str, **changes: object) -> ToolSpec:
    return dataclasses.replace(get_spec(tool), **changes)


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (_changed("qdi_get_project", name="qdi_Get-Project"), "name"),
        (_changed("qdi_get_project", name="qdi_get__project"), "name"),
        (_changed("qdi_get_project", description="Gets it. For tasks use qdi_list_tasks."), "what"),
        (_changed("qdi_get_project", description="Get one project's name, space, owner and description."), "when"),
        (
            _changed(
                "qdi_get_project",
                input_schema={"type": "object", "properties": {"project_id": {"type": "string"}}},
            ),
            "parameters",
        ),
        (
            _changed(
                "qdi_get_project",
                input_schema={
                    "type": "object",
                    "properties": {
                        "filter": {
                            "type": "object",
                            "description": "Filter.",
                            "properties": {"space": {"type": "string"}},
                        }
                    },
                },
            ),
            "parameters",
        ),
        (
            _changed(
                "qdi_get_project",
                description="Get one project's name and space. Use it after qdi_list_projects; PUT .../bindings edits.",
            ),
            "wire_name",
        ),
        (_changed("qdi_prepare_project", hints={"bad_request": "prepare again with allowRecreate=true"}), "wire_name"),
    ],
)
def test_each_rule_catches_a_definition_that_breaks_it(spec: ToolSpec, rule: str) -> None:
    findings = lint_specs([spec])
    assert [finding.rule for finding in findings] == [rule], findings


def test_near_identical_descriptions_are_caught() -> None:
    stop = get_spec("qdi_stop_task")
    twin = dataclasses.replace(
        get_spec("qdi_stop_task_and_wait"), description=stop.description.replace("at once", "now")
    )
    findings = [f for f in lint_specs([stop, twin]) if f.rule == "similar"]
    assert findings and findings[0].tool == "qdi_stop_task" and "qdi_stop_task_and_wait" in findings[0].message
    assert SIMILARITY_THRESHOLD < 1


def test_a_stale_pending_entry_fails_the_lint(tmp_path: Path) -> None:
    write_baseline(SPECS, tmp_path / "sizes.json")
    report = run_lint(
        SPECS, baseline_path=tmp_path / "sizes.json", pending=PENDING_SPEC_FIXES | {("qdi_get_project", "when")}
    )
    assert not report.ok
    assert any("qdi_get_project: [when] listed in PENDING_SPEC_FIXES" in p for p in report.problems())


def test_growth_over_five_percent_fails_until_the_baseline_is_updated(tmp_path: Path) -> None:
    baseline = tmp_path / "sizes.json"
    write_baseline(SPECS, baseline)
    grown = [dataclasses.replace(spec, description=spec.description + " " + "x" * 40) for spec in SPECS]
    report = run_lint(grown, baseline_path=baseline, pending=frozenset())
    assert report.sizes.growth is not None and report.sizes.growth > 0.05
    problem = report.sizes.problem()
    assert problem is not None and "over the baseline" in problem and "--update-baseline" in problem

    write_baseline(grown, baseline)
    assert run_lint(grown, baseline_path=baseline, pending=frozenset()).sizes.problem() is None


def test_growth_within_five_percent_passes(tmp_path: Path) -> None:
    baseline = tmp_path / "sizes.json"
    write_baseline(SPECS, baseline)
    grown = [dataclasses.replace(SPECS[0], description=SPECS[0].description + " Slightly longer."), *SPECS[1:]]
    report = run_lint(grown, baseline_path=baseline)
    assert report.sizes.total > report.sizes.baseline_total  # type: ignore[operator]
    assert report.sizes.problem() is None


def test_a_missing_baseline_says_how_to_create_it(tmp_path: Path) -> None:
    report = run_lint(SPECS, baseline_path=tmp_path / "absent.json")
    assert not report.ok
    assert "python -m evals --update-baseline" in (report.sizes.problem() or "")
