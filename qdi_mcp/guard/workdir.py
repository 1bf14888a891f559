"""The work folder (``QDI_MCP_WORKDIR``): exports are written only inside it, imports are read only from it.

File names and paths come from an agent, so every one is checked before it touches the file system: an
export takes a plain file name (no folders at all), an import takes a path relative to the folder whose
real location, symbolic links followed, must stay inside it.

Exceptions::

    ValueError
     └── WorkdirError (.argument, .problem)
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath

from qdi_mcp.guard.zipcheck import check_zip

__all__ = ["BACKUPS_FOLDER", "DEFAULT_MAX_IMPORT_BYTES", "Workdir", "WorkdirError", "default_export_name"]

DEFAULT_MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_EXPORT_NAME_CHARS = 200
# Most file systems cap a name at 255 bytes; keep room for the suffixes other tools add ("~", ".bak").
_MAX_EXPORT_NAME_BYTES = 240
_MAX_IMPORT_PATH_CHARS = 1000
_MAX_SHOWN_CHARS = 100
_MAX_LISTED_FILES = 20
# Characters Windows refuses in names; refused everywhere so an export folder can be shared or synced.
_RESERVED_NAME_CHARS = '<>:"|?*'
_WINDOWS_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
_TEMP_PREFIX = ".qdi-mcp-"
# Where the server puts the export it takes before a design change (an import, a promotion, a bindings update).
BACKUPS_FOLDER = "backups"


class WorkdirError(ValueError):
    """A file name or path given for the work folder was refused; the message names the argument."""

    def __init__(self, argument: str, problem: str, value: object = None) -> None:
        shown = f" (got {_shorten(value)})" if value is not None else ""
        super().__init__(f"{argument} {problem}{shown}")
        self.argument = argument
        self.problem = problem


class Workdir:
    """The folder where exports are written and imports are read. It is created on the first write."""

    def __init__(self, root: Path | str, *, max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES) -> None:
        self._root = Path(root).expanduser().absolute()
        self._max_import_bytes = max_import_bytes

    def __repr__(self) -> str:
        return f"Workdir({str(self._root)!r})"

    @property
    def root(self) -> Path:
        return self._root

    @property
    def max_import_bytes(self) -> int:
        return self._max_import_bytes

    def ensure_root(self) -> Path:
        self._root.mkdir(parents=True, exist_ok=True)
        return self._root

    def export_path(self, file_name: str, *, argument: str = "file_name") -> Path:
        """``root / file_name`` for a plain ``*.zip`` file name; anything else raises WorkdirError."""
        if not isinstance(file_name, str):
            raise WorkdirError(argument, "must be a string", type(file_name).__name__)
        name = unicodedata.normalize("NFC", file_name)
        if not name:
            raise WorkdirError(argument, "must not be empty")
        if len(name) > MAX_EXPORT_NAME_CHARS or len(name.encode("utf-8")) > _MAX_EXPORT_NAME_BYTES:
            raise WorkdirError(argument, f"is too long (at most {MAX_EXPORT_NAME_CHARS} characters)", name)
        _refuse_control_characters(argument, name)
        if "/" in name or "\\" in name:
            raise WorkdirError(argument, "must be a plain file name, without folders ('/' or '\\')", name)
        if ".." in name:
            raise WorkdirError(argument, "must not contain '..'", name)
        if name.startswith("."):
            raise WorkdirError(argument, "must not start with '.' (hidden files are not written)", name)
        reserved = sorted({char for char in name if char in _RESERVED_NAME_CHARS})
        if reserved:
            raise WorkdirError(argument, f"must not contain {' '.join(reserved)}", name)
        if name != name.strip():
            raise WorkdirError(argument, "must not start or end with spaces", name)
        if not name.lower().endswith(".zip") or len(name) == len(".zip"):
            raise WorkdirError(argument, "must end with '.zip' (for example 'my-project.zip')", name)
        if name.split(".", 1)[0].rstrip().upper() in _WINDOWS_DEVICE_NAMES:
            raise WorkdirError(argument, "must not be a reserved device name (CON, NUL, COM1...)", name)
        return self._root / name

    @property
    def backups_root(self) -> Path:
        return self._root / BACKUPS_FOLDER

    def backup_path(self, file_name: str) -> Path:
        """``root/backups/file_name`` for a plain ``*.zip`` file name (checked as :meth:`export_path` does)."""
        return self.backups_root / self.export_path(file_name).name

    def list_backups(self, project_id: str) -> list[str]:
        """Names of the backups of ``project_id`` in the backups folder (named by :func:`default_export_name`),
        oldest first."""
        if not self.backups_root.is_dir() or self.backups_root.is_symlink():
            return []  # a linked folder is never written to, so nothing there is ours to prune
        pattern = re.compile(r".+-" + re.escape(_slugify(project_id, max_bytes=_ID_SLUG_BYTES)) + _TIME_TAIL)
        found = []
        for entry in self.backups_root.iterdir():
            match = pattern.fullmatch(entry.name)
            if match is not None and entry.is_file():
                found.append((match["time"], int(match["n"] or 0), entry.name))
        return [name for _, _, name in sorted(found)]

    def remove_backup(self, file_name: str) -> None:
        """Delete one backup (a plain file name in the backups folder); a missing one is no error."""
        self.backup_path(file_name).unlink(missing_ok=True)

    def import_path(self, relative: str, *, argument: str = "path") -> Path:
        """The real path of an existing regular file inside the work folder, within the size limit."""
        if not isinstance(relative, str):
            raise WorkdirError(argument, "must be a string", type(relative).__name__)
        if not relative:
            raise WorkdirError(argument, "must not be empty; give a path relative to the work folder")
        if len(relative) > _MAX_IMPORT_PATH_CHARS:
            raise WorkdirError(argument, f"is too long (at most {_MAX_IMPORT_PATH_CHARS} characters)", relative)
        _refuse_control_characters(argument, relative)
        if ".." in relative.replace("\\", "/").split("/"):
            raise WorkdirError(argument, "must not contain '..': only files inside the work folder", relative)
        windows = PureWindowsPath(relative)
        if PurePosixPath(relative).is_absolute() or windows.drive or windows.root:
            raise WorkdirError(argument, f"must be relative to the work folder {self._root}, not absolute", relative)
        if "\\" in relative:
            raise WorkdirError(argument, "must use '/' to separate folders, not '\\'", relative)
        if not self._root.is_dir():
            raise WorkdirError(argument, f"cannot be read: the work folder {self._root} does not exist yet")
        try:
            root = self._root.resolve()
            resolved = (root / relative).resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop on Python 3.11
            raise WorkdirError(argument, "cannot be resolved (a symbolic link loop?)", relative) from None
        if not resolved.is_relative_to(root):
            raise WorkdirError(
                argument,
                "leads outside the work folder (through a symbolic link); copy the file into it instead",
                relative,
            )
        try:
            status = resolved.stat()
        except FileNotFoundError:
            raise WorkdirError(
                argument, f"names no file in the work folder {self._root}{self._available_hint()}", relative
            ) from None
        except OSError as error:
            raise WorkdirError(argument, f"cannot be read: {error.strerror}", relative) from None
        self._check_regular_file(argument, relative, status)
        return resolved

    def read_import(self, relative: str, *, argument: str = "path") -> bytes:
        """Check ``relative`` like :meth:`import_path`, then read it, re-checking what was actually opened
        (the file may have been swapped between the check and the read)."""
        path = self.import_path(relative, argument=argument)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
        except OSError as error:
            raise WorkdirError(argument, f"cannot be read: {error.strerror}", relative) from None
        with os.fdopen(fd, "rb") as file:
            self._check_regular_file(argument, relative, os.fstat(file.fileno()))
            data = file.read(self._max_import_bytes + 1)
        if len(data) > self._max_import_bytes:
            raise WorkdirError(argument, f"is larger than the {self._max_import_bytes}-byte limit", relative)
        check_zip(data)  # before anyone is asked to confirm it, and before it is uploaded
        return data

    def write_bytes(self, path: Path, data: bytes) -> Path:
        """Write ``data`` to ``path`` (from :meth:`export_path`) atomically: readers see the old file or the
        whole new one, never a partial file, and a failed write leaves nothing behind."""
        target = self._checked_target(path)
        temp_name = self._synced_temp_file(data, target.parent)
        try:
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_folder(target.parent)
        return target

    def write_new(self, path: Path, data: bytes) -> Path:
        """Write ``data`` to ``path`` (from :meth:`export_path`) or, when a file (or link) of that name exists, to
        the first free ``<stem>-<n><suffix>``; never replaces anything. Returns the path written. The whole file
        appears at once (hard-linked from a synced temporary file: the link fails if the name was taken meanwhile,
        so two writers never replace each other's file)."""
        target = self._checked_target(path)
        temp_name = self._synced_temp_file(data, target.parent)
        try:
            for candidate in _free_name_candidates(target):
                try:
                    os.link(temp_name, candidate, follow_symlinks=False)
                except FileExistsError:
                    continue
                _fsync_folder(target.parent)
                return candidate
            raise WorkdirError("path", f"has no free name left beside it in {target.parent}", target.name)
        finally:
            Path(temp_name).unlink(missing_ok=True)

    def _checked_target(self, path: Path) -> Path:
        target = Path(path)
        if target.parent not in (self._root, self.backups_root):
            raise WorkdirError("path", f"must be a file directly inside the work folder {self._root}", path)
        self.export_path(target.name, argument="path")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.is_symlink():
            # Backups stay in the work folder: a link would write them (and prune files) wherever it points.
            raise WorkdirError("path", f"cannot be written: {target.parent} is a symbolic link", target.name)
        return target

    def _synced_temp_file(self, data: bytes, folder: Path) -> str:
        """A hidden temporary file in ``folder`` holding ``data``, synced to disk; the caller moves or links it
        into place (in the same folder, so on the same file system) and removes it."""
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=_TEMP_PREFIX, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return temp_name

    def display_path(self, path: Path) -> str:
        """``path`` as shown to agents and people: relative to the work folder, with '/' separators."""
        target = Path(path)
        try:
            return target.relative_to(self._root).as_posix()
        except ValueError:
            return target.name

    def default_export_name(self, project_name: str, project_id: str, now: datetime | float | None = None) -> str:
        """See :func:`default_export_name`."""
        return default_export_name(project_name, project_id, now)

    def list_zip_files(self, *, limit: int = _MAX_LISTED_FILES) -> list[str]:
        """Names of the ``*.zip`` files at the top of the work folder, sorted, at most ``limit``."""
        if not self._root.is_dir():
            return []
        names = sorted(
            entry.name
            for entry in self._root.iterdir()
            if entry.name.lower().endswith(".zip") and not entry.name.startswith(".")
        )
        return names[:limit]

    def _available_hint(self) -> str:
        names = self.list_zip_files(limit=5)
        if not names:
            return "; it holds no .zip file"
        return "; it holds: " + ", ".join(_shorten(name, 60) for name in names)

    def _check_regular_file(self, argument: str, relative: str, status: os.stat_result) -> None:
        if not stat.S_ISREG(status.st_mode):
            raise WorkdirError(argument, "is not a regular file (a folder or a special file)", relative)
        if status.st_size > self._max_import_bytes:
            raise WorkdirError(
                argument,
                f"is {status.st_size} bytes, more than the {self._max_import_bytes}-byte limit",
                relative,
            )


def default_export_name(project_name: str, project_id: str, now: datetime | float | None = None) -> str:
    """A safe, sortable file name such as ``customer-churn-65f1c2-20250131T120000Z.zip``.

    ``now`` is a datetime (naive means UTC) or a Unix timestamp; by default the current time.
    """
    if now is None:
        moment = datetime.now(UTC)
    elif isinstance(now, datetime):
        moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(now, tz=UTC)
    parts = [_slugify(project_name, max_bytes=120) or "project", _slugify(project_id, max_bytes=_ID_SLUG_BYTES)]
    parts.append(moment.strftime(_TIME_FORMAT))
    return "-".join(part for part in parts if part) + ".zip"


_MAX_NAME_ATTEMPTS = 1000
_ID_SLUG_BYTES = 40
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# The tail of a default export name: -<UTC time>.zip, or -<UTC time>-<n>.zip when write_new found the name taken
# (two backups of one project in the same second).
_TIME_TAIL = r"-(?P<time>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.zip"


def _free_name_candidates(target: Path) -> Iterator[Path]:
    yield target
    for number in range(1, _MAX_NAME_ATTEMPTS):
        yield target.with_name(f"{target.stem}-{number}{target.suffix}")


def _slugify(text: str, *, max_bytes: int) -> str:
    slug_chars: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        if char.isalnum():
            slug_chars.append(char.lower())
        elif slug_chars and slug_chars[-1] != "-":
            slug_chars.append("-")
    slug = "".join(slug_chars).strip("-")
    while len(slug.encode("utf-8")) > max_bytes:
        slug = slug[:-1]
    return slug.strip("-")


def _refuse_control_characters(argument: str, text: str) -> None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise WorkdirError(
                argument, f"must not contain control or invisible characters (found U+{ord(char):04X})", text
            )


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform lets a folder be opened, and that is fine.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _shorten(value: object, limit: int = _MAX_SHOWN_CHARS) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
