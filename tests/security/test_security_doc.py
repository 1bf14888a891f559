"""SECURITY.md maps every threat to tests that exist: a renamed or deleted test breaks this, not the document's
promise."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECURITY_MD = REPO / "SECURITY.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
THREATS = ["Prompt injection", "Confused deputy", "Token leakage", "SSRF", "DNS rebinding", "Zip attacks"]


def sections() -> dict[str, str]:
    text = SECURITY_MD.read_text(encoding="utf-8")
    parts = re.split(r"^#{2,3} ", text, flags=re.MULTILINE)
    return {part.splitlines()[0]: part for part in parts[1:]}


def defined_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("threat", THREATS)
def test_each_threat_has_a_section_with_mitigations_and_tests(threat: str) -> None:
    matching = [body for title, body in sections().items() if threat.lower() in title.lower()]
    assert matching, f"SECURITY.md has no section on {threat}"
    assert "Mitigation" in matching[0]
    assert REFERENCE.search(matching[0]), f"the {threat} section names no test"


def test_every_test_named_in_security_md_exists() -> None:
    references = REFERENCE.findall(SECURITY_MD.read_text(encoding="utf-8"))
    assert len(references) >= 30
    missing = [
        f"{file}::{name}"
        for file, name in references
        if not (REPO / file).is_file() or name not in defined_functions(REPO / file)
    ]
    assert missing == []
