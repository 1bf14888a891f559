"""A reduced run of every benchmark (`python -m evals.perf --quick`): each one runs, prints its table and lands in
the JSON file, and the goals table closes the run. The figures are the benchmark's business, never asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.perf.__main__ import BENCHMARKS, main
from qdi_mcp.specs import load_specs

TABLE_TITLES = (
    "Cold start over stdio",
    "Per-call overhead",
    "What agents read: tool definitions",
    "Typical results of the read tools",
    "Waits on the virtual clock",
    "Load over streamable HTTP",
    "Goals",
)


def test_the_quick_run_prints_every_table_and_writes_every_benchmark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "perf.json"
    output.write_text(json.dumps({"earlier": [{"kept": True}]}), encoding="utf-8")

    assert main(["--quick", "--output", str(output)]) == 0

    printed = capsys.readouterr().out
    for title in TABLE_TITLES:
        assert title in printed, f"no {title!r} table"
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["earlier"] == [{"kept": True}], "results of other runs are kept"
    assert set(BENCHMARKS) | {"goals"} <= set(document)

    specs = load_specs()
    coldstart = document["coldstart"][0]
    assert coldstart["qdi_tools"] == len(specs) and coldstart["reference_tools"] == 1
    assert coldstart["qdi_median_ms"] > 0 and coldstart["reference_median_ms"] > 0

    overhead = document["overhead"][0]
    paths = ("raw_median_us", "direct_median_us", "bare_sdk_tool_median_us", "sdk_floor_median_us", "mcp_median_us")
    # the goal line is the MCP tool against the SDK floor of the same run (rounded figures, so approximately)
    assert overhead["ratio"] == pytest.approx(overhead["mcp_median_us"] / overhead["sdk_floor_median_us"], rel=1e-2)
    assert all(overhead[key] > 0 for key in paths)

    sizes = document["sizes"][0]
    assert [row["tool"] for row in sizes["definitions"]] == [spec.name for spec in specs]
    read_tools = {spec.name for spec in specs if spec.safety == "read"}
    assert {row["tool"] for row in sizes["results"]} == read_tools
    assert not [row["tool"] for row in sizes["results"] if row["is_error"]], "typical calls must succeed"

    load = document["load"][0]
    assert load["workflows_completed"] == load["workflow_calls"], load["workflow_failures"]
    assert load["read_calls"] > 0 and not load["read_errors"]
    assert set(load["rss_mib"]) == {"start", "after_workflows", "after_reads"}

    figures = {row["figure"] for row in document["goals"]}
    assert {"cold start: qdi-mcp / minimal server", "per call: MCP tool / SDK floor"} <= figures
    for row in document["goals"]:
        assert row["figure"] in printed and isinstance(row["ok"], bool)


def test_only_runs_the_chosen_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "perf.json"

    assert main(["--quick", "--only", "sizes", "--output", str(output)]) == 0

    printed = capsys.readouterr().out
    assert "What agents read" in printed and "Cold start" not in printed
    assert set(json.loads(output.read_text(encoding="utf-8"))) == {"sizes", "goals"}
