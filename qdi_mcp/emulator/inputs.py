"""Reading request bodies and query parameters, with 400s that name the offending field."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from .errors import bad_request

if TYPE_CHECKING:
    from .emulator import Emulator


def emulator_of(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


async def json_object(request: Request) -> dict[str, Any]:
    """The JSON object in the body; an empty body counts as `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise bad_request(f"The request body must be a JSON object, not {type(data).__name__}.", pointer="")
    return data


def optional_bool(body: dict[str, Any], field: str, default: bool = False) -> bool:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"'{field}' must be true or false, got {value!r}.", pointer=f"/{field}")
    return value


def required_bool(body: dict[str, Any], field: str) -> bool:
    if field not in body or body[field] is None:
        raise bad_request(f"'{field}' is required (true or false).", pointer=f"/{field}")
    return optional_bool(body, field)


def optional_string(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"'{field}' must be a string, got {type(value).__name__}.", pointer=f"/{field}")
    return value


def enum_value(body: dict[str, Any], field: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = body.get(field, default)
    if value is None:
        return default
    if value not in allowed:
        raise bad_request(f"'{field}' must be one of {', '.join(allowed)}, got {value!r}.", pointer=f"/{field}")
    return str(value)


def id_list(body: dict[str, Any], field: str, key: str) -> list[str]:
    """`[{"<key>": "..."}, ...]` -> the ids, in order, without duplicates."""
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{field}' must be an array of objects with '{key}'.", pointer=f"/{field}")
    ids: list[str] = []
    for index, entry in enumerate(value):
        item = entry.get(key) if isinstance(entry, dict) else None
        if not isinstance(item, str) or not item:
            raise bad_request(
                f"'{field}[{index}]' must be an object with a non-empty string '{key}'.",
                pointer=f"/{field}/{index}/{key}",
            )
        if item not in ids:
            ids.append(item)
    return ids


def query_bool(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"Query parameter '{name}' must be true or false, got {raw!r}.", parameter=name)
