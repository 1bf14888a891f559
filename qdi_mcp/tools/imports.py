"""What the import tools share: which endpoint a zip goes to (by its content), Qlik's definition check of a zip, and
the preview check that runs it before an import is confirmed.

Today's reference (qlik.dev di-projects, stored doc 68598814407): the sync `actions/import` "only accepts zips
that contain JSON project files (the legacy format)" and answers 400 to a YAML zip; `actions/import-async`
"Accepts both JSON-based (legacy) and YAML-based project formats". A YAML project is recognised by its root file
`qtcp_project.yaml` ("the root file for the project and is always present", qlik.dev project-structure
reference); a legacy project by holding only JSON files. Anything else is refused before it is uploaded.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from qdi_mcp.failures import ToolFailure
from qdi_mcp.tenant_text import tenant
from qdi_mcp.tools.base import ToolContext, dump, preview_check

PROJECT_FILE = "qtcp_project.yaml"
# qlik.dev validate-configuration troubleshooting: the zip must "not exceed the 10 MB size limit"
MAX_DEFINITIONS_ZIP_BYTES = 10 * 1024 * 1024
SHOWN_REPORTS = 3


@dataclass(frozen=True)
class ImportRoute:
    format: str  # "yaml" | "legacy_json"
    operation: str  # the API client operation that takes it
    endpoint: str  # how results name it: "import-async" | "import"


YAML = ImportRoute("yaml", "import_project_async", "import-async")
LEGACY_JSON = ImportRoute("legacy_json", "import_project", "import")


def import_route(data: bytes, *, argument: str = "path") -> ImportRoute:
    """The endpoint a project zip goes to, or an argument error saying what the zip holds instead."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # already checked by the work folder: a safe zip
        names = [name for name in archive.namelist() if not name.endswith("/")]
    if PROJECT_FILE in names:
        return YAML
    if names and all(name.lower().endswith(".json") for name in names):
        return LEGACY_JSON
    nested = next((name for name in names if name.endswith("/" + PROJECT_FILE)), None)
    hint = (
        f"the project is inside the folder {tenant(repr(nested.rsplit('/', 1)[0]))}: zip that folder's contents, "
        "not the folder"
        if nested
        else "pass a project export: qdi_export_project writes one (mode MINIMAL or ALL for YAML, LEGACY for JSON)"
    )
    raise ToolFailure(
        "invalid_arguments",
        f"The zip is neither a YAML project (no {PROJECT_FILE} at its root) nor a legacy JSON project (not only "
        f".json files); it holds {_what_is_inside(names)}. Nothing was uploaded.",
        hint=hint,
        field=argument,
    )


def _what_is_inside(names: list[str]) -> str:
    if not names:
        return "no files"
    kinds = Counter(PurePosixPath(name).suffix.lower() or "(no extension)" for name in names)
    counted = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common(4))
    return f"{len(names)} files ({counted}), e.g. {', '.join(tenant(repr(name)) for name in names[:3])}"


async def definition_reports(ctx: ToolContext, path: str, *, argument: str = "path") -> dict[str, Any]:
    """Qlik's validate-project-definitions on a zip of the work folder, as a tool result's structured content."""
    data = ctx.read_import(path, argument=argument)
    if len(data) > MAX_DEFINITIONS_ZIP_BYTES:
        raise ToolFailure(
            "invalid_arguments",
            f"The zip is {len(data)} bytes; Qlik checks project files of at most 10 MB. Nothing was uploaded.",
            hint="remove files the project does not need, or import without the check",
            field=argument,
        )
    return {"path": path, **await checked_definitions(ctx, data, filename=_name(path))}


async def checked_definitions(ctx: ToolContext, data: bytes, *, filename: str) -> dict[str, Any]:
    """Qlik's validate-project-definitions on zip bytes (a file of the work folder, or an export in memory)."""
    reports = [dump(report) for report in await ctx.client.validate_project_definitions(data, filename=filename)]
    levels = Counter(report.get("level") for report in reports)
    return {
        "valid": levels["ERROR"] == 0,
        "error_count": levels["ERROR"],
        "warning_count": levels["WARNING"],
        "reports": reports,
    }


def counts_text(checked: dict[str, Any]) -> str:
    return f"{checked['error_count']} errors, {checked['warning_count']} warnings"


@preview_check("project_files")
async def check_project_files(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Before an import is confirmed: the zip must be a project Qlik can take, and its definitions must pass Qlik's
    check; a file with ERROR reports is refused here, so nobody confirms an import that cannot succeed."""
    route = import_route(ctx.read_import(args["path"]))
    checked = await definition_reports(ctx, args["path"])
    first = [report for report in checked["reports"] if report.get("level") == "ERROR"][:SHOWN_REPORTS]
    if not checked["valid"]:
        raise ToolFailure(
            "invalid_arguments",
            f"Qlik's check of the project files found {counts_text(checked)}; nothing was imported. First errors "
            f"(path: reason): {'; '.join(_quoted(report) for report in first)}.",
            hint="fix the files (qdi_validate_project_files lists every finding), then import again",
            field="path",
        )
    return {
        "endpoint": route.endpoint,
        "format": route.format,
        "definitions": counts_text(checked),
        "first_warnings": checked["reports"][:SHOWN_REPORTS],
    }


def _quoted(report: dict[str, Any]) -> str:
    # Qlik's findings echo the file's own paths and values: fenced, never part of the server's own wording
    return tenant(f"{report.get('path')!r}: {report.get('reason')!r}")


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]
