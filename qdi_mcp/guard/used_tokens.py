"""Used-token stores shared between processes: one folder (`FileUsedTokenStore`) or one Redis
(`RedisUsedTokenStore`, with `QDI_MCP_STATE_URL`).

`MemoryUsedTokenStore` keeps single use within one process. `qdi-mcp call` is a new process for every call, and
replicas on one host are separate processes, so with a shared `QDI_MCP_SECRET` a token verified by one would
pass again in another. Here a token's use is a file, created with O_CREAT | O_EXCL: the kernel lets exactly one
process create it, so a token confirms one call among all processes sharing the folder.

The file is named `<expiry>-<token id>`: a token's expiry is part of its signed payload, so every process
derives the same name, and pruning reads names only (no file is opened). A use is forgotten only
`KEEP_AFTER_EXPIRY_SECONDS` after its token expired, so a verifier that read its clock just before the expiry,
or runs on a host whose clock lags, still finds it.

Replicas on different hosts share no folder: with a state URL a use is a Redis key set with NX (Redis lets exactly
one client create it) and an absolute expiry at the same hour past the token's expiry. Redis down or slow (every
command is bounded by the shared state's timeout) means a use cannot be recorded: the confirmation is refused, as
with an unwritable folder, never let through.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qdi_mcp.settings import Settings, StateUrl
from qdi_mcp.shared_state import Keyspace, sync_client

if TYPE_CHECKING:
    import redis

__all__ = [
    "KEEP_AFTER_EXPIRY_SECONDS",
    "USED_TOKENS_FOLDER",
    "FileUsedTokenStore",
    "RedisUsedTokenStore",
    "UsedTokenStoreError",
    "tenant_keyspace",
    "used_token_store",
]

KEEP_AFTER_EXPIRY_SECONDS = 3600.0
USED_TOKENS_FOLDER = ".used-confirmations"  # inside the work folder
_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_USE_FILE = re.compile(r"^(\d+)-[A-Za-z0-9_-]+$")
_PRUNE_EVERY_SECONDS = 60.0  # a long-lived server scans the folder at most once a minute


def used_token_store(settings: Settings) -> FileUsedTokenStore | RedisUsedTokenStore | None:
    """Where uses are recorded: the shared state (replicas on several hosts), else with a shared secret the work
    folder (every `qdi-mcp call` and replicas on one host), else nowhere but this process (None: tokens signed by
    a random key never leave it)."""
    url = settings.shared_state
    if url is not None:
        return RedisUsedTokenStore(url, tenant_keyspace(settings))
    if settings.secret:
        return FileUsedTokenStore(settings.workdir / USED_TOKENS_FOLDER)
    return None


def tenant_keyspace(settings: Settings) -> Keyspace:
    """Shared keys of the tenant these settings call: two tenants sharing one Redis never share a key."""
    if settings.demo or not settings.tenant_url:
        return Keyspace("demo")
    return Keyspace.for_tenant_url(settings.tenant_url)


class UsedTokenStoreError(OSError):
    """A token's use could not be recorded (the message names the folder and the OS reason)."""


class FileUsedTokenStore:
    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.folder = Path(folder).expanduser()
        self._clock = clock
        self._pruned_at: float | None = None

    def __repr__(self) -> str:
        return f"FileUsedTokenStore({str(self.folder)!r})"

    def claim(self, token_id: str, expires_at: float) -> bool:
        if not _TOKEN_ID.match(token_id):
            return False  # never a path: ids come from signed payloads, but a file name must be plain
        self._ensure_folder()
        self._prune()
        try:
            fd = os.open(self.folder / f"{int(expires_at)}-{token_id}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _cannot_record(self.folder, exc.strerror or type(exc).__name__) from None
        os.close(fd)
        return True

    def _ensure_folder(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise _cannot_record(self.folder, "a file is in the way, not a folder")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot_record(self.folder, exc.strerror or type(exc).__name__) from None

    def _prune(self) -> None:
        """Housekeeping: every use forgotten long enough ago is removed. A file that cannot be removed now
        (another process pruning it, a reader holding it open on Windows) stays for later; it never costs a
        confirmation."""
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < _PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        forget_before = now - KEEP_AFTER_EXPIRY_SECONDS
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    match = _USE_FILE.match(entry.name)
                    if match and int(match.group(1)) < forget_before:
                        try:
                            os.unlink(entry.path)
                        except OSError:
                            pass
        except OSError:
            return


class RedisUsedTokenStore:
    def __init__(
        self,
        url: StateUrl,
        keys: Keyspace,
        *,
        client: redis.Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._keys = keys
        self._client = client if client is not None else sync_client(url)
        self._clock = clock

    def __repr__(self) -> str:
        return f"RedisUsedTokenStore({self.url.shown!r}, tenant={self._keys.tenant!r})"

    def claim(self, token_id: str, expires_at: float) -> bool:
        import redis

        if not _TOKEN_ID.match(token_id):
            return False
        # Never an expiry in the past (Redis would refuse the command): the key must outlive the check.
        forget_at = max(expires_at + KEEP_AFTER_EXPIRY_SECONDS, self._clock() + 1.0)
        try:
            created = self._client.set(self._keys.key("used-token", token_id), b"1", nx=True, exat=math.ceil(forget_at))
        except (redis.RedisError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise UsedTokenStoreError(
                f"cannot record a used confirmation in the shared state {self.url.shown}: {reason}"
            ) from None
        return bool(created)

    def close(self) -> None:
        self._client.close()


def _cannot_record(folder: Path, reason: str) -> UsedTokenStoreError:
    return UsedTokenStoreError(f"cannot record a used confirmation in {folder}: {reason}")
