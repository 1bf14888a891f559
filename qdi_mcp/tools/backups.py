"""Automatic backups before design changes (issue 16): an import, a promotion or a bindings update first exports the
target project (mode ALL, with bindings) to ``<workdir>/backups/<project-slug>-<project_id>-<UTC time>.zip``.

The server takes the backup for every tool whose spec names the project argument in ``backup:`` (after the
confirmation, before the audit intent line and the handler); a workflow that changes a design in several steps
(``qdi_promote_project``) calls :func:`take_backup` itself. A backup that cannot be taken stops the change: the
failure says why, and nothing was sent to Qlik. A call its handler refuses before any change-making request leaves
the process keeps no backup (:func:`discard_backup`): the project is still what the backup holds, and the pruning of
older backups waits until a change was sent.

A backup is restored by :attr:`Backup.restore`, a call ready to send (it still asks for confirmation): importing
the backup puts the design back; for a tool that changes only binding values (spec ``backup_restores: bindings``,
``qdi_update_bindings``) the restore is ``qdi_update_bindings`` with the values the backup holds, because Qlik
ignores a zip's bindings.json on import and an import would restore nothing that call changed.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, field
from typing import Any

from qdi_mcp.api import QdiApiError
from qdi_mcp.failures import ToolFailure
from qdi_mcp.tools.base import ToolContext
from qdi_mcp.tools.errors import failure_from_api_error

__all__ = ["RESTORE_BINDINGS_TOOL", "RESTORE_TOOL", "Backup", "discard_backup", "prune_backups", "take_backup"]

logger = logging.getLogger("qdi_mcp.backups")

# Importing the export back restores the design (the waiting variant: the restore is over when its result comes).
# Not the binding values: Qlik ignores a zip's bindings.json on import; those are put back with RESTORE_BINDINGS_TOOL.
RESTORE_TOOL = "qdi_import_project_and_wait"
RESTORE_BINDINGS_TOOL = "qdi_update_bindings"


@dataclass(frozen=True)
class Backup:
    """One backup written: where it is, and the call that puts it back."""

    path: str  # relative to the work folder, as tools take it
    absolute_path: str
    restore: dict[str, Any] = field(hash=False)  # {"tool": ..., "arguments": {"project_id": ..., "path": ...}}

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "absolute_path": self.absolute_path, "restore": self.restore}


async def take_backup(
    ctx: ToolContext, project_id: str, *, restores: str = "design", prune: bool = True
) -> Backup | None:
    """Export ``project_id`` (mode ALL, with bindings) into the backups folder, record the file in
    ``ctx.files_written`` and prune that project's backups beyond the kept number (unless ``prune`` is False: the
    caller prunes with :func:`prune_backups` once the change was sent). None when backups are off.

    Raises ToolFailure ``backup_failed`` naming the reason when the project cannot be read or exported, or the file
    cannot be written: the caller must then change nothing.
    """
    keep = ctx.backups_kept
    if keep is None:
        return None
    try:
        project = await ctx.client.get_project(project_id)
        data = await ctx.client.export_project(project_id, mode="ALL", include_bindings=True)
    except QdiApiError as exc:
        cause = failure_from_api_error(exc, ctx.tool, {"project_id": project_id})
        raise _failed(project_id, f"Qlik's export failed: {cause.message}", cause) from None
    if not _is_zip(data):
        raise _failed(project_id, f"Qlik's export is not a zip file ({len(data)} bytes)", retryable=True)
    name = ctx.workdir.default_export_name(project.name or project_id, project_id)
    try:
        written = ctx.workdir.write_new(ctx.workdir.backup_path(name), data)
    except (OSError, ValueError) as exc:  # ValueError: WorkdirError, a name or folder the work folder refuses
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _failed(project_id, f"the file could not be written ({problem})") from None
    relative = ctx.workdir.display_path(written)
    ctx.files_written.append(relative)
    if prune:
        _prune(ctx, project_id, keep)
    restore: dict[str, Any] = {"tool": RESTORE_TOOL, "arguments": {"project_id": project_id, "path": relative}}
    if restores == "bindings":
        values = _binding_values(data)
        if values is not None:
            # remove_missing: variables the change added are dropped again (the update refuses a map without them).
            arguments = {"project_id": project_id, "variables": values, "remove_missing": True}
            restore = {"tool": RESTORE_BINDINGS_TOOL, "arguments": arguments}
    return Backup(path=relative, absolute_path=str(written), restore=restore)


def prune_backups(ctx: ToolContext, project_id: str) -> None:
    """Remove the project's backups beyond the kept number (oldest first)."""
    if ctx.backups_kept is not None:
        _prune(ctx, project_id, ctx.backups_kept)


def discard_backup(ctx: ToolContext, backup: Backup) -> None:
    """Remove a backup the call turned out not to need (it sent no change): it holds nothing the project does not
    still hold, and kept it would count toward the number kept."""
    try:
        ctx.workdir.remove_backup(backup.path.rsplit("/", 1)[-1])
    except OSError as exc:
        logger.warning("could not remove the unneeded backup %s: %s", backup.path, exc.strerror or type(exc).__name__)
        return
    if backup.path in ctx.files_written:
        ctx.files_written.remove(backup.path)


def _binding_values(data: bytes) -> dict[str, Any] | None:
    """The binding values the export holds (its bindings.json), or None when it holds none or cannot be read."""
    from qdi_mcp.tools.project_design import ProjectFileError, read_project_zip

    try:
        values = read_project_zip(data).bindings
    except ProjectFileError:
        return None
    return dict(values) if values else None


def _prune(ctx: ToolContext, project_id: str, keep: int) -> None:
    # Only this project's backups, and only after the new one is safely written: a failed backup prunes nothing.
    stale = ctx.workdir.list_backups(project_id)[:-keep]
    for name in stale:
        try:
            ctx.workdir.remove_backup(name)
        except OSError as exc:  # a backup left over is no reason to stop the change it protects
            logger.warning("could not prune the old backup %s: %s", name, exc.strerror or type(exc).__name__)
    if stale:
        logger.info("pruned %d old backups of project %s (QDI_MCP_BACKUP_KEEP=%d)", len(stale), project_id, keep)


def _is_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)):
            return True
    except zipfile.BadZipFile:
        return False


def _failed(
    project_id: str, reason: str, cause: ToolFailure | None = None, *, retryable: bool | None = None
) -> ToolFailure:
    return ToolFailure(
        "backup_failed",
        f"The backup of project {project_id} before this change failed: {reason}. Nothing was changed.",
        hint="retry; backups can be turned off by a person (QDI_MCP_BACKUP=off), never by the call",
        http_status=cause.http_status if cause else None,
        trace_id=cause.trace_id if cause else None,
        retryable=retryable if retryable is not None else (cause.retryable if cause else False),
    )
