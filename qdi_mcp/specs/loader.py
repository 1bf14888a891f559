"""Tool specs: the one place a tool's contract is written (``tool_specs/<name>.yaml``).

A spec holds everything a client sees of a tool (name, title, description, input and output schema,
annotations) plus what the server needs to run it safely (toolset, safety class, the API operation or
workflow it calls). The server reads specs; it never restates them.

Loading a directory:

1. read ``_shared.yaml`` (fragments used by several tools) and every other ``*.yaml`` (one tool each);
2. replace each ``{$shared: <fragment>}`` node by that fragment (keys written beside ``$shared`` win);
3. validate against the meta-schema (``spec_schema.json``) and the rules JSON Schema cannot express
   (file name = tool name, annotations agree with the safety class, ...);
4. for tools that can be destructive, add the ``confirmation_token`` argument and let the output be
   either the normal result or a ``confirmation_required`` result;
5. link the specs: a workflow tool that ``wraps`` another takes its per-tool facts (``preview``, ``hints``,
   ``confirmation``, ``resume_with``) unless it writes its own, and the wrapped tool learns its ``wrapped_by``.

Per-tool facts the guard and the handlers read (written after ``annotations:`` in each file):

- ``preview: {action, target: project|task|target_project, consequence, scope: {argument, all}}``: what a person
  confirms; the target is read by the argument ``<target>_id``; texts may name required arguments (``{path!r}``);
  ``scope`` names the argument that narrows the call.
- ``hints: {bad_request, check_outcome, not_found, gone}``: the next step after a rejected call, after a write
  whose answer was lost, after a 404 or a 410 (the code has generic fallbacks).
- ``resume_with``: the read tool that follows what the tool started.
- ``writes_files: true``: a read tool that writes a file into the work folder (an export); a runbook's dry run
  shows it instead of calling it, so that a dry run writes nothing.
- ``confirmation: {binds_file: <argument>}``: the confirmation is bound to that file's content too.
- ``backup: <argument>``: the tool changes the design of the project that argument names, so the server exports it
  to the work folder's ``backups/`` first (``tools.backups``); the result and the audit line name the backup.
  ``backup_restores: bindings`` when the tool changes only binding values: the restore call then puts those back.
- ``precondition: <name>``: a check (``tools.base.PRECONDITIONS``) the server runs before asking for confirmation;
  when the call has nothing to do it answers it (a ``precondition_unmet`` result, added to the output schema).

Any problem raises :class:`SpecError` naming the file and the field. This module imports nothing from the
rest of qdi_mcp (but its own cache): specs know nothing of the code that uses them.

Validated documents are cached by content (see ``spec_cache``): the server loads specs at every start, and
checking 29 schemas costs more than starting the rest of it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from qdi_mcp.settings import TOOLSETS
from qdi_mcp.specs.cache import SpecCache

# yaml and jsonschema load only when specs are checked: a start served from the spec cache needs neither.
if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = [
    "CONFIRMATION_TOKEN_ARGUMENT",
    "SAFETY_CLASSES",
    "TOOLSETS",
    "DestructiveCondition",
    "EndpointBinding",
    "PreviewScope",
    "PreviewTemplate",
    "SpecError",
    "ToolSpec",
    "get_spec",
    "load_specs",
    "model_visible_size",
    "specs_by_name",
    "specs_dir",
]

SHARED_FILE: Final = "_shared.yaml"
CONFIRMATION_TOKEN_ARGUMENT: Final = "confirmation_token"  # noqa: S105 (an argument name, not a secret)
_SHARED_KEY: Final = "$shared"
_CONFIRMATION_RESULT_FRAGMENT: Final = "confirmation_required"
_DECLINED_RESULT_FRAGMENT: Final = "confirmation_declined"
_PRECONDITION_RESULT_FRAGMENT: Final = "precondition_unmet"
# Input schemas are model-visible and count against the size budget; these keys only add bytes.
_KEYS_NOT_IN_INPUTS: Final = ("title", "examples", "$schema")
_BLOCKS_OF_OTHER_KIND: Final = {"endpoint": ("workflow", "polls"), "workflow": ("endpoint",)}

_META_SCHEMA: Final[dict[str, Any]] = json.loads(
    Path(__file__).with_name("spec_schema.json").read_text(encoding="utf-8")
)


@functools.cache
def _meta_validator() -> Draft202012Validator:
    # Built on first use: a start that hits the spec cache never needs it.
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(_META_SCHEMA)
    return Draft202012Validator(_META_SCHEMA)


@functools.cache
def _input_property_validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": "#/$defs/describedInputNode", "$defs": _META_SCHEMA["$defs"]})


# Settings (the lower layer) hold the one list of toolsets, since QDI_MCP_TOOLSETS is checked against it;
# the meta-schema gets it here. The meta-schema is the one list of safety classes; Python reads it from there.
_META_SCHEMA["properties"]["toolset"]["enum"] = list(TOOLSETS)
SAFETY_CLASSES: Final[tuple[str, ...]] = tuple(_META_SCHEMA["properties"]["safety"]["enum"])


class SpecError(ValueError):
    """A tool spec (or the shared fragments file) is malformed.

    ``str(error)`` reads ``tool_specs/qdi_x.yaml: input_schema.properties.foo: <problem>``.
    """

    def __init__(self, file: str, field_path: str | None, problem: str) -> None:
        self.file = file
        self.field = field_path
        self.problem = problem
        location = f"{file}: {field_path}" if field_path else file
        super().__init__(f"{location}: {problem}")


@dataclass(frozen=True)
class EndpointBinding:
    """The API endpoint an endpoint tool wraps: ``operation`` is the API client's method name and its key in
    the client's endpoint table (``qdi_mcp.api.endpoints.ENDPOINTS``), the one place its method, path and rate
    tier are written. Specs do not import the client (same layer, and listing tools must not load it); a test
    checks that every operation named here is in that table and every operation of the table has a tool."""

    operation: str
    # Further operations of the same endpoint family the tool picks between by its input (qdi_import_project sends
    # a YAML zip to import_project_async); the tool is named after ``operation``.
    alternatives: tuple[str, ...] = ()

    @property
    def operations(self) -> tuple[str, ...]:
        return (self.operation, *self.alternatives)


@dataclass(frozen=True)
class DestructiveCondition:
    """A write tool becomes destructive when ``arguments[argument] == equals``."""

    argument: str
    equals: str | bool | int | float | None


@dataclass(frozen=True)
class PreviewScope:
    """The argument that narrows what a destructive call touches, and what omitting it means."""

    argument: str
    all: str


@dataclass(frozen=True)
class PreviewTemplate:
    """What a person is shown before a destructive call. ``target`` says what the preview reads live (the project
    or the task); ``action`` and ``consequence`` may name required arguments (``{path!r}``)."""

    action: str
    target: str
    consequence: str
    scope: PreviewScope | None = None
    # A check the preview runs first (a name of ``tools.base.PREVIEW_CHECKS``): it adds what it found to the
    # preview, or refuses the call before anyone is asked to confirm it.
    check: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """One tool, as loaded from its spec. Treat the schema dicts as read-only: they are cached and shared."""

    name: str
    title: str
    description: str
    toolset: str
    safety: str
    kind: str
    # The schemas clients see: confirmation fragments already injected for tools that can be destructive.
    input_schema: dict[str, Any] = field(hash=False)
    output_schema: dict[str, Any] = field(hash=False)
    # The normal (non-confirmation) result shape, for handlers and tests.
    result_schema: dict[str, Any] = field(hash=False)
    annotations: Mapping[str, bool] = field(hash=False)
    destructive_when: tuple[DestructiveCondition, ...] = ()
    endpoint: EndpointBinding | None = None
    workflow_operation: str | None = None
    polls: tuple[str, ...] = ()
    # Per-tool facts read by the guard and the handlers (see the module docstring).
    preview: PreviewTemplate | None = None
    hints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    resume_with: str | None = None
    binds_file: str | None = None
    writes_files: bool = False
    # The argument naming the project backed up before the call (see tools.backups).
    backup: str | None = None
    # What the backup's restore call puts back: "design" (import the backup) or "bindings" (the values).
    backup_restores: str | None = None  # None: "design"
    # A check run before confirmation that may answer the call without running it (see tools.base.PRECONDITIONS).
    precondition: str | None = None
    wraps: str | None = None
    # The workflow tool that wraps this one (computed from the other spec's ``wraps``).
    wrapped_by: str | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def is_read_only(self) -> bool:
        return self.safety == "read"

    @property
    def can_be_destructive(self) -> bool:
        """True for destructive tools and for write tools destructive for some arguments."""
        return self.safety == "destructive" or bool(self.destructive_when)

    @property
    def operations(self) -> tuple[str, ...]:
        """The API client operations this tool calls."""
        return self.endpoint.operations if self.endpoint else self.polls

    @property
    def mcp_annotations(self) -> dict[str, Any]:
        """MCP ``ToolAnnotations`` in wire (camelCase) form, title included."""
        return {"title": self.title, **self.annotations}

    def is_destructive_for(self, arguments: Mapping[str, Any]) -> bool:
        """Whether a call with these (already validated) arguments is destructive."""
        if self.safety == "destructive":
            return True
        properties = self.input_schema["properties"]
        for condition in self.destructive_when:
            # An omitted argument takes its schema default, which could itself be the destructive value.
            value = arguments.get(condition.argument, properties[condition.argument].get("default"))
            if _same_json_value(value, condition.equals):
                return True
        return False

    def needs_confirmation_for(self, arguments: Mapping[str, Any]) -> bool:
        """Whether the guardrails must ask before running a call with these arguments."""
        return self.is_destructive_for(arguments)

    def hint(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The spec's hint ``name`` (``bad_request``, ``check_outcome``, ``not_found``, ``gone``) for this call, or
        None (then the caller uses its generic one)."""
        template = self.hints.get(name)
        return template.format_map(arguments) if template is not None else None


