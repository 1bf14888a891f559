"""What tools need from Qlik's spaces and data-connections APIs: space names for project results, connection
references for bindings. Not a toolset: the handlers live in `projects.py`.

A binding names a connection as `{{id(connection, SPACE_NAME.CONNECTION_NAME)}}`: the form of the
deploy-di-project guide (facts-14 section 7, "{{id(connection, DEV_SPACE.BigQuery_DEV)}}") and of real
exports' bindings.json (tests/data/qlik-export-customer-churn.zip).
"""

from __future__ import annotations

import difflib
import logging
import re
import weakref
from typing import Any

from qdi_mcp.api import QdiApiError, QlikClient
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import tenant

logger = logging.getLogger(__name__)

CONNECTION_REFERENCE = re.compile(r"^\s*\{\{\s*id\(\s*connection\s*,\s*(?P<qualified>[^()]*?)\s*\)\s*\}\}\s*$")
# A tenant with more spaces or connections than this is read no further: the lookups stay bounded.
MAX_PAGES = 20
PAGE_SIZE = 100
# Every project result names its space, and spaces are renamed rarely: one listing serves every call of a
# process for this long, instead of one more request (or page run) per qdi_get_project. A renamed space shows
# its old name for at most this long; space_id is always current.
SPACE_NAMES_TTL_SECONDS = 60.0
_SPACE_NAMES: weakref.WeakKeyDictionary[QlikClient, tuple[float, dict[str, str]]] = weakref.WeakKeyDictionary()


def binding_reference(space_name: str | None, connection_name: str | None) -> str | None:
    if not space_name or not connection_name:
        return None
    return f"{{{{id(connection, {space_name}.{connection_name})}}}}"


class SpaceNames:
    """Space id -> name, read when first asked (every page of GET /spaces) and shared by the calls of the next
    SPACE_NAMES_TTL_SECONDS."""

    def __init__(self, client: QlikClient) -> None:
        self._client = client
        self._names: dict[str, str] | None = None

    async def all(self) -> dict[str, str]:
        if self._names is None:
            cached = _SPACE_NAMES.get(self._client)
            if cached is not None and self._client.clock.monotonic() - cached[0] < SPACE_NAMES_TTL_SECONDS:
                self._names = cached[1]
                return self._names
            names: dict[str, str] = {}
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await self._client.list_spaces(limit=PAGE_SIZE, next=cursor)
                names.update({s.id: s.name for s in page.spaces if s.id and s.name})
                cursor = page.next_cursor
                if cursor is None:
                    break
            self._names = names
            _SPACE_NAMES[self._client] = (self._client.clock.monotonic(), names)
        return self._names

    async def name(self, space_id: str | None) -> str | None:
        """The space's name; None when it is unknown or the spaces cannot be read (never a failure: the name
        only decorates a result whose subject is something else)."""
        if not space_id:
            return None
        try:
            return (await self.all()).get(space_id)
        except QdiApiError as exc:
            logger.info("space names unavailable (%s); results show space_name null", type(exc).__name__)
            self._names = {}
            return None


async def with_space_name(project: dict[str, Any], spaces: SpaceNames) -> dict[str, Any]:
    """The project dict with `space_name` right after `space_id`."""
    named: dict[str, Any] = {}
    for key, value in project.items():
        named[key] = value
        if key == "space_id":
            named["space_name"] = await spaces.name(value)
    named.setdefault("space_name", None)
    return named


async def tenant_references(client: QlikClient) -> set[str]:
    """The reference of every connection the caller can see, e.g. '{{id(connection, DEV_SPACE.MySQL_DEV)}}'."""
    spaces = SpaceNames(client)
    names = await spaces.all()
    references: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_data_connections(limit=PAGE_SIZE, next=cursor)
        for connection in page.connections:
            reference = binding_reference(names.get(connection.space_id or ""), connection.name)
            if reference:
                references.add(reference)
        cursor = page.next_cursor
        if cursor is None:
            break
    return references


def canonical_reference(value: Any) -> str | None:
    """A connection reference in the form Qlik writes it, or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    match = CONNECTION_REFERENCE.match(value)
    if match is None:
        return None
    return f"{{{{id(connection, {match.group('qualified')})}}}}"


async def check_connection_references(client: QlikClient, changed: dict[str, Any]) -> None:
    """Refuse (nothing written) a changed binding whose connection reference names no connection of the tenant."""
    wanted = {name: ref for name, value in changed.items() if (ref := canonical_reference(value)) is not None}
    if not wanted:
        return  # no reference among the changes: no need to read the tenant's connections
    known = await tenant_references(client)
    for name, reference in sorted(wanted.items()):
        if reference in known:
            continue
        close = difflib.get_close_matches(reference, sorted(known), n=1, cutoff=0.6)
        suggestion = f"; did you mean {tenant(repr(close[0]))}?" if close else ""
        raise ToolFailure(
            "invalid_arguments",
            f"Binding {name!r} refers to a connection this tenant does not have{suggestion} Nothing was changed.",
            hint="call qdi_list_connections and use a connection's binding_reference",
            field="variables",
        )
