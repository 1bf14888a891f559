"""A used-token store shared by every process that can reach one folder.

`MemoryUsedTokenStore` keeps single use within one process. `qdi-mcp call` is a new process for every call, and
replicas on one host are separate processes, so with a shared `QDI_MCP_SECRET` a token verified by one would
pass again in another. Here a token's use is a file named after its id, created with O_CREAT | O_EXCL: the
kernel lets exactly one process create it, so a token confirms one call among all processes sharing the
folder. A file holds its token's expiry; expired ones are removed as claims go by.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FileUsedTokenStore", "UsedTokenStoreError"]

_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_PRUNE_AT_MOST = 1000  # files looked at per claim: a claim stays cheap however many tokens piled up
# A use is forgotten only this long after its token expired. A verifier that read its clock just before the
# expiry (or runs on a host whose clock lags) must still find the use; an hour covers any sane skew.
_KEEP_AFTER_EXPIRY_SECONDS = 3600.0


class UsedTokenStoreError(OSError):
    """A token's use could not be recorded (the message names the folder and the OS reason)."""


class FileUsedTokenStore:
    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder).expanduser()
        self._clock = clock

    def __repr__(self) -> str:
        return f"FileUsedTokenStore({str(self.folder)!r})"

    def claim(self, token_id: str, expires_at: float) -> bool:
        if not _TOKEN_ID.match(token_id):
            return False  # never a path: ids come from signed payloads, but a file name must be plain
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.folder.is_dir():
                raise NotADirectoryError(20, "not a folder")
        except OSError as exc:
            raise _cannot_record(self.folder, exc) from None
        self._prune()
        try:
            fd = os.open(self.folder / token_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _cannot_record(self.folder, exc) from None
        try:
            os.write(fd, repr(float(expires_at)).encode())
        finally:
            os.close(fd)
        return True

    def _prune(self) -> None:
        """Housekeeping: a file that cannot be listed or removed now (another process pruning it, a reader
        holding it open on Windows) stays for a later claim; it never costs a confirmation."""
        forget_before = self._clock() - _KEEP_AFTER_EXPIRY_SECONDS
        try:
            with os.scandir(self.folder) as entries:
                for count, entry in enumerate(entries):
                    if count >= _PRUNE_AT_MOST:
                        return
                    if entry.is_file() and _expiry(entry.path) <= forget_before:
                        try:
                            os.unlink(entry.path)
                        except OSError:
                            pass
        except OSError:
            return


def _cannot_record(folder: Path, exc: OSError) -> UsedTokenStoreError:
    reason = exc.strerror or type(exc).__name__
    return UsedTokenStoreError(f"cannot record a used confirmation in {folder}: {reason}")


def _expiry(path: str) -> float:
    try:
        with open(path, encoding="ascii") as handle:
            return float(handle.read() or "inf")
    except (OSError, ValueError):
        return float("inf")  # unreadable or half-written: keep it, a live token must never be forgotten
