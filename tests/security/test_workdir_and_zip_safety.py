"""Files, through the MCP tools: exports are written only inside QDI_MCP_WORKDIR, imports read only from it, and
a zip is checked before upload. Every refusal is a clear error and no import request reaches the emulator."""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from qdi_data import build_zip, lying_zip_bomb
from qdi_testkit import CUSTOMER_360, Stack, open_stack

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def with_declared_sizes(data: bytes, declared: int) -> bytes:
    """Rewrite every central-directory record to claim `declared` uncompressed bytes (the header lies)."""
    patched = bytearray(data)
    offset = patched.find(b"PK\x01\x02")
    while offset >= 0:
        struct.pack_into("<I", patched, offset + 24, declared)
        offset = patched.find(b"PK\x01\x02", offset + 4)
    return bytes(patched)


def zips_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.zip*"))


def size_of(path: Path) -> int:
    return os.path.getsize(path)


def import_requests(stack: Stack) -> int:
    return stack.emulator.requests["import_project"] + stack.emulator.counters["import_project"]


async def call(stack: Stack, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await stack.mcp.call_tool(tool, arguments)
    return {"is_error": bool(result.is_error), **(result.structured_content or {})}


# --- exports -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_name",
    ["../x.zip", "../../tmp/x.zip", "/tmp/x.zip", "sub/x.zip", "..\\x.zip", ".hidden.zip", "x.zip\x00.txt", "x.ZIP "],
)
async def test_export_file_names_that_leave_the_workdir_are_refused_before_any_request(
    tmp_path: Path, file_name: str
) -> None:
    async with open_stack(tmp_path) as stack:
        outcome = await call(
            stack, "qdi_export_project", {"project_id": stack.project_id(CUSTOMER_360), "file_name": file_name}
        )
        assert outcome["is_error"]
        error = outcome["error"]
        assert error["code"] in {"invalid_arguments", "invalid_path"}, error
        assert "file_name" in (error.get("field") or error["message"]), error
        assert stack.emulator.requests["export_project"] == 0
    assert zips_under(tmp_path) == []


async def test_export_never_writes_through_a_symlink_in_the_workdir(tmp_path: Path) -> None:
    outside = tmp_path / "precious.zip"
    outside.write_bytes(b"not to be overwritten")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "link.zip").symlink_to(outside)
    async with open_stack(tmp_path) as stack:
        outcome = await call(
            stack, "qdi_export_project", {"project_id": stack.project_id(CUSTOMER_360), "file_name": "link.zip"}
        )
        assert not outcome["is_error"], outcome
    # The link is a file of that name: it is left alone, and the export gets a name of its own (issue 15).
    assert outside.read_bytes() == b"not to be overwritten"
    assert (workdir / "link.zip").is_symlink() and outcome["path"] == "link-1.zip"
    assert zipfile.is_zipfile(workdir / "link-1.zip")


# --- imports -----------------------------------------------------------------------------------------------


@pytest.fixture
def outside_zip(tmp_path: Path) -> Path:
    """A perfectly good project zip that lies outside the work folder."""
    path = tmp_path / "elsewhere" / "project.zip"
    path.parent.mkdir()
    path.write_bytes(build_zip([("qtcp_project.yaml", b"name: planted\n")]))
    return path


def plant_links(tmp_path: Path, outside_zip: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    (workdir / "link.zip").symlink_to(outside_zip)
    (workdir / "linked_dir").symlink_to(outside_zip.parent, target_is_directory=True)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/etc/passwd", "invalid_arguments"),
        ("/etc/passwd.zip", "invalid_path"),
        ("../../../etc/x.zip", "invalid_path"),
        ("../elsewhere/project.zip", "invalid_path"),
        ("sub/../../elsewhere/project.zip", "invalid_path"),
        ("link.zip", "invalid_path"),
        ("linked_dir/project.zip", "invalid_path"),
        ("C:\\Windows\\x.zip", "invalid_path"),
        ("missing.zip", "invalid_path"),
    ],
)
async def test_imports_read_only_from_inside_the_workdir(
    tmp_path: Path, outside_zip: Path, path: str, code: str
) -> None:
    plant_links(tmp_path, outside_zip)
    async with open_stack(tmp_path, confirm="never") as stack:
        outcome = await call(stack, "qdi_import_project", {"project_id": stack.project_id(CUSTOMER_360), "path": path})
        assert outcome["is_error"], outcome
        assert outcome["error"]["code"] == code, outcome["error"]
        assert "path" in outcome["error"]["message"]
        assert import_requests(stack) == 0


