"""GET /api/v1/spaces and GET /api/v1/data-connections: what a binding's `{{id(connection, SPACE.NAME)}}` names.

Shapes follow Qlik's typings (`qlik-oss/qlik-api-ts`: the spaces chunk, stored doc 38773419195, and
`data-connections.d.ts` @ 35d6345f, stored doc 56222317199): `{data: [...], links: {self, next?}, meta: {count}}`.
Spaces page with the query parameter `next`, data connections with `page`; each answer's `links.next.href`
carries the cursor, which is opaque to clients.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import bad_request
from .inputs import emulator_of
from .state import Connection, Space, Tenant

# The spaces page capture (stored doc 58067833375) gives limit "default = 10" and no maximum; 100 is what we
# allow. Data connections: "Number of resources to be returned (between 1 and 100)", and "All resources will be
# returned if limit is not defined" (stored doc 58152177058).
SPACES_DEFAULT_LIMIT = 10
MAX_LIMIT = 100
SPACE_TYPES = ("shared", "managed", "data")
# A fixed tenant id for the wire (`tenantId`, `tenant`): the emulator serves one tenant.
TENANT_ID = "xqFQ0k66vSR8f9G7J-vYtHZQkiYrCpct"
_CONNECTION_PRIVILEGES = ["list", "update", "delete", "read", "change_owner", "change_space"]


async def list_spaces(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    query = request.query_params
    name = (query.get("name") or "").lower()  # "Case-insensitive open search with wildcards both as prefix and suffix"
    types = _space_types(query.get("type"))
    found = [
        space
        for space in sorted(tenant.spaces.values(), key=lambda s: s.name.lower())
        if name in space.name.lower() and (not types or space.type in types)
    ]
    limit = _limit(query.get("limit"), SPACES_DEFAULT_LIMIT)
    page, next_offset = _page(found, _offset(query.get("next"), "next"), limit)
    return JSONResponse(
        {
            "data": [_space_wire(request, space) for space in page],
            "links": _links(request, "next", next_offset),
            "meta": {"count": len(found)},
        }
    )


async def list_data_connections(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    query = request.query_params
    space_id = query.get("spaceId")
    found = [
        connection
        for connection in sorted(tenant.connections.values(), key=lambda c: (c.space_name, c.name.lower()))
        if space_id is None or _space_id(tenant, connection) == space_id
    ]
    limit = _limit(query.get("limit"), None)
    page, next_offset = _page(found, _offset(query.get("page"), "page"), limit)
    return JSONResponse(
        {
            "data": [_connection_wire(request, tenant, connection) for connection in page],
            "links": _links(request, "page", next_offset),
            "meta": {"count": len(found)},
        }
    )


def _space_types(value: str | None) -> set[str]:
    if not value:
        return set()
    types = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(types - set(SPACE_TYPES))
    if unknown:
        raise bad_request(f"Unknown space type {unknown[0]!r}; use {', '.join(SPACE_TYPES)}.", parameter="type")
    return types


def _limit(value: str | None, default: int | None) -> int | None:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise bad_request(f"'limit' must be a whole number between 1 and {MAX_LIMIT}.", parameter="limit")
    return int(value)


def _offset(cursor: str | None, parameter: str) -> int:
    if not cursor:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode().removeprefix("o:"))
    except ValueError:
        offset = -1
    if offset < 0:
        raise bad_request("The page cursor is not valid; use the links.next of the previous page.", parameter=parameter)
    return offset


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _page(items: list[Any], offset: int, limit: int | None) -> tuple[list[Any], int | None]:
    end = len(items) if limit is None else offset + limit
    return items[offset:end], (end if end < len(items) else None)


def _links(request: Request, cursor_parameter: str, next_offset: int | None) -> dict[str, Any]:
    links: dict[str, Any] = {"self": {"href": str(request.url)}}
    if next_offset is not None:
        params = dict(request.query_params)
        params[cursor_parameter] = _cursor(next_offset)
        links["next"] = {"href": str(request.url.include_query_params(**params))}
    return links


def _space_id(tenant: Tenant, connection: Connection) -> str | None:
    space = tenant.space_named(connection.space_name)
    return space.id if space else None


def _space_wire(request: Request, space: Space) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "id": space.id,
        "name": space.name,
        "type": space.type,
        "description": "",
        "ownerId": emulator_of(request).tenant.owner_id,
        "tenantId": TENANT_ID,
        "createdAt": "2024-05-24T09:00:00Z",
        "updatedAt": "2024-05-24T09:00:00Z",
        "links": {
            "self": {"href": f"{base}/api/v1/spaces/{space.id}"},
            "assignments": {"href": f"{base}/api/v1/spaces/{space.id}/assignments"},
        },
        "meta": {"actions": ["create", "read", "update"], "roles": ["producer"], "assignableRoles": []},
    }


def _connection_wire(request: Request, tenant: Tenant, connection: Connection) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    wire: dict[str, Any] = {
        "qID": connection.id,
        "qEngineObjectID": connection.id,
        "qName": connection.name,
        "qType": connection.type,
        "qConnectStatement": connection.connect_statement,
        "qArchitecture": 0,
        "qLogOn": 0,
        "qSeparateCredentials": False,
        "links": {"self": {"href": f"{base}/api/v1/data-connections/{connection.id}"}},
        "privileges": list(_CONNECTION_PRIVILEGES),
        "tenant": TENANT_ID,
        "space": _space_id(tenant, connection),
        "user": tenant.owner_id,
        "created": "2024-05-24T09:00:00Z",
        "updated": "2024-05-24T09:00:00Z",
    }
    if connection.secret is not None:
        wire["qConnectionSecret"] = connection.secret
    return wire
