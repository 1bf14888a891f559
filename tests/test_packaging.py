"""A plain `pip install .` (a wheel, no source tree) must carry the tool specs and find them at run time."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_specs_and_loads_them_without_the_source_tree(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("qdi_mcp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    specs_in_wheel = {Path(n).name for n in names if n.startswith("qdi_mcp/tool_specs/")}
    specs_in_repo = {p.name for p in (ROOT / "tool_specs").glob("*.yaml")}
    assert specs_in_wheel == specs_in_repo
    assert "qdi_mcp/specs/spec_schema.json" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from a folder without the repo on sys.path: only the unpacked wheel can answer.
    probe = (
        "import json, qdi_mcp.specs as s; specs = s.load_specs(); "
        "print(json.dumps({'dir': str(s.specs_dir()), 'count': len(specs)}))"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout)
    assert found["count"] == len(specs_in_repo) - 1  # _shared.yaml holds fragments, not a tool
    assert found["dir"].startswith(str(site))


def test_the_project_metadata_names_its_urls() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    urls = project["urls"]
    assert urls and all(url.startswith("https://") for url in urls.values())
    assert project["requires-python"] == ">=3.11"
