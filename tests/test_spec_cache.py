"""The spec cache must never change what is loaded: same specs as a validating load, invalidated by any edit,
ignored when broken."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qdi_mcp.specs import SpecError, load_specs, specs_dir
from qdi_mcp.specs import loader as specs_module
from qdi_mcp.specs.cache import SpecCache


def fresh_load(directory: Path):  # type: ignore[no-untyped-def]
    specs_module._load_directory.cache_clear()
    specs_module._index_by_name.cache_clear()
    return load_specs(directory)


@pytest.fixture
def spec_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QDI_MCP_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "tool_specs"
    shutil.copytree(specs_dir(), target)
    return target


def cache_files(spec_copy: Path) -> list[Path]:
    return sorted((spec_copy.parent / "cache").glob("specs-*.json"))


def test_a_cached_load_equals_a_validating_load(spec_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fresh_load(spec_copy)
    assert len(cache_files(spec_copy)) == 1
    cached = fresh_load(spec_copy)
    monkeypatch.setenv("QDI_MCP_CACHE_DIR", "off")
    uncached = fresh_load(spec_copy)
    assert first == cached == uncached
    assert [s.input_schema for s in cached] == [s.input_schema for s in uncached]
    assert [s.output_schema for s in cached] == [s.output_schema for s in uncached]


def test_editing_a_spec_invalidates_the_cache(spec_copy: Path) -> None:
    fresh_load(spec_copy)
    path = spec_copy / "qdi_get_task.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("title: ", "title: Edited ", 1), encoding="utf-8")
    reloaded = {s.name: s for s in fresh_load(spec_copy)}
    assert reloaded["qdi_get_task"].title.startswith("Edited ")
    assert len(cache_files(spec_copy)) == 2


def test_a_broken_edit_is_still_caught_after_a_good_load_was_cached(spec_copy: Path) -> None:
    fresh_load(spec_copy)
    path = spec_copy / "qdi_get_task.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("toolset: tasks", "toolset: nonsense"), encoding="utf-8")
    with pytest.raises(SpecError, match="toolset"):
        fresh_load(spec_copy)


def test_a_corrupt_cache_entry_is_ignored(spec_copy: Path) -> None:
    expected = fresh_load(spec_copy)
    for entry in cache_files(spec_copy):
        entry.write_text("{not json", encoding="utf-8")
    assert fresh_load(spec_copy) == expected


def test_caching_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QDI_MCP_CACHE_DIR", "off")
    assert SpecCache.for_directory(tmp_path, []).path is None


def test_an_entry_others_can_write_is_ignored(spec_copy: Path) -> None:
    expected = fresh_load(spec_copy)
    [entry] = cache_files(spec_copy)
    planted = entry.read_text(encoding="utf-8").replace('"safety":"destructive"', '"safety":"read"')
    entry.write_text(planted, encoding="utf-8")
    entry.chmod(0o666)
    assert fresh_load(spec_copy) == expected


def test_an_entry_with_a_damaged_document_falls_back_to_the_yaml(spec_copy: Path) -> None:
    import json

    expected = fresh_load(spec_copy)
    [entry] = cache_files(spec_copy)
    data = json.loads(entry.read_text(encoding="utf-8"))
    del data["documents"][0]["safety"]
    entry.write_text(json.dumps(data), encoding="utf-8")
    assert fresh_load(spec_copy) == expected


def test_entries_are_private_to_their_user(spec_copy: Path) -> None:
    fresh_load(spec_copy)
    [entry] = cache_files(spec_copy)
    assert entry.stat().st_mode & 0o077 == 0
