"""Arguments checked against the tool's input schema before anything else happens (the low-level SDK server does
not validate them), and the first problem named in the agent's terms: which argument, what was expected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qdi_mcp.failures import ToolFailure
from qdi_mcp.specs import ToolSpec

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


_SIZE_UNITS = {"maxLength": "characters", "maxItems": "items", "maxProperties": "entries"}


def argument_failure(spec: ToolSpec, error: ValidationError, count: int) -> ToolFailure:
    path = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else path
        field_name, message = missing, f"missing required argument {missing!r}"
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(str(name) for name in error.instance if name not in allowed)
        where = f" in {path!r}" if path else ""
        field_name = "/".join(filter(None, [path, unknown[0] if unknown else ""])) or "(arguments)"
        message = (
            f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{where}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    elif error.validator in _SIZE_UNITS:
        # Name the sizes, never the value: an oversized value is junk at best, a refused token at worst.
        field_name = path or "(arguments)"
        size = len(error.instance) if isinstance(error.instance, str | list | dict) else "?"
        unit = _SIZE_UNITS[str(error.validator)]
        message = f"argument {field_name!r} is too large ({size} {unit}, at most {error.validator_value})"
    else:
        field_name = path or "(arguments)"
        expected = _expected(error.schema)
        message = f"argument {field_name!r}: {error.message[:200]}" + (f" (expected {expected})" if expected else "")
    more = f" ({count - 1} more problem{'' if count == 2 else 's'})" if count > 1 else ""
    return ToolFailure(
        "invalid_arguments",
        f"Invalid arguments for {spec.name}: {message}{more}.",
        hint=f"check the input schema of {spec.name} and call again",
        field=field_name,
    )


def _expected(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "type" in schema:
        return str(schema["type"])
    return None
