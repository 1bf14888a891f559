"""Checks a project zip before it is uploaded (or read): size, entry count, zip bombs, zip slip, symlinks,
encryption.

:func:`check_zip` first refuses on what the central directory declares (entry count, names, kinds, sizes), then
inflates every entry for real, with a hard cap on bytes and ratio, because the declared sizes come from whoever
built the archive: an entry that declares 1,000 bytes and inflates to 150 MiB is a bomb for the unpacker (Qlik),
even though Python's zip module stops reading at the declared size and finds a checksum that matches the first
bytes. Inflating costs at most the cap plus one chunk, whatever the archive holds.

Exceptions::

    ValueError
     └── UnsafeZipError
"""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
import zlib

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_UNCOMPRESSED",
    "UnsafeZipError",
    "check_zip",
    "read_zip_entry",
]

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 50 * MIB
DEFAULT_MAX_ENTRIES = 2000
DEFAULT_MAX_UNCOMPRESSED = 200 * MIB
DEFAULT_MAX_RATIO = 100
# Small files legitimately compress very well (YAML full of repeated keys) and cannot hurt: the total cap
# bounds them. The ratio only matters for entries big enough to be a bomb.
DEFAULT_RATIO_MIN_SIZE = 1 * MIB

_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_FLAG_ENCRYPTED = 0x1
_MAX_SHOWN_CHARS = 100
_READ_CHUNK = 64 * 1024
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30


class UnsafeZipError(ValueError):
    """The archive is not a zip, or is one that could harm whoever unpacks it; the message says which."""


def check_zip(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
    max_ratio: float = DEFAULT_MAX_RATIO,
    ratio_min_size: int = DEFAULT_RATIO_MIN_SIZE,
) -> list[str]:
    """Return the entry names of a safe zip archive, or raise :class:`UnsafeZipError` saying what is wrong."""
    if len(data) > max_bytes:
        raise UnsafeZipError(f"the zip archive is {len(data)} bytes, more than the {max_bytes}-byte limit")
    declared = _declared_entry_count(data)
    # Refuse before parsing: a central directory of a million entries is itself the attack.
    if declared is not None and declared > max_entries:
        raise UnsafeZipError(_too_many_entries(declared, max_entries))
    infos = _central_directory(data)
    if not infos:
        raise UnsafeZipError("the zip archive is empty: it holds no files")
    if len(infos) > max_entries:
        raise UnsafeZipError(_too_many_entries(len(infos), max_entries))

    names: list[str] = []
    seen: set[str] = set()
    total_uncompressed = 0
    for info in infos:
        _check_entry_name(info.filename)
        if info.filename in seen:
            raise UnsafeZipError(f"zip entry {_show(info.filename)} appears twice")
        seen.add(info.filename)
        _check_entry_kind(info)
        _check_entry_ratio(info, max_ratio, ratio_min_size)
        total_uncompressed += info.file_size
        if total_uncompressed > max_uncompressed:
            raise UnsafeZipError(
                f"the zip archive unpacks to more than {max_uncompressed} bytes (limit reached at entry "
                f"{_show(info.filename)})"
            )
        names.append(info.filename)
    inflated_total = 0
    for info in infos:
        inflated_total += _inflate_entry(data, info, max_uncompressed - inflated_total, max_ratio, ratio_min_size)
    return names


