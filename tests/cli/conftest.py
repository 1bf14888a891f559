"""Every CLI test starts from a clean shell: no tenant, credentials or policy from the developer's environment,
a private work folder, home and current folder, and `main()`'s logging setup undone afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

KEPT = {"QDI_MCP_CACHE_DIR"}  # the suite's private spec cache (tests/conftest.py)


@pytest.fixture(autouse=True)
def clean_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None) -> None:
    for name in list(os.environ):
        if name.startswith(("QLIK_", "QDI_")) and name not in KEPT:
            monkeypatch.delenv(name)
    monkeypatch.setenv("QDI_MCP_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
