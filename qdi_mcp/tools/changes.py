"""What a design change would do, before it is done: `diff_against` (a project now against a zip or another
project; `compare` keeps what it read), the read tool `qdi_diff_project` built on it, the import preview's check
`import_changes` and the `changes` of an import result. One comparison for all of them, so a preview, a result and
the diff tool never disagree.

Everything is exported in memory; a diff writes no file.

Like with like: Qlik's ALL export spells out default values that MINIMAL leaves out (the engine compares files as
they are, see tests/tools/test_project_diff.py), so the target is exported in the zip's own mode. A LEGACY zip is
compared with a LEGACY export. A YAML zip does not say whether it was exported MINIMAL or ALL: the target is
exported MINIMAL (the default of qdi_export_project) and, only when task settings then differ, ALL too; the
comparison with fewer field differences is kept, since the other one differs by the defaults that its mode
writes. Two projects are both exported MINIMAL.

Bindings: the target's current values (get_bindings) against the source project's current values, or against the
values a zip carries (bindings.json, present when it was exported with include_bindings); a zip without them
leaves bindings "not compared" in the diff. Qlik's import ignores bindings.json (the target keeps its values, see
emulator/projects.py), so what an import does to the target's variables is told apart: `Comparison.binding_impact`
(dropped, needing a value, kept), shown in the import's preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qdi_mcp.failures import ToolFailure
from qdi_mcp.tools.base import ToolContext, ToolResult, handler, preview_check
from qdi_mcp.tools.imports import check_project_files
from qdi_mcp.tools.project_design import ProjectDesign, ProjectFileError, read_project_zip
from qdi_mcp.tools.project_diff import MAX_NAMES, BindingImpact, ProjectDiff, binding_impact, diff_designs


def check_one_source(project_id: str, path: str | None, source_project_id: str | None) -> None:
    """Exactly one of path / source_project_id, and never the project itself: refused before any request."""
    if (path is None) == (source_project_id is None):
        given = "both" if path is not None else "neither"
        raise ToolFailure(
            "invalid_arguments",
            f"Pass exactly one of path (a zip in the work folder) or source_project_id (another project); "
            f"{given} was given. Nothing was read.",
            hint="path compares with an export file; source_project_id compares with a live project",
            field="path",
        )
    if source_project_id is not None and source_project_id == project_id:
        raise ToolFailure(
            "invalid_arguments",
            "source_project_id is project_id itself: a project compared with itself has no differences. "
            "Nothing was read.",
            hint="pass the id of another project, or a zip as path",
            field="source_project_id",
        )


@dataclass(frozen=True)
class Comparison:
    """A diff with what it was computed from, for callers that also need the import's binding impact."""

    diff: ProjectDiff
    current: ProjectDesign  # the target's design now (the export the diff kept)
    incoming: ProjectDesign
    target_bindings: dict[str, Any]  # the target's values now

    def binding_impact(self) -> BindingImpact:
        """What an import of `incoming` does to the target's variables: dropped, needing a value, kept."""
        return binding_impact(self.target_bindings, self.incoming.variables())


async def diff_against(
    ctx: ToolContext,
    project_id: str,
    *,
    path: str | None = None,
    source_project_id: str | None = None,
    detail: bool = False,
) -> ProjectDiff:
    """The target project's design and bindings now (current) against a zip of the work folder or another project
    (incoming): what replacing the target by the incoming design would change."""
    comparison = await compare(ctx, project_id, path=path, source_project_id=source_project_id, detail=detail)
    return comparison.diff


