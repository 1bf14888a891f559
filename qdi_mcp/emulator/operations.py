"""The emulated API's operations: name, method, path template, rate tier, and whether it mutates.

Operation names are the API client's method names, so faults, counters and rate limits speak the same
language as the rest of the project. Paths are the reference's templates, verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Tier(Enum):
    """Qlik's rate-limit tiers: requests allowed per minute."""

    TIER1 = 1000
    TIER2 = 100
    RUNTIME_STATE = 120

    @property
    def per_minute(self) -> int:
        return self.value

    @property
    def window_seconds(self) -> float:
        """Qlik evaluates Tier 1 and Tier 2 over 5 minutes, the runtime-state tier per minute (see ratelimit.py)."""
        return 60.0 if self is Tier.RUNTIME_STATE else 300.0

    @property
    def budget(self) -> int:
        """Requests admitted in any one window: the per-minute figure times the window's minutes."""
        return int(self.value * self.window_seconds // 60)


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    tier: Tier
    mutating: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.path)


_P = "/api/v1/di-projects"
_T = _P + "/{projectId}/di-tasks/{dataTaskId}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("list_projects", "GET", _P, Tier.TIER1, False),
    Operation("create_project", "POST", _P, Tier.TIER2, True),
    Operation("get_action", "GET", _P + "/actions/{actionId}", Tier.TIER1, False),
    Operation("get_project", "GET", _P + "/{projectId}", Tier.TIER1, False),
    Operation("export_project", "POST", _P + "/{projectId}/actions/export", Tier.TIER2, False),
    Operation("import_project", "POST", _P + "/{projectId}/actions/import", Tier.TIER2, True),
    Operation("prepare_project", "POST", _P + "/{projectId}/actions/prepare", Tier.TIER2, True),
    Operation("validate_project", "POST", _P + "/{projectId}/actions/validate", Tier.TIER2, True),
    Operation("get_bindings", "GET", _P + "/{projectId}/bindings", Tier.TIER1, False),
    Operation("update_bindings", "PUT", _P + "/{projectId}/bindings", Tier.TIER2, True),
    Operation("list_tasks", "GET", _P + "/{projectId}/di-tasks", Tier.TIER1, False),
    Operation("get_task", "GET", _T, Tier.TIER1, False),
    Operation("prepare_task", "POST", _T + "/actions/prepare", Tier.TIER2, True),
    Operation("recreate_task_datasets", "POST", _T + "/actions/recreate-datasets", Tier.TIER2, True),
    Operation("request_task_reload", "POST", _T + "/actions/request-reload", Tier.TIER2, True),
    Operation("validate_task", "POST", _T + "/actions/validate", Tier.TIER2, True),
    Operation("start_task", "POST", _T + "/runtime/actions/start", Tier.TIER2, True),
    Operation("stop_task", "POST", _T + "/runtime/actions/stop", Tier.TIER2, True),
    Operation("get_task_state", "GET", _T + "/runtime/state", Tier.RUNTIME_STATE, False),
    Operation("get_task_datasets_state", "GET", _T + "/runtime/state/datasets", Tier.RUNTIME_STATE, False),
    # issue 14, imports (today's qlik.dev reference): a definitions check changes nothing in the tenant
    Operation("import_project_async", "POST", _P + "/{projectId}/actions/import-async", Tier.TIER2, True),
    Operation(
        "validate_project_definitions", "POST", _P + "/utils/actions/validate-project-definitions", Tier.TIER2, False
    ),
    # run history (qlik.dev di-projects reference, stored doc 68598814407): search is Tier 2, run reads Tier 1
    Operation("list_task_runs", "POST", _T + "/runtime/runs/actions/search", Tier.TIER2, False),
    Operation("get_task_run", "GET", _T + "/runtime/runs/{runId}/state", Tier.TIER1, False),
    Operation("get_task_run_datasets", "GET", _T + "/runtime/runs/{runId}/state/datasets", Tier.TIER1, False),
    # Qlik's spaces and data-connections APIs (Tier 1 each: qlik.dev references, stored docs 68603611382 and
    # 68823515261): what bindings' connection references name.
    Operation("list_spaces", "GET", "/api/v1/spaces", Tier.TIER1, False),
    Operation("list_connections", "GET", "/api/v1/data-connections", Tier.TIER1, False),
)

OPERATIONS_BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
MUTATING_OPERATIONS: frozenset[str] = frozenset(op.name for op in OPERATIONS if op.mutating)

# Requests outside the API proper still get a name, so `requests` counts and faults can target them.
OAUTH_TOKEN = "oauth_token"  # noqa: S105 - an operation name, not a secret
UNKNOWN = "unknown"

_cache: dict[str, re.Pattern[str]] = {}


def _compiled(template: str) -> re.Pattern[str]:
    pattern = _cache.get(template)
    if pattern is None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        pattern = _cache[template] = re.compile(f"^{regex}$")
    return pattern


def match_operation(method: str, path: str) -> Operation | None:
    """The operation a request addresses, or None (unknown path, or a method the path does not accept)."""
    method = method.upper()
    for op in OPERATIONS:
        if op.method == method and op.pattern.match(path):
            return op
    return None
