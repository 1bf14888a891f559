"""Tool specs: the loader of `tool_specs/*.yaml`, its meta-schema and the cache of validated specs.

A tool's name, description, schemas, annotations, toolset, safety class and per-tool texts live in its YAML
file and nowhere else; everything in the package reads them through `load_specs()` / `get_spec()`.
"""

from qdi_mcp.specs.loader import (
    CONFIRMATION_TOKEN_ARGUMENT,
    MODEL_VISIBLE_BUDGET,
    MODEL_VISIBLE_PER_TOOL,
    SAFETY_CLASSES,
    TOOLSETS,
    DestructiveCondition,
    EndpointBinding,
    PreviewScope,
    PreviewTemplate,
    SpecError,
    ToolSpec,
    get_spec,
    load_specs,
    model_visible_size,
    specs_by_name,
    specs_dir,
)

__all__ = [
    "CONFIRMATION_TOKEN_ARGUMENT",
    "MODEL_VISIBLE_BUDGET",
    "MODEL_VISIBLE_PER_TOOL",
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
