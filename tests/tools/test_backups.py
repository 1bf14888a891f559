"""take_backup on its own (the server-level behaviour is in tests/server/test_server_backups.py): the file, its name,
the restore call, pruning per project, and the failures that must stop a change."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from qdi_testkit import CUSTOMER_360, ORDERS, TENANT_URL

from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.failures import ToolFailure
from qdi_mcp.guard.workdir import Workdir
from qdi_mcp.specs import get_spec
from qdi_mcp.tools.backups import RESTORE_TOOL, take_backup
from qdi_mcp.tools.base import ToolContext

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def context(tmp_path: Path, *, keep: int | None = 20) -> AsyncIterator[tuple[ToolContext, Emulator]]:
    emulator = Emulator(clock=ManualClock())
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport())
    async with client:
        ctx = ToolContext(
            tool=get_spec("qdi_import_project"), client=client, workdir=Workdir(tmp_path / "work"), backups_kept=keep
        )
        yield ctx, emulator


async def test_a_backup_is_a_full_export_with_bindings_in_the_backups_folder(tmp_path: Path) -> None:
    async with context(tmp_path) as (ctx, emulator):
        project_id = emulator.project_id(CUSTOMER_360)
        backup = await take_backup(ctx, project_id)
    assert backup is not None
    assert backup.path.startswith("backups/customer-360-") and backup.path.endswith("Z.zip")
    assert project_id.lower() in backup.path
    assert Path(backup.absolute_path) == tmp_path / "work" / backup.path
    with zipfile.ZipFile(backup.absolute_path) as archive:
        assert any("binding" in name for name in archive.namelist()), archive.namelist()
    assert backup.restore == {"tool": RESTORE_TOOL, "arguments": {"project_id": project_id, "path": backup.path}}
    assert backup.to_dict() == {"path": backup.path, "absolute_path": backup.absolute_path, "restore": backup.restore}
    assert ctx.files_written == [backup.path]
    assert emulator.requests["export_project"] == 1


async def test_backups_off_take_nothing(tmp_path: Path) -> None:
    async with context(tmp_path, keep=None) as (ctx, emulator):
        assert await take_backup(ctx, emulator.project_id(CUSTOMER_360)) is None
        assert emulator.requests["export_project"] == 0
    assert not (tmp_path / "work").exists()


async def test_two_backups_in_one_second_never_overwrite_each_other(tmp_path: Path) -> None:
    async with context(tmp_path) as (ctx, emulator):
        project_id = emulator.project_id(CUSTOMER_360)
        first = await take_backup(ctx, project_id)
        second = await take_backup(ctx, project_id)
    assert first is not None and second is not None and first.path != second.path
    assert sorted(ctx.workdir.list_backups(project_id)) == sorted(Path(b.path).name for b in (first, second))


async def test_pruning_keeps_the_newest_backups_of_that_project_only(tmp_path: Path) -> None:
    backups = tmp_path / "work" / "backups"
    backups.mkdir(parents=True)
    async with context(tmp_path, keep=2) as (ctx, emulator):
        project_id, other_id = emulator.project_id(CUSTOMER_360), emulator.project_id(ORDERS)
        old = [
            ctx.workdir.default_export_name("Customer 360", project_id, datetime(2024, 1, day, tzinfo=UTC))
            for day in (1, 2, 3)
        ]
        other = ctx.workdir.default_export_name("Orders", other_id, datetime(2024, 1, 1, tzinfo=UTC))
        for name in [*old, other]:
            (backups / name).write_bytes(b"old")
        backup = await take_backup(ctx, project_id)
    assert backup is not None
    assert sorted(p.name for p in backups.iterdir()) == sorted([old[2], Path(backup.path).name, other])


async def test_a_failed_export_raises_backup_failed_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    async with context(tmp_path) as (ctx, emulator):
        emulator.faults.inject("export_project", "status", status=403)
        with pytest.raises(ToolFailure) as caught:
            await take_backup(ctx, emulator.project_id(CUSTOMER_360))
    assert caught.value.code == "backup_failed"
    assert "export" in caught.value.message and "Nothing was changed" in caught.value.message
    assert caught.value.http_status == 403
    assert not (tmp_path / "work" / "backups").exists() or not any((tmp_path / "work" / "backups").iterdir())


async def test_an_unwritable_backups_folder_raises_backup_failed(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "backups").write_text("a file where the folder should be")
    async with context(tmp_path) as (ctx, emulator):
        with pytest.raises(ToolFailure) as caught:
            await take_backup(ctx, emulator.project_id(CUSTOMER_360))
    assert caught.value.code == "backup_failed" and "could not be written" in caught.value.message


async def test_a_backups_folder_that_is_a_link_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "backups").symlink_to(elsewhere, target_is_directory=True)
    async with context(tmp_path, keep=1) as (ctx, emulator):
        with pytest.raises(ToolFailure) as caught:
            await take_backup(ctx, emulator.project_id(CUSTOMER_360))
        assert ctx.workdir.list_backups(emulator.project_id(CUSTOMER_360)) == []
    assert caught.value.code == "backup_failed" and "symbolic link" in caught.value.message
    assert not any(elsewhere.iterdir())  # noqa: ASYNC240
