"""Start-up on platforms without POSIX calls: Windows has no `os.getuid` (issue 19, defect 1)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from qdi_mcp.cli import main
from qdi_mcp.settings import declared
from qdi_mcp.settings.declared import _default_cache_dir
from qdi_mcp.specs import loader as specs_module
from qdi_mcp.specs.cache import SpecCache


def start_tools_command() -> int:
    # A new process each time: nothing of the previous start is kept in memory, only the cache on disk.
    specs_module._load_directory.cache_clear()
    specs_module._index_by_name.cache_clear()
    return main(["tools"])


def cache_hits(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each read of the spec cache served an entry, in order."""
    hits: list[bool] = []
    read = SpecCache.read

    def spy(self: SpecCache):  # type: ignore[no-untyped-def]
        entry = read(self)
        hits.append(entry is not None)
        return entry

    monkeypatch.setattr(SpecCache, "read", spy)
    return hits


def test_start_up_without_getuid_writes_the_spec_cache_then_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "profile" / "qdi-mcp"  # in the user's profile, as the Windows default is
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "profile"))
    monkeypatch.setenv("QDI_MCP_CACHE_DIR", str(cache))
    monkeypatch.delattr(os, "getuid")
    hits = cache_hits(monkeypatch)

    assert start_tools_command() == 0
    assert len(list(cache.glob("specs-*.json"))) == 1
    assert start_tools_command() == 0

    assert hits == [False, True]
    assert "tools," in capsys.readouterr().out


def test_without_getuid_a_cache_folder_outside_the_profile_is_written_but_never_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared" / "qdi-mcp"  # e.g. a network folder: anyone may have planted an entry there
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "profile"))
    monkeypatch.setenv("QDI_MCP_CACHE_DIR", str(shared))
    monkeypatch.delattr(os, "getuid")
    hits = cache_hits(monkeypatch)
    assert start_tools_command() == 0 and start_tools_command() == 0
    assert len(list(shared.glob("specs-*.json"))) == 1 and hits == [False, False]


def test_the_default_cache_folder_is_in_the_windows_profile_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(declared, "ON_WINDOWS", True)
    assert _default_cache_dir({"LOCALAPPDATA": r"C:\Users\ana\AppData\Local"}) == (
        Path(r"C:\Users\ana\AppData\Local") / "qdi-mcp"
    )


def test_no_home_folder_means_no_spec_cache_rather_than_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert _default_cache_dir({}) is None


def test_on_windows_the_http_port_is_not_shared_with_other_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows' SO_REUSEADDR lets a second process bind the same port; POSIX's only eases restarts.
    from qdi_mcp.server import transports

    monkeypatch.setattr(transports, "ON_WINDOWS", True)
    with transports.bind_socket("127.0.0.1", 0) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0

    monkeypatch.setattr(transports, "ON_WINDOWS", False)
    with transports.bind_socket("127.0.0.1", 0) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
