"""The endpoints of the Qlik Data Integration projects API, as written in the API reference.

`ENDPOINTS` is the single table of method, path template, rate tier and repeatability per client operation.
A tool spec names only its operation (`endpoint: {operation: stop_task}`); tests/test_endpoint_table.py checks
this table against the specs, the API reference and the emulator's own, independent route table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from .errors import InvalidParameterError
from .ratelimit import RateTier

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# how each path parameter is called in the client's Python signatures, for error messages
PYTHON_PARAMETER_NAMES = {
    "projectId": "project_id",
    "dataTaskId": "task_id",
    "actionId": "action_id",
    "runId": "run_id",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    tier: RateTier
    # A POST that changes nothing in the tenant (export, validate), so sending it twice is harmless: retried
    # like a GET, and never reported as an unknown outcome.
    repeatable: bool = False

    @property
    def changes_tenant(self) -> bool:
        """Whether an accepted request may have changed the tenant (its trace id goes into the audit line)."""
        return self.method != "GET" and not self.repeatable

    @property
    def retries_as(self) -> str:
        """The method whose retry rules apply."""
        return "GET" if self.repeatable else self.method

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))

    def render(self, **values: str) -> str:
        """The request path with every parameter percent-encoded as one opaque segment."""
        expected = set(self.path_parameters)
        if set(values) != expected:
            raise TypeError(f"{self.path} needs parameters {sorted(expected)}, got {sorted(values)}")
        return _PLACEHOLDER.sub(lambda match: encode_segment(match.group(1), values[match.group(1)]), self.path)


def encode_segment(name: str, value: str) -> str:
    """Percent-encode one path parameter so it can never reach another endpoint."""
    label = PYTHON_PARAMETER_NAMES.get(name, name)
    if not isinstance(value, str):
        raise TypeError(f"{label} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidParameterError(f"{label} must be a non-empty id", parameter=label)
    encoded = quote(value, safe="")
    # quote() leaves dots alone, and URL normalisation would resolve "." and ".." segments; encode them
    if encoded in {".", ".."}:
        encoded = encoded.replace(".", "%2E")
    return encoded


_PROJECT = "/api/v1/di-projects/{projectId}"
_TASK = _PROJECT + "/di-tasks/{dataTaskId}"

ENDPOINTS: Mapping[str, Endpoint] = MappingProxyType(
    {
        "list_projects": Endpoint("GET", "/api/v1/di-projects", RateTier.TIER1),
        "create_project": Endpoint("POST", "/api/v1/di-projects", RateTier.TIER2),
        "get_project": Endpoint("GET", _PROJECT, RateTier.TIER1),
        "export_project": Endpoint("POST", _PROJECT + "/actions/export", RateTier.TIER2, repeatable=True),
        "import_project": Endpoint("POST", _PROJECT + "/actions/import", RateTier.TIER2),
        "prepare_project": Endpoint("POST", _PROJECT + "/actions/prepare", RateTier.TIER2),
        "validate_project": Endpoint("POST", _PROJECT + "/actions/validate", RateTier.TIER2, repeatable=True),
        "get_bindings": Endpoint("GET", _PROJECT + "/bindings", RateTier.TIER1),
        "update_bindings": Endpoint("PUT", _PROJECT + "/bindings", RateTier.TIER2),
        "list_tasks": Endpoint("GET", _PROJECT + "/di-tasks", RateTier.TIER1),
        "get_task": Endpoint("GET", _TASK, RateTier.TIER1),
        "prepare_task": Endpoint("POST", _TASK + "/actions/prepare", RateTier.TIER2),
        "recreate_task_datasets": Endpoint("POST", _TASK + "/actions/recreate-datasets", RateTier.TIER2),
        "request_task_reload": Endpoint("POST", _TASK + "/actions/request-reload", RateTier.TIER2),
        "validate_task": Endpoint("POST", _TASK + "/actions/validate", RateTier.TIER2, repeatable=True),
        "start_task": Endpoint("POST", _TASK + "/runtime/actions/start", RateTier.TIER2),
        "stop_task": Endpoint("POST", _TASK + "/runtime/actions/stop", RateTier.TIER2),
        "get_task_state": Endpoint("GET", _TASK + "/runtime/state", RateTier.RUNTIME_STATE),
        "get_task_datasets_state": Endpoint("GET", _TASK + "/runtime/state/datasets", RateTier.RUNTIME_STATE),
        "get_action": Endpoint("GET", "/api/v1/di-projects/actions/{actionId}", RateTier.TIER1),
        # issue 14, imports: today's reference (qlik.dev di-projects, stored doc 68598814407), both Tier 2.
        # A definitions check changes nothing in the tenant, so sending it twice is harmless.
        "import_project_async": Endpoint("POST", _PROJECT + "/actions/import-async", RateTier.TIER2),
        "validate_project_definitions": Endpoint(
            "POST", "/api/v1/di-projects/utils/actions/validate-project-definitions", RateTier.TIER2, repeatable=True
        ),
        # run history; search is a POST that changes nothing, so it retries like a GET
        "list_task_runs": Endpoint("POST", _TASK + "/runtime/runs/actions/search", RateTier.TIER2, repeatable=True),
        "get_task_run": Endpoint("GET", _TASK + "/runtime/runs/{runId}/state", RateTier.TIER1),
        "get_task_run_datasets": Endpoint("GET", _TASK + "/runtime/runs/{runId}/state/datasets", RateTier.TIER1),
        # Not di-projects: Qlik's spaces and data-connections APIs, which bindings' connection references name
        # (qlik-oss/qlik-api-ts spaces.d.ts and data-connections.d.ts; Tier 1 in qlik.dev's references, stored
        # docs 68603611382 and 68823515261). The tool is qdi_list_connections, the client method
        # list_data_connections (Qlik's resource name).
        "list_spaces": Endpoint("GET", "/api/v1/spaces", RateTier.TIER1),
        "list_connections": Endpoint("GET", "/api/v1/data-connections", RateTier.TIER1),
    }
)
