"""The tests' data: the copies inside the repository (see tests/data/README.md), and zips built on the spot."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
FIXTURE_ZIP = DATA / "qlik-export-customer-churn.zip"
API_REFERENCE = DATA / "qlik-di-projects-api.md"


def build_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """A zip of `entries` (a name, or a ZipInfo for odd entries such as links, and the content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()
