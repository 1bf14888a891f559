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
            self._prune()
            fd = os.open(self.folder / token_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UsedTokenStoreError(f"cannot record a used confirmation in {self.folder}: {reason}") from None
        try:
            os.write(fd, repr(float(expires_at)).encode())
        finally:
            os.close(fd)
        return True

    def _prune(self) -> None:
        now = self._clock()
        with os.scandir(self.folder) as entries:
            for count, entry in enumerate(entries):
                if count >= _PRUNE_AT_MOST:
                    return
                if entry.is_file() and _expiry(entry.path) <= now:
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:  # another process pruned it first
                        pass


def _expiry(path: str) -> float:
    try:
        with open(path, encoding="ascii") as handle:
            return float(handle.read() or "inf")
    except (OSError, ValueError):
        return float("inf")  # unreadable or half-written: keep it, a live token must never be forgotten
