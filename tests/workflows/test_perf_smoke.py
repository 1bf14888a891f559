"""A reduced run of the waits benchmark (`python -m evals.perf --quick`): it runs, prints its table and writes its
JSON. The figures themselves are the benchmark's business, never asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.perf.__main__ import main


def test_the_quick_waits_benchmark_prints_its_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results" / "perf.json"
    output.parent.mkdir()
    output.write_text(json.dumps({"other_benchmark": [{"kept": True}]}), encoding="utf-8")

    assert main(["--quick", "--only", "waits", "--output", str(output)]) == 0

    printed = capsys.readouterr().out
    assert "polls per wait and detection lag" in printed
    assert "lag max" in printed and "polls max" in printed
    assert "goals:" in printed
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["other_benchmark"] == [{"kept": True}], "other benchmarks' results are kept"
    rows = document["waits"]
    assert [row["action_seconds"] for row in rows] == [2.0, 30.0]
    for row in rows:
        assert row["measured_action_seconds"] == row["action_seconds"], "the measured action really takes that long"
        assert row["states"] == ["COMPLETED"]
        assert row["polls_max"] >= 1
        assert f"{row['action_seconds']:g}s" in printed