def read_zip_entry(data: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_UNCOMPRESSED) -> bytes:
    """Decompress one entry, never producing more than ``max_bytes`` whatever its header declares."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise UnsafeZipError(f"the zip archive has no entry {_show(name)}") from None
        if info.file_size > max_bytes:
            raise UnsafeZipError(
                f"zip entry {_show(name)} unpacks to {info.file_size} bytes, more than the {max_bytes}-byte limit"
            )
        chunks: list[bytes] = []
        produced = 0
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(_READ_CHUNK):
                    produced += len(chunk)
                    if produced > max_bytes:
                        raise UnsafeZipError(f"zip entry {_show(name)} unpacks to more than {max_bytes} bytes")
                    chunks.append(chunk)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            if isinstance(error, UnsafeZipError):
                raise
            raise UnsafeZipError(f"zip entry {_show(name)} is corrupt: {error}") from None
    return b"".join(chunks)


def _inflate_entry(data: bytes, info: zipfile.ZipInfo, budget: int, max_ratio: float, ratio_min_size: int) -> int:
    """Inflate one entry's stored bytes, counting (never keeping) the output, and return its real size. Refuses
    an entry that inflates past the archive's remaining `budget`, past the ratio limit, or to another size than
    its header declares (a lying header is the bomb's signature)."""
    if info.is_dir():
        return 0
    stored = _stored_bytes(data, info)
    if info.compress_type == zipfile.ZIP_STORED:
        produced = len(stored)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        produced = _count_inflated(stored, info, budget)
    else:
        raise UnsafeZipError(
            f"zip entry {_show(info.filename)} uses compression method {info.compress_type}; only stored and "
            "deflated entries are accepted (the zip Qlik exports)"
        )
    if produced > budget:
        raise UnsafeZipError(
            f"the zip archive unpacks to more than the limit (reached at entry {_show(info.filename)})"
        )
    if produced != info.file_size:
        more = "more than " if produced > info.file_size else ""
        raise UnsafeZipError(
            f"zip entry {_show(info.filename)} declares {info.file_size} bytes but unpacks to {more}{produced}: "
            "its header lies, as a zip bomb's does"
        )
    ratio = produced / max(len(stored), 1)
    if produced >= ratio_min_size and ratio > max_ratio:
        raise UnsafeZipError(
            f"zip entry {_show(info.filename)} expands {ratio:.0f} times, more than the {max_ratio:g}× limit: "
            "it looks like a zip bomb"
        )
    return produced


def _stored_bytes(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """The entry's compressed bytes, found through its local header (whose name and extra field lengths may
    differ from the central directory's)."""
    start = info.header_offset
    header = data[start : start + _LOCAL_HEADER_SIZE]
    if len(header) < _LOCAL_HEADER_SIZE or not header.startswith(_LOCAL_HEADER):
        raise UnsafeZipError(f"zip entry {_show(info.filename)} has no valid local header")
    name_length = int.from_bytes(header[26:28], "little")
    extra_length = int.from_bytes(header[28:30], "little")
    begin = start + _LOCAL_HEADER_SIZE + name_length + extra_length
    end = begin + info.compress_size
    if end > len(data):
        raise UnsafeZipError(f"zip entry {_show(info.filename)} is cut short: the archive ends inside it")
    return data[begin:end]


def _count_inflated(stored: bytes, info: zipfile.ZipInfo, budget: int) -> int:
    """Bytes the raw deflate stream inflates to, stopping as soon as they pass `budget`; output is dropped."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as zip entries hold it
    produced = 0
    pending = stored
    try:
        while pending and produced <= budget:
            produced += len(inflater.decompress(pending, _READ_CHUNK))
            pending = inflater.unconsumed_tail
        if produced <= budget:
            produced += len(inflater.flush())
    except zlib.error as error:
        raise UnsafeZipError(f"zip entry {_show(info.filename)} is corrupt: {error}") from None
    return produced


def _declared_entry_count(data: bytes) -> int | None:
    start = data.rfind(_END_OF_CENTRAL_DIRECTORY, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
    if start < 0 or start + _EOCD_SIZE > len(data):
        return None
    total = int.from_bytes(data[start + 10 : start + 12], "little")
    return None if total == 0xFFFF else total  # 0xFFFF: the real count is in the zip64 record


def _central_directory(data: bytes) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.infolist()
    except Exception as error:
        # Any failure to parse untrusted bytes means the same thing to the caller: not a usable zip.
        detail = str(error) or type(error).__name__
        raise UnsafeZipError(f"the file is not a valid zip archive ({_shorten(detail)})") from None


def _check_entry_name(name: str) -> None:
    if not name:
        raise UnsafeZipError("a zip entry has an empty name")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise UnsafeZipError(f"zip entry {_show(name)} has a control character in its name")
    # Windows unpackers treat '\' as a folder separator, so check both separators.
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or _DRIVE_LETTER.match(name):
        raise UnsafeZipError(f"zip entry {_show(name)} has an absolute path (zip slip)")
    if ".." in parts:
        raise UnsafeZipError(f"zip entry {_show(name)} climbs out of the archive folder with '..' (zip slip)")


def _check_entry_kind(info: zipfile.ZipInfo) -> None:
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise UnsafeZipError(f"zip entry {_show(info.filename)} is encrypted; upload an unencrypted zip")
    # The high 16 bits carry the Unix mode when the archive was made on Unix; zero elsewhere.
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        raise UnsafeZipError(f"zip entry {_show(info.filename)} is a symbolic link; links are not allowed")
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeZipError(f"zip entry {_show(info.filename)} is a special file (device, pipe or socket)")


def _check_entry_ratio(info: zipfile.ZipInfo, max_ratio: float, ratio_min_size: int) -> None:
    if info.file_size < ratio_min_size:
        return
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > max_ratio:
        raise UnsafeZipError(
            f"zip entry {_show(info.filename)} expands {ratio:.0f} times ({info.compress_size} → "
            f"{info.file_size} bytes), more than the {max_ratio:g}× limit: it looks like a zip bomb"
        )


def _too_many_entries(count: int, max_entries: int) -> str:
    return f"the zip archive has {count} entries, more than the {max_entries}-entry limit"


def _show(name: str) -> str:
    return repr(_shorten(name))


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 1] + "…"
