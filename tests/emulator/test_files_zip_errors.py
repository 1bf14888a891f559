"""Reading broken or hostile project zips: every refusal names the offending entry."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from qdi_data import FIXTURE_ZIP

from qdi_mcp.emulator.project_files import ProjectZipError, read_project_zip

LANDING_TASK = "qtcp_tasks/CHURN LANDING/task.yaml"


def fixture_entries() -> dict[str, bytes]:
    with zipfile.ZipFile(FIXTURE_ZIP) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def refusal(data: bytes) -> ProjectZipError:
    with pytest.raises(ProjectZipError) as raised:
        read_project_zip(data)
    return raised.value


def test_bytes_that_are_not_a_zip_are_refused_naming_the_zip() -> None:
    error = refusal(b"PK\x03\x04 this is not really a zip")
    assert error.file == "<zip>"
    assert "not a valid zip" in error.detail


def test_a_truncated_zip_is_refused() -> None:
    data = FIXTURE_ZIP.read_bytes()
    assert refusal(data[: len(data) // 2]).file == "<zip>"


def test_a_corrupted_entry_is_refused_naming_it() -> None:
    data = bytearray(make_zip({"qtcp_project.yaml": b"properties: {}\n" * 50}))
    # flip bytes inside the compressed data of the only entry (after its 30-byte header and name)
    start = 30 + len("qtcp_project.yaml")
    for offset in range(start, start + 8):
        data[offset] ^= 0xFF
    error = refusal(bytes(data))
    assert error.file in ("qtcp_project.yaml", "<zip>")


def test_missing_project_file_is_refused_naming_it() -> None:
    files = fixture_entries()
    del files["qtcp_project.yaml"]
    error = refusal(make_zip(files))
    assert error.file == "qtcp_project.yaml"
    assert "missing" in error.detail


def test_a_project_zipped_inside_a_folder_gets_a_hint() -> None:
    files = {f"churn/{name}": content for name, content in fixture_entries().items()}
    error = refusal(make_zip(files))
    assert error.file == "qtcp_project.yaml"
    assert "churn/qtcp_project.yaml" in error.detail


def test_bad_yaml_is_refused_naming_the_entry_and_the_line() -> None:
    files = fixture_entries()
    files[LANDING_TASK] = b"properties:\n  name: CHURN LANDING\n  id: [unclosed\n  type: LANDING\n"
    error = refusal(make_zip(files))
    assert error.file == LANDING_TASK
    assert "line 4" in error.detail


def test_bad_json_is_refused_naming_the_entry_and_the_line() -> None:
    files = fixture_entries()
    files["qtcp_bindings_definition.json"] = b'{\n  "variables": {\n    "a": ""\n    "b": ""\n  }\n}\n'
    error = refusal(make_zip(files))
    assert error.file == "qtcp_bindings_definition.json"
    assert "line 4" in error.detail


def test_a_task_folder_without_task_yaml_is_refused_naming_it() -> None:
    files = fixture_entries()
    del files["qtcp_tasks/CHURN STORAGE/task.yaml"]
    error = refusal(make_zip(files))
    assert error.file == "qtcp_tasks/CHURN STORAGE/task.yaml"
    assert "missing" in error.detail


@pytest.mark.parametrize("missing", ["id", "name", "type"])
def test_task_yaml_without_identity_is_refused_naming_the_field(missing: str) -> None:
    properties = {"name": "CHURN LANDING", "id": "churn_landing-wjkl", "type": "LANDING"}
    del properties[missing]
    body = "properties:\n" + "".join(f"  {key}: {value}\n" for key, value in properties.items())
    files = fixture_entries()
    files[LANDING_TASK] = body.encode()
    error = refusal(make_zip(files))
    assert error.file == LANDING_TASK
    assert f"properties.{missing}" in error.detail


def test_task_yaml_that_is_not_a_mapping_is_refused() -> None:
    files = fixture_entries()
    files[LANDING_TASK] = b"- just\n- a list\n"
    assert refusal(make_zip(files)).file == LANDING_TASK


def test_an_unknown_task_type_is_refused_naming_the_file() -> None:
    files = fixture_entries()
    files[LANDING_TASK] = files[LANDING_TASK].replace(b"type: LANDING", b"type: LANDING_ZONE")
    error = refusal(make_zip(files))
    assert error.file == LANDING_TASK
    assert "LANDING_ZONE" in error.detail


def test_duplicate_task_ids_are_refused() -> None:
    files = fixture_entries()
    storage = "qtcp_tasks/SALESFORCE STORAGE/task.yaml"
    files[storage] = files[storage].replace(b"id: salesforce_storage-_h7u", b"id: storage-0ivk")
    error = refusal(make_zip(files))
    assert "duplicate task id 'storage-0ivk'" in error.detail
    assert error.file in (storage, "qtcp_tasks/CHURN STORAGE/task.yaml")


@pytest.mark.parametrize(
    "entry",
    ["../evil.yaml", "qtcp_tasks/../../evil.yaml", "/etc/cron.d/evil", "C:/evil.yaml", "qtcp_tasks\\x.yaml"],
)
def test_entries_escaping_the_root_are_refused(entry: str) -> None:
    files = fixture_entries()
    files[entry] = b"x: 1\n"
    error = refusal(make_zip(files))
    assert error.file == entry
    assert "escapes" in error.detail


def test_symlink_entries_are_refused() -> None:
    error = refusal(make_zip(fixture_entries(), symlinks={"qtcp_tasks/link.yaml": "/etc/passwd"}))
    assert error.file == "qtcp_tasks/link.yaml"
    assert "symbolic link" in error.detail


def test_a_legacy_export_missing_a_listed_task_is_refused_naming_the_task_file() -> None:
    error = refusal(make_zip({"project.json": b'{"tasks": ["a-0001", "b-0002"]}', "tasks/a-0001.json": b"{}"}))
    assert error.file == "tasks/a-0001.json" and "id is missing" in error.detail
    error = refusal(make_zip({"project.json": b'{"tasks": ["b-0002"]}'}))
    assert error.file == "tasks/b-0002.json" and "project.json lists task 'b-0002'" in error.detail


def test_non_utf8_yaml_is_refused_naming_the_entry() -> None:
    files = fixture_entries()
    files["qtcp_tasks/CHURN LANDING/sourceSelection.yaml"] = "name: caf\xe9\n".encode("latin-1")
    error = refusal(make_zip(files))
    assert error.file == "qtcp_tasks/CHURN LANDING/sourceSelection.yaml"
    assert "UTF-8" in error.detail


def test_error_message_names_the_file_and_the_problem() -> None:
    files = fixture_entries()
    del files["qtcp_project.yaml"]
    error = refusal(make_zip(files))
    assert str(error).startswith("qtcp_project.yaml: ")
    assert isinstance(error, ValueError)


def test_yaml_aliases_are_refused_naming_the_entry() -> None:
    files = fixture_entries()
    files["qtcp_tasks/CHURN LANDING/schedule.yaml"] = b"a: &a [1, 2]\nb: [*a, *a]\n"
    error = refusal(make_zip(files))
    assert error.file == "qtcp_tasks/CHURN LANDING/schedule.yaml"
    assert "aliases" in error.detail
