"""The API client's endpoint table (`qdi_mcp.api.endpoints.ENDPOINTS`) is the one place an operation's method,
path and rate tier are written. Specs name only its operations, the emulator routes on its own independent
table, and the API reference is the contract: these tests hold the four together."""

from __future__ import annotations

import pytest
from qdi_data import DI_PROJECTS_PREFIX, OTHER_QLIK_ENDPOINTS, api_reference_endpoints

from qdi_mcp.api import ENDPOINTS
from qdi_mcp.emulator.operations import OPERATIONS
from qdi_mcp.specs import load_specs

ENDPOINT_SPECS = [spec for spec in load_specs() if spec.endpoint is not None]


def test_every_endpoint_spec_names_an_operation_of_the_table() -> None:
    unknown = [
        f"{spec.name} names operation {spec.endpoint.operation!r}"
        for spec in ENDPOINT_SPECS
        if spec.endpoint is not None and spec.endpoint.operation not in ENDPOINTS
    ]
    assert not unknown, f"not in qdi_mcp/api/endpoints.py ENDPOINTS: {unknown}"


def test_every_operation_of_the_table_has_a_tool() -> None:
    bound = {op for spec in ENDPOINT_SPECS if spec.endpoint is not None for op in spec.endpoint.operations}
    without_tool = sorted(set(ENDPOINTS) - bound)
    assert not without_tool, f"operations of ENDPOINTS that no tool_specs/*.yaml endpoint names: {without_tool}"


# Tools DESIGN.md ("Tools of today's API") names otherwise than qdi_<operation>: the design's name is the contract.
DESIGN_NAMES = {"validate_project_definitions": "qdi_validate_project_files"}


def test_an_endpoint_tool_is_named_after_its_operation() -> None:
    misnamed = [
        f"{spec.name} wraps {spec.endpoint.operation!r}"
        for spec in ENDPOINT_SPECS
        if spec.endpoint is not None
        and spec.name != DESIGN_NAMES.get(spec.endpoint.operation, f"qdi_{spec.endpoint.operation}")
    ]
    assert not misnamed, f"an endpoint tool is qdi_<operation>: {misnamed}"


def test_the_client_table_equals_what_the_api_reference_lists() -> None:
    ours = sorted(
        (endpoint.method, endpoint.path, endpoint.tier.value)
        for endpoint in ENDPOINTS.values()
        if endpoint.path.startswith(DI_PROJECTS_PREFIX)
    )
    documented = api_reference_endpoints()
    assert len(documented) == len(ours) == 25  # today's di-projects reference (qlik.dev, stored doc 68598814407)
    assert ours == sorted(documented)


def test_the_endpoints_outside_di_projects_are_exactly_the_listed_qlik_apis() -> None:
    # The di-projects reference does not cover them: they come from qlik-api-ts typings (tests/qdi_data.py).
    others = sorted(
        (endpoint.method, endpoint.path, endpoint.tier.value)
        for endpoint in ENDPOINTS.values()
        if not endpoint.path.startswith(DI_PROJECTS_PREFIX)
    )
    assert others == sorted(OTHER_QLIK_ENDPOINTS)
    assert all(not path.startswith(DI_PROJECTS_PREFIX) for _, path, _ in OTHER_QLIK_ENDPOINTS)


def test_the_emulator_routes_the_same_methods_and_paths_as_the_client_table() -> None:
    emulated = {(op.method, op.path): op for op in OPERATIONS}
    assert len(emulated) == len(OPERATIONS), "the emulator routes one method and path twice"
    client = {(endpoint.method, endpoint.path): name for name, endpoint in ENDPOINTS.items()}
    assert set(emulated) == set(client)
    # Same route, same operation name and tier: faults, counters and limits speak the client's language.
    for route, operation in client.items():
        assert emulated[route].name == operation, route
        assert emulated[route].tier.name == ENDPOINTS[operation].tier.name, route


def test_the_reference_reader_takes_endpoints_from_the_contents_and_tiers_from_each_section() -> None:
    text = (
        "| `GET` | [`/api/v1/x/{id}`](#a) | d |\n| `POST` | [`/api/v1/x`](#b) | d |\n\n"
        "### GET /api/v1/x/{id}\n\nGet.\n\n- **Rate Limit:** Special (120 requests per minute)\n\n"
        "### POST /api/v1/x\n\n- **Rate Limit:** Tier 2 (100 requests per minute)\n"
    )
    assert api_reference_endpoints(text) == [("GET", "/api/v1/x/{id}", "runtime_state"), ("POST", "/api/v1/x", "tier2")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # the GET section has no rate limit: it must not take the POST section's
        (
            "| `GET` | [`/api/v1/x`](#a) | d |\n| `POST` | [`/api/v1/x`](#b) | d |\n\n"
            "### GET /api/v1/x\n\nGet.\n\n### POST /api/v1/x\n\n- **Rate Limit:** Tier 2 (100 requests per minute)\n",
            "no Rate Limit line in the section of GET /api/v1/x",
        ),
        # a section the contents do not list
        (
            "| `GET` | [`/api/v1/x`](#a) | d |\n\n### GET /api/v1/x\n\n- **Rate Limit:** Tier 1 (1000)\n\n"
            "### PUT /api/v1/x\n\n- **Rate Limit:** Tier 2 (100)\n",
            "contents and sections disagree",
        ),
    ],
    ids=["section without a rate limit", "section missing from the contents"],
)
def test_the_reference_reader_refuses_an_incomplete_reference(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        api_reference_endpoints(text)
