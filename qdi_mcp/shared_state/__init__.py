"""State that replicas of the server share through Redis (`QDI_MCP_STATE_URL`): single use of confirmation tokens,
the tenant's rate-limit windows, and the projects' designs (lineage) between changes.

Why: replicas behind a load balancer each kept their own record of used tokens and their own limiter, so a token
confirmed one call per replica and N replicas sent N times Qlik's tier budget to one tenant. Every key carries the
tenant host (`keys.Keyspace`), so two tenants sharing one Redis never collide.

Layering: below the API client and the guard (both use it), above settings (it reads `StateUrl`). The `redis`
library is imported only here and only when a state URL is set.
"""

from qdi_mcp.shared_state.connection import (
    STATE_TIMEOUT_SECONDS,
    Keyspace,
    SharedStateError,
    async_client,
    check_state,
    sync_client,
)
from qdi_mcp.shared_state.design_cache import SharedDesignCache

__all__ = [
    "STATE_TIMEOUT_SECONDS",
    "Keyspace",
    "SharedDesignCache",
    "SharedStateError",
    "async_client",
    "check_state",
    "sync_client",
]