# The design's budget of what agents read: every tool's name, description and input schema, with every toolset
# on, fits MODEL_VISIBLE_BUDGET bytes, and no tool takes more than MODEL_VISIBLE_PER_TOOL.
MODEL_VISIBLE_BUDGET = 24_000
MODEL_VISIBLE_PER_TOOL = 900


def model_visible_size(spec: ToolSpec) -> int:
    """UTF-8 bytes of a tool's definition that land in the model's context (name, description, input schema
    as compact JSON): the figure the size budget is written in."""
    schema = json.dumps(spec.input_schema, separators=(",", ":"), ensure_ascii=False)
    return len(spec.name.encode()) + len(spec.description.encode()) + len(schema.encode())


def specs_dir() -> Path:
    """The package copy (wheel installs) when present, else the repository's ``tool_specs/``."""
    package_copy = Path(__file__).resolve().parents[1] / "tool_specs"
    if package_copy.is_dir():
        return package_copy
    return Path(__file__).resolve().parents[2] / "tool_specs"


def load_specs(directory: Path | None = None) -> tuple[ToolSpec, ...]:
    """All tool specs of ``directory`` (default :func:`specs_dir`), sorted by name. Cached per directory."""
    return _load_directory(Path(directory or specs_dir()).resolve())


def specs_by_name(directory: Path | None = None) -> Mapping[str, ToolSpec]:
    return _index_by_name(Path(directory or specs_dir()).resolve())


