from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest
from qdi_data import FIXTURE_ZIP, build_zip, lying_zip_bomb

from qdi_mcp.guard.zipcheck import UnsafeZipError, check_zip, read_zip_entry


def test_real_qlik_export_passes_and_lists_its_entries() -> None:
    names = check_zip(FIXTURE_ZIP.read_bytes())

    assert len(names) == 63
    assert "qtcp_project.yaml" in names
    assert "qtcp_tasks/DATA MART/task.yaml" in names


def test_small_highly_compressible_files_are_fine() -> None:
    names = check_zip(build_zip([("defaults.yaml", b"key: value\n" * 5000)]))

    assert names == ["defaults.yaml"]


def test_zip_bomb_entry_is_refused() -> None:
    bomb = build_zip([("qtcp_project.yaml", b"a: 1\n"), ("bomb.yaml", b"\0" * (20 * 1024 * 1024))])

    with pytest.raises(UnsafeZipError, match="'bomb.yaml' expands .* zip bomb"):
        check_zip(bomb)


def test_total_uncompressed_size_over_the_limit_is_refused() -> None:
    data = build_zip([(f"file{index}.bin", bytes(range(256)) * 40) for index in range(5)])

    with pytest.raises(UnsafeZipError, match="unpacks to more than 30000 bytes"):
        check_zip(data, max_uncompressed=30_000)


@pytest.mark.parametrize(
    "name",
    [
        "../evil.yaml",
        "qtcp_tasks/../../evil.yaml",
        "/etc/cron.d/evil",
        "..\\..\\evil.yaml",
        "\\evil.yaml",
        "C:/Windows/evil.dll",
        "c:evil.yaml",
    ],
)
def test_zip_slip_entry_names_are_refused(name: str) -> None:
    data = build_zip([("qtcp_project.yaml", b"a: 1\n"), (name, b"x")])

    with pytest.raises(UnsafeZipError, match="zip slip"):
        check_zip(data)


def test_backslash_inside_a_name_that_does_not_escape_is_allowed() -> None:
    assert check_zip(build_zip([("qtcp_tasks\\task.yaml", b"x")])) == ["qtcp_tasks\\task.yaml"]


def test_symlink_entry_is_refused() -> None:
    link = zipfile.ZipInfo("qtcp_tasks/link.yaml")
    link.create_system = 3  # Unix
    link.external_attr = (stat.S_IFLNK | 0o777) << 16

    with pytest.raises(UnsafeZipError, match="symbolic link"):
        check_zip(build_zip([("qtcp_project.yaml", b"a: 1\n"), (link, b"/etc/passwd")]))


def test_too_many_entries_are_refused() -> None:
    data = build_zip([(f"f{index}.yaml", b"") for index in range(2001)])

    with pytest.raises(UnsafeZipError, match="2001 entries, more than the 2000-entry limit"):
        check_zip(data)


def test_archive_over_the_size_limit_is_refused() -> None:
    with pytest.raises(UnsafeZipError, match="more than the 100-byte limit"):
        check_zip(FIXTURE_ZIP.read_bytes(), max_bytes=100)


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40])
def test_bytes_that_are_not_a_zip_are_refused(data: bytes) -> None:
    with pytest.raises(UnsafeZipError, match="not a valid zip archive"):
        check_zip(data)


def test_empty_archive_is_refused() -> None:
    with pytest.raises(UnsafeZipError, match="empty"):
        check_zip(build_zip([]))


def test_encrypted_entry_is_refused() -> None:
    data = bytearray(build_zip([("secret.yaml", b"a: 1\n")]))
    # Set the "encrypted" general-purpose flag in the central directory header, as an encrypting tool would.
    central = data.index(b"PK\x01\x02")
    flags_offset = central + 8
    (flags,) = struct.unpack_from("<H", data, flags_offset)
    struct.pack_into("<H", data, flags_offset, flags | 0x1)

    with pytest.raises(UnsafeZipError, match="encrypted"):
        check_zip(bytes(data))


def test_duplicate_entry_names_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("qtcp_project.yaml", b"a")
        archive.writestr("qtcp_project.yaml", b"b")

    with pytest.raises(UnsafeZipError, match="appears twice"):
        check_zip(buffer.getvalue())


def test_read_zip_entry_returns_the_content() -> None:
    with zipfile.ZipFile(FIXTURE_ZIP) as archive:
        expected = archive.read("qtcp_tasks/DATA MART/task.yaml")

    content = read_zip_entry(FIXTURE_ZIP.read_bytes(), "qtcp_tasks/DATA MART/task.yaml")
    assert content == expected and b"DATA MART" in content


def test_read_zip_entry_names_a_missing_entry() -> None:
    with pytest.raises(UnsafeZipError, match="no entry 'absent.yaml'"):
        read_zip_entry(FIXTURE_ZIP.read_bytes(), "absent.yaml")


def test_read_zip_entry_refuses_more_than_the_cap() -> None:
    data = build_zip([("big.yaml", b"x" * 10_000)])

    with pytest.raises(UnsafeZipError, match="more than the 1000-byte limit"):
        read_zip_entry(data, "big.yaml", max_bytes=1000)


def test_read_zip_entry_catches_a_header_that_lies_about_its_size() -> None:
    data = bytearray(build_zip([("lie.yaml", b"y" * 10_000)]))
    # Shrink the declared uncompressed size in both headers: the CRC check must catch it.
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        header = data.index(signature)
        struct.pack_into("<I", data, header + size_offset, 10)

    with pytest.raises(UnsafeZipError, match="corrupt"):
        read_zip_entry(bytes(data), "lie.yaml")


def test_an_entry_whose_header_lies_about_its_size_is_refused_by_inflating_it() -> None:
    # issue 15, break 2: 1,000 bytes declared, 150 MiB inside (1029:1 against the declared size, under every
    # declared-size limit). Python's zip module is fooled: it stops at 1,000 bytes and the checksum matches.
    bomb = lying_zip_bomb()
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert archive.read("bomb.yaml") == b"\0" * 1000  # the attack: the reader sees nothing wrong

    with pytest.raises(UnsafeZipError, match="'bomb.yaml' declares 1000 bytes but unpacks to more than"):
        check_zip(bomb)


def test_inflating_stops_at_the_cap_instead_of_unpacking_everything() -> None:
    bomb = lying_zip_bomb(declared=10, real=8 * 1024 * 1024)

    with pytest.raises(UnsafeZipError, match="unpacks to more than the limit"):
        check_zip(bomb, max_uncompressed=1024 * 1024)


def test_a_stored_entry_and_the_real_export_pass_the_inflation_check() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("qtcp_project.yaml", b"name: x\n")
    assert check_zip(buffer.getvalue()) == ["qtcp_project.yaml"]
    assert len(check_zip(FIXTURE_ZIP.read_bytes())) == 63


def test_an_unsupported_compression_method_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("qtcp_project.yaml", b"name: x\n")

    with pytest.raises(UnsafeZipError, match="compression method 12"):
        check_zip(buffer.getvalue())
