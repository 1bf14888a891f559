"""Where the tests' data files are: copies inside the repository (see tests/data/README.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
FIXTURE_ZIP = DATA / "qlik-export-customer-churn.zip"
API_REFERENCE = DATA / "qlik-di-projects-api.md"
