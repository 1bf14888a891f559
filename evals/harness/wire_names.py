"""Names of Qlik's wire that an agent cannot use: a camelCase field (`allowRecreate`), a method and path
(`PUT .../bindings`), or a path segment of the API (`recreate-datasets`). Our arguments are snake_case and our
tools are `qdi_*`; hints and descriptions name those, the only things an agent can call. Used by the lint of
tool definitions (`lint.py`) and of results (`result_lint.py`).
"""

from __future__ import annotations

import re

from qdi_mcp.api.endpoints import ENDPOINTS

_CAMEL_CASE = re.compile(r"\b[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*\b")
_METHOD_AND_PATH = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\s+(?:/|\.\.\.|…)|\.\.\./|…/|/api/v1/")
# Segments of the API's paths that are not plain words ("recreate-datasets", "di-tasks"): the wire's names.
_WIRE_SEGMENTS = sorted(
    {segment for endpoint in ENDPOINTS.values() for segment in endpoint.path.split("/") if "-" in segment}
)
_WIRE_SEGMENT = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, _WIRE_SEGMENTS)) + r")(?![\w-])")


def wire_names(text: str) -> list[str]:
    """The wire names `text` uses, in order of appearance (empty when it speaks only of our tools and arguments)."""
    found = [
        (m.start(), m.group())
        for pattern in (_CAMEL_CASE, _METHOD_AND_PATH, _WIRE_SEGMENT)
        for m in pattern.finditer(text)
    ]
    return [name.strip() for _, name in sorted(found)]