async def test_a_confirmed_import_of_an_outside_file_is_still_refused(tmp_path: Path, outside_zip: Path) -> None:
    plant_links(tmp_path, outside_zip)
    async with open_stack(tmp_path) as stack:
        arguments = {"project_id": stack.project_id(CUSTOMER_360), "path": "link.zip"}
        # Refused before anyone is asked to confirm an import that cannot happen...
        asked = await call(stack, "qdi_import_project", arguments)
        assert asked["is_error"] and asked["error"]["code"] == "invalid_path"
        assert import_requests(stack) == 0
    async with open_stack(tmp_path, confirm="never") as stack:
        # ...and when confirmation is off, the handler refuses it all the same.
        arguments = {"project_id": stack.project_id(CUSTOMER_360), "path": "link.zip"}
        outcome = await call(stack, "qdi_import_project", arguments)
        assert outcome["is_error"] and outcome["error"]["code"] == "invalid_path"
        assert import_requests(stack) == 0


async def test_a_zip_exported_into_the_workdir_imports(tmp_path: Path) -> None:
    # the control for the refusals around it: a good zip from the workdir does reach the service
    async with open_stack(tmp_path, confirm="never") as stack:
        pid = stack.project_id(CUSTOMER_360)
        exported = await call(stack, "qdi_export_project", {"project_id": pid, "file_name": "backup.zip"})
        imported = await call(stack, "qdi_import_project", {"project_id": pid, "path": exported["path"]})
        assert not imported["is_error"], imported
        assert stack.emulator.counters["import_project_async"] == 1  # a YAML export goes through import-async


# --- zip checks before upload ------------------------------------------------------------------------------

PROJECT_YAML = ("qtcp_project.yaml", b"name: x\n")
UNSAFE_ZIPS = {
    "bomb": (build_zip([PROJECT_YAML, ("bomb.yaml", b"\0" * (20 * MIB))]), "zip bomb"),
    "slip_dotdot": (build_zip([PROJECT_YAML, ("../../evil.yaml", b"x")]), "zip slip"),
    "slip_absolute": (build_zip([PROJECT_YAML, ("/etc/cron.d/evil", b"x")]), "zip slip"),
    "slip_backslash": (build_zip([PROJECT_YAML, ("..\\..\\evil.yaml", b"x")]), "zip slip"),
    "symlink": (build_zip([PROJECT_YAML, symlink_entry("qtcp_tasks/link", "/etc/passwd")]), "symbolic link"),
    "too_many_entries": (build_zip([(f"f{i}.yaml", b"") for i in range(2001)]), "2001 entries"),
    "unpacks_too_big": (
        with_declared_sizes(build_zip([(f"f{i}.yaml", b"a: 1\n") for i in range(210)]), MIB - 1),
        "unpacks to more than",
    ),
    "not_a_zip": (b"PK\x03\x04 this is not really a zip archive", "not a valid zip"),
}


@pytest.mark.parametrize("kind", sorted(UNSAFE_ZIPS))
async def test_unsafe_zips_are_refused_before_upload_with_a_clear_error(tmp_path: Path, kind: str) -> None:
    data, explanation = UNSAFE_ZIPS[kind]
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / f"{kind}.zip").write_bytes(data)
    async with open_stack(tmp_path, confirm="never") as stack:
        outcome = await call(
            stack, "qdi_import_project", {"project_id": stack.project_id(CUSTOMER_360), "path": f"{kind}.zip"}
        )
        assert outcome["is_error"], outcome
        assert outcome["error"]["code"] == "unsafe_zip", outcome["error"]
        assert explanation in outcome["error"]["message"]
        assert import_requests(stack) == 0


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_zip_bomb_with_lying_headers_is_refused_before_anyone_is_asked_to_confirm(
    tmp_path: Path, mode: str
) -> None:
    # issue 15, break 2: the check inflates for real, and runs before the preview: no question, no token.
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "lying.zip").write_bytes(lying_zip_bomb())
    asked: list[str] = []

    async def elicitation(context: Any, params: Any) -> Any:
        asked.append(params.message)
        raise AssertionError("nobody may be asked to confirm an import of a zip bomb")

    async with open_stack(tmp_path, mode=mode, elicitation_callback=elicitation) as stack:
        outcome = await call(
            stack, "qdi_import_project", {"project_id": stack.project_id(CUSTOMER_360), "path": "lying.zip"}
        )
        assert outcome["is_error"] and outcome["error"]["code"] == "unsafe_zip", outcome
        assert "declares 1000 bytes but unpacks to more than" in outcome["error"]["message"]
        assert "confirmation_token" not in str(outcome)
        assert asked == [] and import_requests(stack) == 0


def sparse_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:  # sparse: `size` bytes on paper, nothing on disk
        file.truncate(size)
    return path


async def test_an_archive_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    huge = sparse_file(tmp_path / "work" / "huge.zip", 60 * MIB)
    async with open_stack(tmp_path, confirm="never") as stack:
        outcome = await call(
            stack, "qdi_import_project", {"project_id": stack.project_id(CUSTOMER_360), "path": "huge.zip"}
        )
        assert outcome["is_error"] and outcome["error"]["code"] == "invalid_path"
        assert "limit" in outcome["error"]["message"]
        assert import_requests(stack) == 0
    assert size_of(huge) == 60 * MIB
