"""The tests' data: the copies inside the repository (see tests/data/README.md), what the API reference lists,
and zips built on the spot."""

from __future__ import annotations

import functools
import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
FIXTURE_ZIP = DATA / "qlik-export-customer-churn.zip"
API_REFERENCE = DATA / "qlik-di-projects-api.md"

# The reference's names of the rate tiers -> the API client's (`qdi_mcp.api.RateTier` values).
_REFERENCE_TIERS = {"Tier 1": "tier1", "Tier 2": "tier2", "Special": "runtime_state"}
_METHOD = r"(GET|POST|PUT|PATCH|DELETE)"
DI_PROJECTS_PREFIX = "/api/v1/di-projects"
# Endpoints the client uses outside the di-projects API, so not in its reference copy: (method, path, tier).
# Paths from qlik-oss/qlik-api-ts typings (the spaces.d.ts region of stored doc 38773419195: `getSpaces`,
# GET /api/v1/spaces; data-connections.d.ts @ 35d6345f, stored doc 56222317199: `getDataConnections`,
# GET /api/v1/data-connections), tiers from qlik.dev's references (Tier 1 both: stored docs 68603611382 and
# 68823515261).
OTHER_QLIK_ENDPOINTS: list[tuple[str, str, str]] = [
    ("GET", "/api/v1/spaces", "tier1"),
    ("GET", "/api/v1/data-connections", "tier1"),
]


def api_reference_endpoints(text: str | None = None) -> list[tuple[str, str, str]]:
    """(method, path, rate tier) of each endpoint of the API reference, in its table-of-contents order.

    The tests' one reader of the reference: the table of contents gives the endpoints, each one's own
    ``### METHOD path`` section its rate tier; an endpoint missing from either is an error, not a skip.
    """
    text = API_REFERENCE.read_text(encoding="utf-8") if text is None else text
    listed = re.findall(rf"^\| `{_METHOD}` \| \[`([^`]+)`\]", text, flags=re.MULTILINE)
    tiers: dict[tuple[str, str], str] = {}
    # Split at every "### " heading so a section without a rate limit cannot borrow the next one's.
    for section in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        heading = re.match(rf"{_METHOD} (\S+)\n", section)
        if heading is None:
            continue
        tier = re.search(r"\*\*Rate Limit:\*\* (Tier 1|Tier 2|Special)", section)
        if tier is None:
            raise ValueError(f"no Rate Limit line in the section of {heading[1]} {heading[2]}")
        tiers[(heading[1], heading[2])] = _REFERENCE_TIERS[tier[1]]
    if set(listed) != set(tiers) or len(listed) != len(tiers):
        raise ValueError(f"contents and sections disagree: {sorted(set(listed) ^ set(tiers))}")
    return [(method, path, tiers[(method, path)]) for method, path in listed]


@functools.cache
def lying_zip_bomb(declared: int = 1000, real: int = 150 * 1024 * 1024) -> bytes:
    """The red team's bomb: a project zip whose `bomb.yaml` declares `declared` bytes (central directory and local
    header) with the CRC of its first `declared` bytes, and inflates to `real` bytes. Python's zip module reads it
    "fine": it stops at the declared size and the checksum matches."""
    content = b"\0" * real
    data = bytearray(build_zip([("qtcp_project.yaml", b"name: x\n"), ("bomb.yaml", content)]))
    crc = zlib.crc32(content[:declared])
    for signature, crc_at, size_at in ((b"PK\x03\x04", 14, 22), (b"PK\x01\x02", 16, 24)):
        offset = data.find(signature)
        while offset >= 0:
            name_at = offset + (26 if signature == b"PK\x03\x04" else 28)
            name_length = int.from_bytes(data[name_at : name_at + 2], "little")
            name_start = offset + (30 if signature == b"PK\x03\x04" else 46)
            if bytes(data[name_start : name_start + name_length]) == b"bomb.yaml":
                struct.pack_into("<I", data, offset + crc_at, crc)
                struct.pack_into("<I", data, offset + size_at, declared)
            offset = data.find(signature, offset + 4)
    return bytes(data)


def build_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """A zip of `entries` (a name, or a ZipInfo for odd entries such as links, and the content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()