def get_spec(name: str, directory: Path | None = None) -> ToolSpec:
    try:
        return specs_by_name(directory)[name]
    except KeyError:
        raise KeyError(f"no tool spec named {name!r}") from None


@functools.lru_cache(maxsize=16)
def _index_by_name(directory: Path) -> Mapping[str, ToolSpec]:
    return MappingProxyType({spec.name: spec for spec in _load_directory(directory)})


@functools.lru_cache(maxsize=16)
def _load_directory(directory: Path) -> tuple[ToolSpec, ...]:
    if not directory.is_dir():
        raise SpecError(str(directory), None, "tool specs directory not found")
    paths = sorted(p for p in directory.glob("*.yaml") if p.name != SHARED_FILE)
    cache = SpecCache.for_directory(directory, paths)
    cached = cache.read()
    if cached is not None:
        fragments, documents = cached
        try:
            return _linked(
                [_build(doc, fragments, directory / f"{doc['name']}.yaml", doc["name"]) for doc in documents],
                fragments,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # an entry from another loader version, or damaged: load from the YAML files instead
    fragments = _load_fragments(directory / SHARED_FILE)
    documents = [_validated_document(path, fragments) for path in paths]
    built = [_build(doc, fragments, path, _display(path)) for doc, path in zip(documents, paths, strict=True)]
    _check_across_specs(built)
    specs = _linked(built, fragments)
    for spec in specs:
        _check_tool_facts(spec, specs_by_tool={s.name: s for s in specs})
    cache.write(fragments, documents)
    return specs


# --- reading and fragments -------------------------------------------------------------------------


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _dotted(parts: Iterable[str | int]) -> str | None:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def _read_yaml(path: Path, display: str) -> Any:
    import yaml

    # libyaml's loader is several times faster than the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise SpecError(display, None, f"invalid YAML: {exc}") from exc


def _load_fragments(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    display = _display(path)
    document = _read_yaml(path, display)
    if not isinstance(document, dict) or set(document) != {"fragments"} or not isinstance(document["fragments"], dict):
        raise SpecError(display, None, "expected exactly one key, 'fragments', mapping names to schema fragments")
    raw = document["fragments"]
    fragments = {
        name: _resolve_shared(value, raw, ["fragments", name], display, (name,)) for name, value in raw.items()
    }
    _check_loader_fragments(fragments, display)
    return fragments


def _check_loader_fragments(fragments: Mapping[str, Any], display: str) -> None:
    # Checked once here rather than in every tool they are injected into (schema checks dominate load time).
    token = fragments.get(CONFIRMATION_TOKEN_ARGUMENT)
    if token is not None:
        token_path: list[str | int] = ["fragments", CONFIRMATION_TOKEN_ARGUMENT]
        from jsonschema.exceptions import best_match

        error = best_match(_input_property_validator().iter_errors(token))
        if error is not None:
            raise SpecError(display, _dotted([*token_path, *error.absolute_path]), error.message)
        _check_input_keys(token, token_path, display)
        _check_json_schema(token, display, _dotted(token_path) or "")
    confirmation = fragments.get(_CONFIRMATION_RESULT_FRAGMENT)
    if confirmation is not None:
        where = f"fragments.{_CONFIRMATION_RESULT_FRAGMENT}"
        if not isinstance(confirmation, dict) or confirmation.get("type") != "object":
            raise SpecError(display, where, "must be an object schema ('type: object')")
        if CONFIRMATION_TOKEN_ARGUMENT not in confirmation.get("required", []):
            # The gate returns the token under the same name the agent passes it back with.
            raise SpecError(display, f"{where}.required", f"must require {CONFIRMATION_TOKEN_ARGUMENT!r}")
        _check_json_schema(confirmation, display, where)


def _resolve_shared(
    node: Any,
    fragments: Mapping[str, Any],
    where: list[str | int],
    display: str,
    active: tuple[str, ...] = (),
) -> Any:
    """A copy of ``node`` with every ``{$shared: name, ...overrides}`` replaced by the fragment."""
    if isinstance(node, list):
        return [_resolve_shared(item, fragments, [*where, i], display, active) for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    if _SHARED_KEY in node:
        name = node[_SHARED_KEY]
        if not isinstance(name, str) or name not in fragments:
            known = ", ".join(sorted(fragments)) or "none"
            raise SpecError(display, _dotted(where), f"unknown shared fragment {name!r} (known: {known})")
        if name in active:
            raise SpecError(display, _dotted(where), f"shared fragment {name!r} refers to itself")
        overrides = {key: value for key, value in node.items() if key != _SHARED_KEY}
        return _resolve_shared({**fragments[name], **overrides}, fragments, where, display, (*active, name))
    return {key: _resolve_shared(value, fragments, [*where, key], display, active) for key, value in node.items()}


# --- one spec ---------------------------------------------------------------------------------------


def _validated_document(path: Path, fragments: Mapping[str, Any]) -> dict[str, Any]:
    """The spec file with fragments resolved, checked against the meta-schema and the rules."""
    display = _display(path)
    raw = _read_yaml(path, display)
    if not isinstance(raw, dict):
        raise SpecError(display, None, "expected a mapping of spec fields")
    document = _resolve_shared(raw, fragments, [], display)
    _check_meta_schema(document, display)
    _check_rules(document, path.stem, display)
    return document


def _check_meta_schema(document: dict[str, Any], display: str) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(_meta_validator().iter_errors(document))
    if error is not None:
        raise SpecError(display, _dotted(error.absolute_path), error.message)


def _check_json_schema(schema: Mapping[str, Any], display: str, where: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SpecError(display, _dotted([where, *exc.absolute_path]), exc.message) from exc


def _check_rules(document: dict[str, Any], file_stem: str, display: str) -> None:
    name = document["name"]
    if name != file_stem:
        raise SpecError(display, "name", f"{name!r} must equal the file name ({file_stem!r})")
    for block in _BLOCKS_OF_OTHER_KIND[document["kind"]]:
        if block in document:
            raise SpecError(display, block, f"not allowed for kind {document['kind']!r}")
    properties = document["input_schema"]["properties"]
    if CONFIRMATION_TOKEN_ARGUMENT in properties:
        raise SpecError(
            display,
            f"input_schema.properties.{CONFIRMATION_TOKEN_ARGUMENT}",
            "added by the loader to tools that can be destructive; do not declare it",
        )
    _check_input_keys(document["input_schema"], ["input_schema"], display)
    if "$schema" in document["output_schema"]:
        # The loader may nest the output schema under anyOf, where $schema is not allowed.
        raise SpecError(display, "output_schema.$schema", "not allowed: schemas are read as 2020-12")
    for key in ("input_schema", "output_schema"):
        _check_json_schema(document[key], display, key)
    for index, required in enumerate(document["input_schema"].get("required", [])):
        if required not in properties:
            raise SpecError(display, f"input_schema.required[{index}]", f"{required!r} is not a property")
    _check_destructive_when(document, properties, display)
    _check_annotations(document, display)


def _check_input_keys(node: Any, where: list[str | int], display: str) -> None:
    if not isinstance(node, dict):
        return
    for key in _KEYS_NOT_IN_INPUTS:
        if key in node:
            raise SpecError(display, _dotted([*where, key]), f"{key!r} is not allowed in input schemas")
    _check_size_caps(node, where, display)
    for name, child in node.get("properties", {}).items():
        _check_input_keys(child, [*where, "properties", name], display)
    for keyword in ("items", "additionalProperties", "not"):
        _check_input_keys(node.get(keyword), [*where, keyword], display)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for index, child in enumerate(node.get(keyword, [])):
            _check_input_keys(child, [*where, keyword, index], display)


# What an agent sends is bounded by the schema, so an oversized argument is refused at validation, before any
# request, preview or audit line is made of it.
_SIZE_CAPS = {"string": "maxLength", "array": "maxItems"}


def _check_size_caps(node: dict[str, Any], where: list[str | int], display: str) -> None:
    types_ = node.get("type")
    for type_ in types_ if isinstance(types_, list) else [types_]:
        cap = _SIZE_CAPS.get(type_) if isinstance(type_, str) else None
        if cap and cap not in node and "enum" not in node and "const" not in node:
            raise SpecError(
                display,
                _dotted(where),
                f"{'an' if type_ == 'array' else 'a'} {type_} an agent sends needs {cap!r} "
                "(ids 200, free text 2000, lists 1000)",
            )
    if isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node:
        raise SpecError(display, _dotted(where), "an open map an agent sends needs 'maxProperties'")


def _check_destructive_when(document: dict[str, Any], properties: Mapping[str, Any], display: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    conditions = document.get("destructive_when", [])
    if conditions and document["safety"] != "write":
        raise SpecError(
            display,
            "destructive_when",
            "only for 'write' tools (a 'destructive' tool always asks confirmation)",
        )
    for index, condition in enumerate(conditions):
        argument = condition["argument"]
        if argument not in properties:
            raise SpecError(
                display,
                f"destructive_when[{index}].argument",
                f"{argument!r} is not an input_schema property",
            )
        problem = best_match(Draft202012Validator(properties[argument]).iter_errors(condition["equals"]))
        if problem is not None:
            raise SpecError(
                display, f"destructive_when[{index}].equals", f"not a valid {argument!r}: {problem.message}"
            )


def _expected_hints(safety: str, destructive_for_some_arguments: bool) -> dict[str, bool]:
    if safety == "read":
        return {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True}
    return {
        "readOnlyHint": False,
        "destructiveHint": safety == "destructive" or destructive_for_some_arguments,
    }


def _check_annotations(document: dict[str, Any], display: str) -> None:
    safety = document["safety"]
    expected = _expected_hints(safety, bool(document.get("destructive_when")))
    for hint, value in expected.items():
        if document["annotations"][hint] is not value:
            qualifier = " with destructive_when" if document.get("destructive_when") else ""
            raise SpecError(
                display,
                f"annotations.{hint}",
                f"must be {str(value).lower()} for a {safety!r} tool{qualifier}",
            )


def _build(document: dict[str, Any], fragments: Mapping[str, Any], path: Path, display: str) -> ToolSpec:
    conditions = tuple(
        DestructiveCondition(argument=c["argument"], equals=c["equals"]) for c in document.get("destructive_when", [])
    )
    result_schema = document["output_schema"]
    input_schema = document["input_schema"]
    output_schema = result_schema
    if document["safety"] == "destructive" or conditions:
        token = _required_fragment(fragments, CONFIRMATION_TOKEN_ARGUMENT, display, "input_schema")
        confirmation = _required_fragment(fragments, _CONFIRMATION_RESULT_FRAGMENT, display, "output_schema")
        declined = _required_fragment(fragments, _DECLINED_RESULT_FRAGMENT, display, "output_schema")
        input_schema = {
            **input_schema,
            "properties": {**input_schema["properties"], CONFIRMATION_TOKEN_ARGUMENT: token},
        }
        # Top-level "type: object" keeps the result a valid MCP outputSchema (an object schema).
        output_schema = {"type": "object", "anyOf": [copy.deepcopy(result_schema), confirmation, declined]}
    endpoint = document.get("endpoint")
    preview = document.get("preview")
    return ToolSpec(
        name=document["name"],
        title=document["title"],
        description=document["description"],
        toolset=document["toolset"],
        safety=document["safety"],
        kind=document["kind"],
        input_schema=input_schema,
        output_schema=output_schema,
        result_schema=result_schema,
        annotations=MappingProxyType(dict(document["annotations"])),
        destructive_when=conditions,
        endpoint=_endpoint_binding(endpoint) if endpoint else None,
        workflow_operation=document["workflow"]["operation"] if "workflow" in document else None,
        polls=tuple(document.get("polls", ())),
        preview=_preview_template(preview) if preview else None,
        hints=MappingProxyType(dict(document.get("hints", {}))),
        resume_with=document.get("resume_with"),
        binds_file=document.get("confirmation", {}).get("binds_file"),
        writes_files=bool(document.get("writes_files", False)),
        backup=document.get("backup"),
        backup_restores=document.get("backup_restores"),
        precondition=document.get("precondition"),
        wraps=document.get("wraps"),
        source=path,
    )


def _preview_template(preview: Mapping[str, Any]) -> PreviewTemplate:
    scope = preview.get("scope")
    return PreviewTemplate(
        action=preview["action"],
        target=preview["target"],
        consequence=preview["consequence"],
        scope=PreviewScope(argument=scope["argument"], all=scope["all"]) if scope else None,
        check=preview.get("check"),
    )


def _endpoint_binding(endpoint: Mapping[str, Any]) -> EndpointBinding:
    return EndpointBinding(operation=endpoint["operation"], alternatives=tuple(endpoint.get("alternatives", ())))


def _required_fragment(fragments: Mapping[str, Any], name: str, display: str, where: str) -> Any:
    if name not in fragments:
        raise SpecError(
            display,
            where,
            f"tools that can be destructive need the shared fragment {name!r} in {SHARED_FILE}",
        )
    return copy.deepcopy(fragments[name])


def _same_json_value(value: Any, expected: Any) -> bool:
    # JSON true is not 1: Python's True == 1 must not make a boolean condition match a number.
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value is expected
    return value == expected


# --- across specs -----------------------------------------------------------------------------------


def _check_across_specs(specs: Sequence[ToolSpec]) -> None:
    seen_names: dict[str, ToolSpec] = {}
    seen_operations: dict[str, ToolSpec] = {}
    for spec in specs:
        display = _display(spec.source) if spec.source else spec.name
        _claim(seen_names, spec.name, spec, display, "name", "tool name")
        if spec.endpoint is not None:
            # One tool per operation; the operation's route is the endpoint table's, so routes cannot clash.
            for operation in spec.endpoint.operations:
                _claim(seen_operations, operation, spec, display, "endpoint.operation", "operation")
    for spec in specs:
        for index, operation in enumerate(spec.polls):
            if operation not in seen_operations:
                raise SpecError(
                    _display(spec.source) if spec.source else spec.name,
                    f"polls[{index}]",
                    f"{operation!r} is not the operation of any endpoint spec",
                )


def _claim(seen: dict[Any, ToolSpec], key: Any, spec: ToolSpec, display: str, where: str, what: str) -> None:
    if key in seen:
        raise SpecError(display, where, f"{what} {key!r} is already used by {seen[key].name}")
    seen[key] = spec


# Taken from the wrapped tool when the wrapping one does not write them: it changes the tenant exactly as the
# wrapped tool does, so what a person confirms and how to recover cannot drift apart.
_INHERITED_FACTS: Final = ("preview", "hints", "resume_with", "binds_file", "backup", "backup_restores", "precondition")


def _linked(specs: Sequence[ToolSpec], fragments: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    """The specs with ``wraps`` resolved (facts inherited) and ``wrapped_by`` set, sorted by name; a tool with a
    precondition (its own or inherited) may also return the precondition's answer."""
    by_name = {spec.name: spec for spec in specs}
    wrapped_by = {spec.wraps: spec.name for spec in specs if spec.wraps}
    linked = []
    for spec in specs:
        inherited: dict[str, Any] = {}
        wrapped = by_name.get(spec.wraps) if spec.wraps else None
        if wrapped is not None:
            for fact in _INHERITED_FACTS:
                if not getattr(spec, fact):
                    inherited[fact] = getattr(wrapped, fact)
        spec = dataclasses.replace(spec, wrapped_by=wrapped_by.get(spec.name), **inherited)
        if spec.precondition is not None:
            spec = dataclasses.replace(spec, output_schema=_with_precondition_answer(spec, fragments))
        linked.append(spec)
    return tuple(sorted(linked, key=lambda spec: spec.name))


def _with_precondition_answer(spec: ToolSpec, fragments: Mapping[str, Any]) -> dict[str, Any]:
    """The output schema plus the answer a precondition gives instead of running the call (one shape for all
    tools, the shared fragment ``precondition_unmet``)."""
    display = _display(spec.source) if spec.source else spec.name
    unmet = _required_fragment(fragments, _PRECONDITION_RESULT_FRAGMENT, display, "precondition")
    shapes = spec.output_schema["anyOf"] if "anyOf" in spec.output_schema else [copy.deepcopy(spec.output_schema)]
    return {"type": "object", "anyOf": [*shapes, unmet]}


def _check_tool_facts(spec: ToolSpec, *, specs_by_tool: Mapping[str, ToolSpec]) -> None:
    """The per-tool facts name real tools and arguments, and every tool that can be destructive has a preview."""
    display = _display(spec.source) if spec.source else spec.name
    properties = spec.input_schema["properties"]
    required = set(spec.input_schema.get("required", []))
    for key, tool in (("wraps", spec.wraps), ("resume_with", spec.resume_with)):
        if tool is not None and tool not in specs_by_tool:
            raise SpecError(display, key, f"{tool!r} is not a tool spec")
    if spec.wraps is not None:
        wrapped = specs_by_tool[spec.wraps]
        if spec.kind != "workflow" or wrapped.wraps is not None:
            raise SpecError(display, "wraps", "only a workflow tool wraps, and only a tool that wraps nothing")
    if spec.resume_with is not None and not specs_by_tool[spec.resume_with].is_read_only:
        raise SpecError(display, "resume_with", f"{spec.resume_with!r} must be a read tool")
    if spec.can_be_destructive != (spec.preview is not None):
        problem = (
            "required for a tool that can be destructive"
            if spec.preview is None
            else "only for tools that can be destructive"
        )
        raise SpecError(display, "preview", problem)
    if spec.binds_file is not None:
        if not spec.can_be_destructive:
            raise SpecError(display, "confirmation", "only for tools that can be destructive")
        if spec.binds_file not in required or properties[spec.binds_file].get("type") != "string":
            raise SpecError(
                display, "confirmation.binds_file", f"{spec.binds_file!r} is not a required string argument"
            )
    if spec.backup is not None:
        if spec.is_read_only:
            raise SpecError(display, "backup", "only for tools that change a project")
        if spec.backup not in required or properties[spec.backup].get("type") != "string":
            raise SpecError(display, "backup", f"{spec.backup!r} is not a required string argument")
        if "backup" not in spec.result_schema.get("properties", {}):
            # The server adds the backup to the result, which must still match the schema agents read.
            raise SpecError(display, "output_schema.properties", "a tool with backup: returns it: add backup")
    if spec.preview is not None:
        target_id = f"{spec.preview.target}_id"
        if target_id not in required:
            raise SpecError(
                display, "preview.target", f"a {spec.preview.target} preview needs the argument {target_id!r}"
            )
        scope = spec.preview.scope
        if scope is not None and properties.get(scope.argument, {}).get("type") != "array":
            raise SpecError(display, "preview.scope.argument", f"{scope.argument!r} is not an array argument")
        _check_template(spec.preview.action, required, display, "preview.action")
        _check_template(spec.preview.consequence, required, display, "preview.consequence")
    for name, template in spec.hints.items():
        _check_template(template, required, display, f"hints.{name}")


def _check_template(template: str, required: set[str], display: str, where: str) -> None:
    # Only plain {argument} and {argument!r}: the text is formatted with the call's arguments, and a required one
    # is always there. Attribute or index access would reach past the argument values.
    try:
        fields = [
            (name, conversion) for _, name, _, conversion in string.Formatter().parse(template) if name is not None
        ]
    except ValueError as exc:
        raise SpecError(display, where, f"not a valid text template: {exc}") from exc
    for name, conversion in fields:
        if name not in required or conversion not in (None, "r"):
            raise SpecError(display, where, f"{{{name}}} must name a required argument (optionally with !r)")
