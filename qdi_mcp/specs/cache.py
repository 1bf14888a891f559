"""A content-addressed cache of validated tool specs, so a server start does not re-check 29 schemas.

The key is a hash of everything that decides the result: every spec file's name and bytes, the meta-schema,
and the loader's own source. Change any of them and the key changes, so a stale entry can never be served;
an entry is only written after full validation passed. Any problem with the cache (unwritable home, a
corrupt file) falls back to loading and validating from the YAML files: the cache is an optimisation only.

`QDI_MCP_CACHE_DIR` (declared with the other settings) picks the folder, default `$XDG_CACHE_HOME/qdi-mcp`, on
Windows `%LOCALAPPDATA%/qdi-mcp`, else `~/.cache/qdi-mcp`; `QDI_MCP_CACHE_DIR=off` disables it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdi_mcp.settings import TOOLSETS, spec_cache_dir

_FORMAT = 1
_LOADER_FILES = ("loader.py", "spec_schema.json", "cache.py")


def cache_root() -> Path | None:
    return spec_cache_dir()


@dataclass(frozen=True)
class SpecCache:
    path: Path | None

    @classmethod
    def for_directory(cls, directory: Path, spec_paths: Sequence[Path]) -> SpecCache:
        root = cache_root()
        if root is None:
            return cls(None)
        digest = hashlib.sha256(f"format {_FORMAT}\n".encode())
        package = Path(__file__).resolve().parent
        # The meta-schema's toolset list comes from settings: a change there must not serve a stale entry.
        digest.update(("toolsets " + ",".join(TOOLSETS) + "\n").encode())
        for name in _LOADER_FILES:
            digest.update(name.encode() + b"\0" + (package / name).read_bytes() + b"\0")
        for path in (directory / "_shared.yaml", *spec_paths):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return cls(root / f"specs-{digest.hexdigest()[:32]}.json")

    def read(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        if self.path is None:
            return None
        try:
            # Specs decide what is destructive: only an entry this user wrote, that nobody else can change,
            # may stand in for the YAML files (a shared or restored cache folder is not trusted).
            if not _private_to_this_user(self.path):
                return None
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data["fragments"], data["documents"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, fragments: dict[str, Any], documents: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            payload = json.dumps({"fragments": fragments, "documents": documents}, separators=(",", ":"))
            # Write then rename: a concurrent reader sees the whole file or none.
            # mkstemp creates the file 0600: readable and writable by this user only.
            handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".specs-", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(payload)
            os.replace(temp, self.path)
        except OSError:
            return


def _private_to_this_user(path: Path) -> bool:
    """Whether a cache entry is this user's and writable by nobody else.

    Windows has no `os.getuid` and reports every writable file as mode 0o666 (its access control is ACLs, not mode
    bits): there an entry is trusted only inside the user's own profile (%LOCALAPPDATA%, where the default folder
    is), never in a folder QDI_MCP_CACHE_DIR or XDG_CACHE_HOME points elsewhere (it may be shared).
    """
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        profile = os.environ.get("LOCALAPPDATA")
        return profile is not None and bool(profile) and path.resolve().is_relative_to(Path(profile).resolve())
    info = path.stat()
    return info.st_uid == getuid() and not info.st_mode & 0o022
