from __future__ import annotations

import io
import os
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from qdi_mcp.guard.workdir import Workdir, WorkdirError, default_export_name
from qdi_mcp.guard.zipcheck import UnsafeZipError


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path / "work")


def zip_with(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_read_import_refuses_a_file_that_is_no_safe_zip_before_anyone_confirms_it(workdir: Workdir) -> None:
    put(workdir, "empty.zip")  # an empty archive: nothing to import
    with pytest.raises(UnsafeZipError, match="empty"):
        workdir.read_import("empty.zip")


def put(workdir: Workdir, relative: str, data: bytes = b"PK\x05\x06" + b"\0" * 18) -> Path:
    path = workdir.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_export_path_accepts_a_plain_zip_name_inside_the_root(workdir: Workdir) -> None:
    assert workdir.export_path("customer-churn.zip") == workdir.root / "customer-churn.zip"


def test_export_path_accepts_unicode_letters(workdir: Workdir) -> None:
    assert workdir.export_path("Kundenabwanderung-Übersicht-数据.zip").name == "Kundenabwanderung-Übersicht-数据.zip"


def test_workdir_root_is_created_lazily(workdir: Workdir) -> None:
    workdir.export_path("x.zip")
    assert not workdir.root.exists()

    workdir.write_bytes(workdir.export_path("x.zip"), b"data")

    assert workdir.root.is_dir()


@pytest.mark.parametrize(
    ("file_name", "problem"),
    [
        ("../x.zip", "without folders"),
        ("a/b.zip", "without folders"),
        ("..\\x.zip", "without folders"),
        ("/etc/passwd", "without folders"),
        ("C:x.zip", "must not contain :"),
        ("x\0.zip", "control or invisible characters"),
        ("x\n.zip", "control or invisible characters"),
        ("evil\u202epiz.zip", "control or invisible characters"),
        ("..zip", "must not contain '..'"),
        (".hidden.zip", "must not start with '.'"),
        ("export.tar", "must end with '.zip'"),
        (".zip", "must not start with '.'"),
        ("", "must not be empty"),
        (" x.zip", "spaces"),
        ("nul.zip", "reserved device name"),
        ("a" * 197 + ".zip", "too long"),
    ],
)
def test_export_path_refuses_anything_but_a_plain_zip_name(workdir: Workdir, file_name: str, problem: str) -> None:
    with pytest.raises(WorkdirError, match="file_name") as caught:
        workdir.export_path(file_name)

    assert problem in str(caught.value)


def test_error_message_never_echoes_more_than_about_a_hundred_characters(workdir: Workdir) -> None:
    with pytest.raises(WorkdirError) as caught:
        workdir.export_path("/" + "x" * 5000 + ".zip")

    assert len(str(caught.value)) < 200
    assert caught.value.argument == "file_name"


def test_import_path_returns_an_existing_file_inside_the_root(workdir: Workdir) -> None:
    expected = put(workdir, "imports/project.zip", zip_with({"qtcp_project.yaml": b"name: p\n"}))

    assert workdir.import_path("imports/project.zip") == expected.resolve()
    assert workdir.read_import("imports/project.zip") == expected.read_bytes()


@pytest.mark.parametrize(
    ("relative", "problem"),
    [
        ("../x.zip", "must not contain '..'"),
        ("imports/../../x.zip", "must not contain '..'"),
        ("..\\x.zip", "must not contain '..'"),
        ("/etc/passwd", "not absolute"),
        ("\\\\server\\share\\x.zip", "not absolute"),
        ("C:\\x.zip", "not absolute"),
        ("sub\\x.zip", "use '/'"),
        ("x\0.zip", "control or invisible characters"),
        ("", "must not be empty"),
    ],
)
def test_import_path_refuses_escapes(workdir: Workdir, relative: str, problem: str) -> None:
    put(workdir, "x.zip")

    with pytest.raises(WorkdirError, match="^path ") as caught:
        workdir.import_path(relative)

    assert problem in str(caught.value)


def test_import_path_refuses_a_symlink_pointing_outside(workdir: Workdir, tmp_path: Path) -> None:
    outside = tmp_path / "outside.zip"
    outside.write_bytes(b"secret data")
    workdir.ensure_root()
    (workdir.root / "link.zip").symlink_to(outside)
    (workdir.root / "linked-folder").symlink_to(tmp_path, target_is_directory=True)

    with pytest.raises(WorkdirError, match="outside the work folder"):
        workdir.import_path("link.zip")
    with pytest.raises(WorkdirError, match="outside the work folder"):
        workdir.read_import("linked-folder/outside.zip")


def test_import_path_follows_a_symlink_that_stays_inside(workdir: Workdir) -> None:
    target = put(workdir, "real/project.zip")
    (workdir.root / "alias.zip").symlink_to(target)

    assert workdir.import_path("alias.zip") == target.resolve()


def test_import_path_refuses_missing_files_and_lists_what_is_there(workdir: Workdir) -> None:
    put(workdir, "available.zip")

    with pytest.raises(WorkdirError, match="names no file") as caught:
        workdir.import_path("absent.zip")

    assert "available.zip" in str(caught.value)


def test_import_path_refuses_a_folder(workdir: Workdir) -> None:
    (workdir.root / "folder.zip").mkdir(parents=True)

    with pytest.raises(WorkdirError, match="not a regular file"):
        workdir.import_path("folder.zip")


def test_import_path_refuses_files_over_the_size_limit(tmp_path: Path) -> None:
    workdir = Workdir(tmp_path, max_import_bytes=10)
    (tmp_path / "big.zip").write_bytes(b"x" * 11)

    with pytest.raises(WorkdirError, match="more than the 10-byte limit"):
        workdir.import_path("big.zip")


def test_import_from_a_missing_work_folder_says_so(workdir: Workdir) -> None:
    with pytest.raises(WorkdirError, match="does not exist yet"):
        workdir.import_path("x.zip")


def test_write_bytes_replaces_the_file_and_leaves_no_temporary_file(workdir: Workdir) -> None:
    target = workdir.export_path("project.zip")
    workdir.write_bytes(target, b"old")

    workdir.write_bytes(target, b"new content")

    assert target.read_bytes() == b"new content"
    assert [entry.name for entry in workdir.root.iterdir()] == ["project.zip"]


def test_failed_write_keeps_the_old_file_and_cleans_up(workdir: Workdir, monkeypatch: pytest.MonkeyPatch) -> None:
    target = workdir.export_path("project.zip")
    workdir.write_bytes(target, b"old")

    def failing_replace(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        workdir.write_bytes(target, b"new")

    assert target.read_bytes() == b"old"
    assert [entry.name for entry in workdir.root.iterdir()] == ["project.zip"]


def test_write_bytes_refuses_a_path_outside_the_root(workdir: Workdir, tmp_path: Path) -> None:
    with pytest.raises(WorkdirError, match="directly inside the work folder"):
        workdir.write_bytes(tmp_path / "elsewhere.zip", b"x")


def test_write_bytes_replaces_a_symlink_instead_of_writing_through_it(workdir: Workdir, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"untouched")
    workdir.ensure_root()
    (workdir.root / "trap.zip").symlink_to(outside)

    workdir.write_bytes(workdir.export_path("trap.zip"), b"export")

    assert outside.read_bytes() == b"untouched"
    assert (workdir.root / "trap.zip").read_bytes() == b"export"


def test_default_export_name_is_slugified_timestamped_and_valid(workdir: Workdir) -> None:
    now = datetime(2025, 1, 31, 13, 0, 5, tzinfo=timezone(timedelta(hours=1)))

    name = default_export_name("E2E Customer Churn / ../prod", "65f1c2aa", now)

    assert name == "e2e-customer-churn-prod-65f1c2aa-20250131T120005Z.zip"
    assert workdir.export_path(name).name == name


def test_default_export_name_survives_names_without_letters_and_very_long_ones(workdir: Workdir) -> None:
    now = datetime(2025, 1, 31, tzinfo=UTC)

    unnamed = default_export_name("../..", "id-1", now)
    long_name = default_export_name("数据" * 200, "x" * 300, now)

    assert unnamed == "project-id-1-20250131T000000Z.zip"
    assert workdir.export_path(long_name).name == long_name


def test_default_export_name_accepts_a_unix_timestamp_and_is_also_a_method(workdir: Workdir) -> None:
    name = workdir.default_export_name("Churn", "p-1", 1_700_000_000.0)

    assert name == default_export_name("Churn", "p-1", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))
    assert name == "churn-p-1-20231114T221320Z.zip"


def test_display_path_is_relative_to_the_work_folder(workdir: Workdir) -> None:
    assert workdir.display_path(workdir.export_path("a.zip")) == "a.zip"
    assert workdir.display_path(workdir.root / "sub" / "b.zip") == "sub/b.zip"
