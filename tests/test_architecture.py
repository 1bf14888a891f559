"""The layers of DESIGN.md hold: the import-linter contracts in pyproject.toml, run inside the test suite; and
mypy finds no error in the package, with the configuration of pyproject.toml.

A second test of each plants a fault (an upward import in a copy of the package; a wrong type in a snippet
checked with the same configuration) and checks it is caught, so each check is known to bite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # A subprocess: import-linter builds its graph from sys.path, which must start at `root`'s package.
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))",
        ],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_layer_contract_is_kept() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout
    assert run.stdout.count("KEPT") >= 4


def test_an_upward_import_breaks_the_layer_contract(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "qdi_mcp", copy / "qdi_mcp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    api_init = copy / "qdi_mcp" / "api" / "__init__.py"
    api_init.write_text(api_init.read_text() + "\nfrom qdi_mcp.tools import base as _upward  # noqa\n")

    run = _lint_imports(copy)

    assert run.returncode != 0
    assert "qdi_mcp.api is not allowed to import qdi_mcp.tools" in run.stdout


def test_the_emulator_may_import_the_clock_and_nothing_else_of_the_package() -> None:
    # import-linter's forbidden contract lists modules, so a new module of the package must join the list
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    emulator_contract = next(c for c in contracts if c.get("source_modules") == ["qdi_mcp.emulator"])
    package = ROOT / "qdi_mcp"
    modules = {
        f"qdi_mcp.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem not in ("__init__", "__main__")) or (path / "__init__.py").is_file()
    }
    assert set(emulator_contract["forbidden_modules"]) == modules - {"qdi_mcp.emulator", "qdi_mcp.clock"}


def _mypy(*arguments: str) -> subprocess.CompletedProcess[str]:
    # A subprocess with the project's own [tool.mypy] configuration; its cache lives in the repository's
    # .mypy_cache (ignored by git), so a second run takes seconds.
    return subprocess.run(
        [sys.executable, "-m", "mypy", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_mypy_finds_no_error_in_the_package() -> None:
    run = _mypy()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "Success: no issues found" in run.stdout


def test_mypy_with_the_project_configuration_reports_a_wrong_type(tmp_path: Path) -> None:
    snippet = tmp_path / "wrong.py"
    snippet.write_text("count: int = 'three'\n")
    run = _mypy(str(snippet))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Incompatible types in assignment" in run.stdout