async def compare(
    ctx: ToolContext,
    project_id: str,
    *,
    path: str | None = None,
    source_project_id: str | None = None,
    detail: bool = False,
) -> Comparison:
    """`diff_against`, keeping the incoming design and the target's bindings it read."""
    check_one_source(project_id, path, source_project_id)
    if path is not None:
        incoming = _read_zip(ctx.read_import(path), "path", f"the zip {path!r}")
        incoming_bindings = incoming.bindings
        modes: tuple[str, ...] = ("LEGACY",) if incoming.format == "LEGACY" else ("MINIMAL", "ALL")
    else:
        assert source_project_id is not None  # check_one_source: exactly one is given
        incoming = await _export(ctx, source_project_id, "MINIMAL")
        incoming_bindings = await _bindings(ctx, source_project_id)
        modes = ("MINIMAL",)
    current_bindings = await _bindings(ctx, project_id)
    best: tuple[ProjectDiff, ProjectDesign] | None = None
    for mode in modes:
        current = await _export(ctx, project_id, mode)
        candidate = diff_designs(
            current, incoming, current_bindings=current_bindings, incoming_bindings=incoming_bindings, detail=detail
        )
        if best is None or _field_differences(candidate) < _field_differences(best[0]):
            best = (candidate, current)
        # Only task settings carry mode-written defaults: without a settings change another mode cannot do better.
        if not any("settings" in change.changed for change in best[0].tasks_changed):
            break
    assert best is not None  # modes is never empty
    return Comparison(best[0], best[1], incoming, current_bindings)


@preview_check("import_changes")
async def check_import_changes(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """Before an import is confirmed: Qlik's check of the file (which refuses a file with errors, before anything
    else is read), then what the import changes (the target now vs the file) and what it does to the target's
    binding variables: the ones it drops (their values are lost) and the new ones that need a value."""
    checked = await check_project_files(ctx, args)
    comparison = await compare(ctx, args["project_id"], path=args["path"])
    changes = comparison.diff.to_dict()
    # A variable the diff lists as added is one that needs a value: the impact lists only the others.
    # Only the names the diff shows: those past its cap are listed by neither otherwise.
    added = comparison.diff.bindings.added[:MAX_NAMES] if comparison.diff.bindings is not None else []
    return {
        **checked,
        "changes": changes,
        "binding_impact": comparison.binding_impact().to_dict(
            listed_elsewhere=added, listed_as="changes.bindings.added"
        ),
    }


async def import_changes(ctx: ToolContext, project_id: str, path: str) -> dict[str, Any]:
    """An import result's `changes`, taken just before the upload: the target as it was against the file. Counts
    only: the preview (or qdi_diff_project) named every task and variable."""
    return (await diff_against(ctx, project_id, path=path)).brief()


def _field_differences(diff: ProjectDiff) -> int:
    return len(diff.project_details) + sum(len(change.details) for change in diff.tasks_changed)


async def _export(ctx: ToolContext, project_id: str, mode: str) -> ProjectDesign:
    data = await ctx.client.export_project(project_id, mode=mode, include_bindings=False)
    try:
        return read_project_zip(data)
    except ProjectFileError as error:
        raise ToolFailure(
            "bad_response",
            f"Qlik's {mode} export of project {project_id} cannot be read ({error.file}: {error.detail}); "
            "nothing was compared.",
            hint="retry; if it persists, export it with qdi_export_project and report the file",
            retryable=True,
        ) from None


async def _bindings(ctx: ToolContext, project_id: str) -> dict[str, Any]:
    return dict((await ctx.client.get_bindings(project_id)).variables or {})


def _read_zip(data: bytes, argument: str, what: str) -> ProjectDesign:
    try:
        return read_project_zip(data)
    except ProjectFileError as error:
        raise ToolFailure(
            "invalid_arguments",
            f"{what} is not a project export that can be compared ({error.file}: {error.detail}). Nothing was read "
            "from Qlik.",
            hint="pass a zip written by qdi_export_project",
            field=argument,
        ) from None


@handler("qdi_diff_project")
async def diff_project(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    project_id = args["project_id"]
    path, source_project_id = args.get("path"), args.get("source_project_id")
    diff = await diff_against(
        ctx, project_id, path=path, source_project_id=source_project_id, detail=bool(args.get("detail", False))
    )
    against = f"the zip {path}" if path is not None else f"project {source_project_id}"
    return ToolResult(
        {"project_id": project_id, "path": path, "source_project_id": source_project_id, **diff.to_dict()},
        f"Project {project_id} now vs {against}: {diff.summary}.",
    )
