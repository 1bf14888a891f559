"""Routes that take a project zip: the sync import (legacy JSON only), import-async, validate-project-definitions.

Today's reference (qlik.dev di-projects, stored doc 68598814407) split the import in two: the sync endpoint
"only accepts zips that contain JSON project files (the legacy format)" and answers 400 to a YAML zip, while
import-async "Accepts both JSON-based (legacy) and YAML-based project formats". All three take the zip as the
multipart field `zip`.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import imports, projects
from .definition_checks import check_definitions
from .errors import bad_request
from .inputs import emulator_of
from .project_files import ProjectDefinition, ProjectZipError, project_zip_format, read_project_zip

# The reference's own words for the sync endpoint's 400 to a YAML zip.
YAML_TO_SYNC_IMPORT = (
    "This endpoint only accepts zips that contain JSON project files (the legacy format). Submitting a YAML-based "
    "zip to this endpoint returns 400. To import a YAML-based zip, use "
    "POST /di-projects/{projectId}/actions/import-async instead."
)


async def import_project(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    project = tenant.project(request.path_params["projectId"])
    data = await uploaded_zip(request)
    if _format(data) == "YAML":
        raise bad_request(YAML_TO_SYNC_IMPORT, parameter="zip")
    definition = _definition(data)
    imports.check_not_busy(project)
    projects.check_importable(tenant, project, definition)
    projects.import_definition(project, definition)
    return JSONResponse({})


async def import_project_async(request: Request) -> Response:
    tenant = emulator_of(request).tenant
    project = tenant.project(request.path_params["projectId"])
    definition = _definition(await uploaded_zip(request))
    imports.check_not_busy(project)
    projects.check_importable(tenant, project, definition)
    action = imports.start_import(tenant, project, definition)
    return JSONResponse({"actionId": action.id}, status_code=202)


async def validate_project_definitions(request: Request) -> Response:
    return JSONResponse({"reports": check_definitions(await uploaded_zip(request))})


async def uploaded_zip(request: Request) -> bytes:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise bad_request("The body must be multipart/form-data with the zip in field 'zip'.", parameter="zip")
    async with request.form() as form:
        upload = form.get("zip")
        if upload is None:
            raise bad_request("The multipart body has no 'zip' field holding the project zip.", parameter="zip")
        if not isinstance(upload, UploadFile):
            raise bad_request("Field 'zip' must be a file (the project zip), not a text value.", parameter="zip")
        return await upload.read()


def _format(data: bytes) -> str:
    try:
        return project_zip_format(data)
    except ProjectZipError as exc:
        raise bad_request(f"The project zip is not valid: {exc.file}: {exc.detail}", parameter="zip") from None


def _definition(data: bytes) -> ProjectDefinition:
    try:
        return read_project_zip(data)
    except ProjectZipError as exc:
        raise bad_request(f"The project zip is not valid: {exc.file}: {exc.detail}", parameter="zip") from None
