"""Project designs (MINIMAL exports) kept in the shared state, so replicas export a project once between changes.

The lineage of a project (which task feeds which) comes from a MINIMAL export; previews, the project status and
runs in dependency order all need it, and each replica kept its own copy. Here the export's bytes are kept under
the tenant's keyspace for a short TTL, and a write through ANY replica moves the tenant's generation on
(`invalidate`): every replica then exports again, so a change made through one replica is seen by all at once.

A cache, never a source of truth: any failure of Redis reads as a miss and a failed write is ignored (the caller
exports, as without shared state); every command is bounded by the shared state's timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from qdi_mcp.settings import StateUrl
from qdi_mcp.shared_state.connection import Keyspace, async_client

if TYPE_CHECKING:
    import redis.asyncio

logger = logging.getLogger("qdi_mcp")

# A MINIMAL export of a real project is well under a megabyte (the 9-task fixture: 0.4 MB); larger ones are not kept.
MAX_CACHED_BYTES = 4 * 1024 * 1024


class SharedDesignCache:
    def __init__(self, url: StateUrl, keys: Keyspace, *, client: redis.asyncio.Redis | None = None) -> None:
        self.url = url
        self._keys = keys
        self._redis = client if client is not None else async_client(url)
        self._failing = False

    def __repr__(self) -> str:
        return f"SharedDesignCache({self.url.shown!r}, tenant={self._keys.tenant!r})"

    async def generation(self) -> int | None:
        """The tenant's design generation (moves on at every write), or None when Redis cannot answer."""
        try:
            value = await self._redis.get(self._keys.key("design", "generation"))
        except Exception as exc:  # noqa: BLE001 - a cache: any failure is a miss
            self._failed(exc)
            return None
        self._recovered()
        return int(value or 0)

    async def get(self, project_id: str, generation: int) -> bytes | None:
        try:
            value = await self._redis.get(self._project_key(project_id, generation))
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return None
        if value is None:
            return None
        return value if isinstance(value, bytes) else value.encode()  # bytes unless decode_responses is set

    async def put(self, project_id: str, generation: int, export: bytes, ttl_seconds: float) -> None:
        if len(export) > MAX_CACHED_BYTES:
            return
        try:
            await self._redis.set(self._project_key(project_id, generation), export, px=max(1, int(ttl_seconds * 1000)))
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    async def invalidate(self) -> None:
        """A design may have changed: every replica's next read exports again."""
        try:
            await self._redis.incr(self._keys.key("design", "generation"))
        except Exception as exc:  # noqa: BLE001 - each replica's own cache expires by its TTL anyway
            self._failed(exc)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _project_key(self, project_id: str, generation: int) -> str:
        return self._keys.key("design", f"{generation}:{project_id}")

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
            logger.warning("shared design cache at %s unavailable (%s): exporting per replica", self.url.shown, reason)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            logger.warning("shared design cache at %s is back", self.url.shown)
        self._failing = False
