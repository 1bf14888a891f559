"""Single use of a confirmation token among processes: with a shared QDI_MCP_SECRET every `qdi-mcp call` (and
every replica on the host) can verify another's token, so uses are recorded in the work folder where they all
look. Two stores on one folder stand for two processes; the last test uses two real `qdi-mcp call` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qdi_mcp.guard.tokens import ConfirmationError, ConfirmationTokens
from qdi_mcp.guard.used_tokens import FileUsedTokenStore, UsedTokenStoreError

SECRET = "s" * 40
ORDERS_ID = "6650f0c1a2b3c4d5e6f70003"
REPLICATION_TASK_ID = "orders_replication-jeqy"


def test_a_token_id_is_claimed_once_among_stores_sharing_a_folder(tmp_path: Path) -> None:
    first, second = FileUsedTokenStore(tmp_path / "used"), FileUsedTokenStore(tmp_path / "used")
    assert first.claim("token-id-0001", expires_at=9e9) is True
    assert second.claim("token-id-0001", expires_at=9e9) is False
    assert first.claim("token-id-0001", expires_at=9e9) is False
    assert second.claim("token-id-0002", expires_at=9e9) is True


def test_expired_uses_are_pruned_and_live_ones_kept(tmp_path: Path) -> None:
    now = [1000.0]
    store = FileUsedTokenStore(tmp_path / "used", clock=lambda: now[0])
    store.claim("expires-soon", expires_at=1010.0)
    store.claim("expires-late", expires_at=5000.0)
    now[0] = 1010.0 + 3600.0 + 1  # an hour after the first token's expiry: its use may be forgotten
    store.claim("another-one", expires_at=9000.0)
    assert sorted(p.name for p in (tmp_path / "used").iterdir()) == ["5000-expires-late", "9000-another-one"]


def test_pruning_reaches_every_forgotten_use_however_many_piled_up(tmp_path: Path) -> None:
    now = [1000.0]
    store = FileUsedTokenStore(tmp_path / "used", clock=lambda: now[0])
    for number in range(1500):
        assert store.claim(f"old-token-{number:05d}", expires_at=1100.0)
    now[0] = 1100.0 + 3600.0 + 61  # past the margin, and past the once-a-minute pace of pruning
    store.claim("new-token-id", expires_at=now[0] + 300)
    assert [p.name for p in (tmp_path / "used").iterdir()] == [f"{int(now[0] + 300)}-new-token-id"]


def test_a_use_is_remembered_past_its_token_s_expiry(tmp_path: Path) -> None:
    # A verifier that read its clock just before the expiry (or on a lagging host) claims after it: the first
    # use must still be there, or the replay would pass.
    now = [1000.0]
    first = FileUsedTokenStore(tmp_path / "used", clock=lambda: now[0])
    second = FileUsedTokenStore(tmp_path / "used", clock=lambda: now[0])
    assert first.claim("token-id-0009", expires_at=1300.0)
    now[0] = 1300.0 + 60
    assert second.claim("token-id-0009", expires_at=1300.0) is False


def test_a_use_file_that_cannot_be_removed_does_not_cost_a_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    store = FileUsedTokenStore(tmp_path / "used", clock=lambda: now[0])
    store.claim("old-token-id", expires_at=1001.0)
    now[0] = 9000.0

    def locked(path: object) -> None:
        raise PermissionError(13, "in use by another process")

    monkeypatch.setattr("qdi_mcp.guard.used_tokens.os.unlink", locked)
    assert store.claim("fresh-token-id", expires_at=9300.0) is True


def test_a_file_where_the_folder_should_be_is_reported_not_taken_for_a_used_token(tmp_path: Path) -> None:
    (tmp_path / "used").write_text("not a folder", encoding="utf-8")
    with pytest.raises(UsedTokenStoreError, match="cannot record a used confirmation .*a file is in the way"):
        FileUsedTokenStore(tmp_path / "used").claim("token-id-0004", expires_at=9e9)


@pytest.mark.parametrize("token_id", ["../escape-attempt", "a/b/c/d/e/f", "", "short"])
def test_an_id_that_is_not_a_plain_name_is_never_claimed(tmp_path: Path, token_id: str) -> None:
    store = FileUsedTokenStore(tmp_path / "used")
    assert store.claim(token_id, expires_at=9e9) is False
    assert not (tmp_path / "escape-attempt").exists()


def test_a_folder_that_cannot_be_written_refuses_the_confirmation_and_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    tokens = ConfirmationTokens(SECRET.encode(), store=FileUsedTokenStore(blocker / "used"))
    issued = tokens.issue("qdi_stop_task", {"task_id": "t"})
    with pytest.raises(ConfirmationError) as refused:
        tokens.verify("qdi_stop_task", {"task_id": "t"}, issued.token)
    assert refused.value.reason == "unrecorded"
    assert str(blocker / "used") in str(refused.value) and "nothing was done" in str(refused.value)
    with pytest.raises(UsedTokenStoreError):
        FileUsedTokenStore(blocker / "used").claim("token-id-0003", expires_at=9e9)


def _call(tmp_path: Path, tool: str, arguments: dict[str, str]) -> tuple[int, dict]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "QDI_MCP_SECRET": SECRET,
        "QDI_MCP_WORKDIR": str(tmp_path / "work"),
        "QDI_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    if os.environ.get("QDI_MCP_CACHE_DIR"):
        env["QDI_MCP_CACHE_DIR"] = os.environ["QDI_MCP_CACHE_DIR"]
    done = subprocess.run(  # noqa: S603 - this interpreter and our own module
        [sys.executable, "-m", "qdi_mcp", "call", tool, "--demo", "--args", json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_a_token_replayed_in_a_second_call_process_is_refused(tmp_path: Path) -> None:
    arguments = {"project_id": ORDERS_ID, "task_id": REPLICATION_TASK_ID}
    code, asked = _call(tmp_path, "qdi_stop_task", arguments)
    assert code == 3 and asked["status"] == "confirmation_required"
    confirmed = arguments | {"confirmation_token": asked["confirmation_token"]}
    first_code, first = _call(tmp_path, "qdi_stop_task", confirmed)
    second_code, second = _call(tmp_path, "qdi_stop_task", confirmed)
    assert first_code == 0 and first["status"] == "stop_requested"
    assert second_code == 1 and second["error"]["code"] == "confirmation_invalid"
    assert "already used" in second["error"]["message"]
    outcomes = [json.loads(line)["outcome"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert outcomes == ["confirmation_required", "started", "executed", "refused"]
