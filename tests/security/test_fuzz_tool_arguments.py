"""Fuzzing every tool's arguments from its input schema (hypothesis + hypothesis-jsonschema).

- Invalid arguments (a valid call with one thing broken: a wrong type, a missing required argument, an unknown
  key) are refused with `invalid_arguments` naming the argument, before any HTTP request and before the audit.
- Valid arguments never crash the server: the answer is a result or a structured error, never `internal_error`,
  and the server keeps answering.

One long-lived stack per tool (the MCP client runs in a blocking portal, so hypothesis drives a plain function).
Confirmation stays on: destructive calls stop at confirmation_required or at a refused token, which is fine.

hypothesis-jsonschema 0.23 cannot build objects with recent hypothesis releases (it calls a private
`many.more()` that is gone), so objects are assembled here from their properties; every leaf value still comes
from hypothesis-jsonschema, and every generated call is checked against the schema before it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator
from mcp_types import CallToolResult
from qdi_testkit import Stack, open_stack

from qdi_mcp.specs import ToolSpec, load_specs

SPECS = {spec.name: spec for spec in load_specs()}
FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
# One value of each JSON type; a wrong-type argument is one of these that its own schema refuses.
VALUES_OF_EVERY_TYPE: list[Any] = [0, 7, 2.5, True, None, "text", "", [], [1], {}, {"k": 1}]
EXTRA_KEYS = st.from_regex(r"[a-z][a-z_]{0,19}", fullmatch=True)


def schema_values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if schema.get("type") != "object":
        return from_schema(schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fixed = st.fixed_dictionaries(
        {name: schema_values(sub) for name, sub in properties.items() if name in required},
        optional={name: schema_values(sub) for name, sub in properties.items() if name not in required},
    )
    more = schema.get("additionalProperties")
    if not isinstance(more, dict):
        return fixed
    free = st.dictionaries(st.text(max_size=40).filter(lambda k: k not in properties), schema_values(more), max_size=6)
    return st.tuples(fixed, free).map(lambda pair: {**pair[1], **pair[0]})


def valid_arguments(spec: ToolSpec) -> st.SearchStrategy[dict[str, Any]]:
    validator = Draft202012Validator(spec.input_schema)
    return schema_values(spec.input_schema).filter(validator.is_valid)


@st.composite
def broken_arguments(draw: st.DrawFn, spec: ToolSpec) -> tuple[dict[str, Any], str, str]:
    """A valid call with exactly one thing wrong: (arguments, what was broken, the argument at fault)."""
    arguments = dict(draw(valid_arguments(spec)))
    properties: dict[str, Any] = spec.input_schema.get("properties", {})
    required: list[str] = spec.input_schema.get("required", [])
    kinds = ["unknown_key"] + (["missing_required"] if required else []) + (["wrong_type"] if properties else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "missing_required":
        name = draw(st.sampled_from(required))
        del arguments[name]
    elif kind == "wrong_type":
        name = draw(st.sampled_from(sorted(properties)))
        own = Draft202012Validator(properties[name])
        arguments[name] = draw(st.sampled_from([v for v in VALUES_OF_EVERY_TYPE if not own.is_valid(v)]))
    else:
        name = draw(EXTRA_KEYS.filter(lambda key: key not in properties))
        arguments[name] = draw(st.sampled_from(VALUES_OF_EVERY_TYPE))
    return arguments, kind, name


@contextmanager
def running_stack(tmp_path: Path) -> Iterator[tuple[BlockingPortal, Stack]]:
    with start_blocking_portal("asyncio") as portal, portal.wrap_async_context_manager(open_stack(tmp_path)) as stack:
        yield portal, stack


def caller(portal: BlockingPortal, stack: Stack, tool: str) -> Callable[[dict[str, Any]], CallToolResult]:
    def call(arguments: dict[str, Any]) -> CallToolResult:
        return portal.call(stack.mcp.call_tool, tool, arguments)

    return call


@pytest.mark.parametrize("tool", sorted(SPECS))
def test_invalid_arguments_are_refused_naming_the_argument_without_any_request(tmp_path: Path, tool: str) -> None:
    spec = SPECS[tool]
    with running_stack(tmp_path) as (portal, stack):
        call = caller(portal, stack, tool)

        @FUZZ_SETTINGS
        @given(broken=broken_arguments(spec))
        def refused(broken: tuple[dict[str, Any], str, str]) -> None:
            arguments, kind, name = broken
            requests_before, audited_before = stack.reads_and_writes(), len(stack.audit)
            result = call(arguments)
            assert result.is_error, (kind, name, result.structured_content)
            error = result.structured_content["error"]
            assert error["code"] == "invalid_arguments", error
            if kind == "unknown_key":
                assert repr(name) in error["message"], error
            else:
                assert error["field"].split("/")[0] == name, error
            assert stack.reads_and_writes() == requests_before
            assert len(stack.audit) == audited_before

        refused()


@pytest.mark.parametrize("tool", sorted(SPECS))
def test_valid_arguments_never_crash_the_server(tmp_path: Path, tool: str) -> None:
    spec = SPECS[tool]
    with running_stack(tmp_path) as (portal, stack):
        call = caller(portal, stack, tool)

        @FUZZ_SETTINGS
        @given(arguments=valid_arguments(spec))
        def answered(arguments: dict[str, Any]) -> None:
            result = call(arguments)
            assert isinstance(result, CallToolResult)
            if result.is_error:
                error = result.structured_content["error"]
                assert error["code"] != "internal_error", (arguments, error)
                assert error["message"] and error["hint"], error
            else:
                assert result.structured_content is not None

        answered()
        still_serving = call_list_projects(portal, stack)
        assert not still_serving.is_error and still_serving.structured_content["count"] >= 1


def call_list_projects(portal: BlockingPortal, stack: Stack) -> CallToolResult:
    return portal.call(stack.mcp.call_tool, "qdi_list_projects", {})
