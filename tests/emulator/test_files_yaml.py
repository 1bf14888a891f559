"""YAML read and written with Qlik's scalar rules (YAML 1.2) and readable by YAML 1.1 tools too."""

from __future__ import annotations

import pytest
import yaml

from qdi_mcp.emulator.yaml_codec import dump_yaml, load_yaml


def test_words_and_timestamps_qlik_writes_unquoted_stay_strings() -> None:
    loaded = load_yaml("live: OFF\nflag: yes\nstart: 2024-09-18T15:19:15.3900000Z\ncode: 010\ntime: 12:30\n")
    assert loaded == {
        "live": "OFF",
        "flag": "yes",
        "start": "2024-09-18T15:19:15.3900000Z",
        "code": "010",
        "time": "12:30",
    }


def test_yaml_1_2_booleans_numbers_and_nulls_are_typed() -> None:
    loaded = load_yaml("a: true\nb: False\nc: 42\nd: -1.5\ne: ~\nf:\ng: 1e3\nh: 0x1F\n")
    assert loaded == {"a": True, "b": False, "c": 42, "d": -1.5, "e": None, "f": None, "g": 1000.0, "h": 31}


def test_dumped_strings_read_back_the_same_in_yaml_1_1_and_1_2() -> None:
    value = {
        "words": ["OFF", "on", "yes", "No", "true", "null", ""],
        "numbers_as_text": ["010", "1e5", "1.5", "12:30", "0x1F", "2024-01-01"],
        "references": ["{{task.a-1.databaseName}}", "ref{project.current.spaceId}", "%"],
        "sql": "\nSELECT *\n  FROM ${ORDERS}\n\nWHERE 1 = 1;\n",
        "trailing_space": "line with space \nnext",
        "typed": [True, 3, 2.5, None],
    }
    text = dump_yaml(value)
    assert load_yaml(text) == value
    assert yaml.safe_load(text) == value


def test_dump_keeps_key_order_and_indents_sequences_like_qlik() -> None:
    text = dump_yaml({"properties": {"name": "X", "id": "x-1"}, "rules": [{"ordinal": 0}]})
    assert text == "properties:\n  name: X\n  id: x-1\nrules:\n  - ordinal: 0\n"


def test_multi_line_strings_are_written_as_literal_blocks() -> None:
    text = dump_yaml({"sql": "SELECT 1\nFROM dual\n"})
    assert text == "sql: |\n  SELECT 1\n  FROM dual\n"


def test_aliases_are_refused_so_a_hostile_file_cannot_blow_up() -> None:
    laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"
    with pytest.raises(yaml.YAMLError, match="aliases are not supported"):
        load_yaml(laughs)
    with pytest.raises(yaml.YAMLError, match="aliases are not supported"):
        load_yaml("loop: &loop [*loop]\n")
