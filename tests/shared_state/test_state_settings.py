"""`QDI_MCP_STATE_URL`: refused at start with the reason when it can never work, the password never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis_server import PASSWORD, RedisServer, free_port

from qdi_mcp.cli.backend import check_backend
from qdi_mcp.guard.used_tokens import FileUsedTokenStore, RedisUsedTokenStore, used_token_store
from qdi_mcp.settings import Settings, SettingsError
from qdi_mcp.settings.state_url import parse_state_url

SECRET = "s" * 40


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {"QDI_MCP_WORKDIR": str(tmp_path), "QDI_MCP_SECRET": SECRET}
    base.update(env)
    return Settings.from_env({k: v for k, v in base.items() if v is not None}, flags={"demo": True})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:6379/0", "must start with redis:// or rediss://"),
        ("memcached://:hunter2@cache:11211", "not memcached://"),
        ("redis://:hunter2@127.0.0.1:notaport/0", "port or host is malformed"),
        ("redis://:hunter2@/0", "names no host"),
        ("redis://:hunter2@127.0.0.1:6379/zero", "must be a database number"),
        ("redis://:hunter2@127.0.0.1:6379/0?password=x", "takes no query"),
        ("redis://:hunt er2@127.0.0.1:6379/0", "whitespace"),
    ],
)
def test_a_malformed_state_url_is_refused_naming_the_problem_never_the_password(
    tmp_path: Path, url: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        settings(tmp_path, QDI_MCP_STATE_URL=url)
    assert expected in str(refused.value)
    assert "QDI_MCP_STATE_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value) and "hunt er2" not in str(refused.value)


def test_a_state_url_needs_the_shared_signing_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="QDI_MCP_STATE_URL needs QDI_MCP_SECRET"):
        Settings.from_env({"QDI_MCP_WORKDIR": str(tmp_path), "QDI_MCP_STATE_URL": "redis://127.0.0.1:6379/0"})


def test_the_password_is_a_secret_wherever_it_was_given(tmp_path: Path) -> None:
    in_url = settings(tmp_path, QDI_MCP_STATE_URL="redis://:pw-in-url-123@db.internal:6380/2")
    assert "pw-in-url-123" in in_url.secrets()
    assert "pw-in-url-123" not in repr(in_url)
    assert in_url.shared_state is not None and in_url.shared_state.shown == "redis://:***@db.internal:6380/2"
    separate = settings(tmp_path, QDI_MCP_STATE_URL="rediss://db.internal/1", QDI_MCP_STATE_PASSWORD="pw-var-456")
    assert "pw-var-456" in separate.secrets()
    assert separate.shared_state is not None and separate.shared_state.password == "pw-var-456"
    assert separate.shared_state.scheme == "rediss" and separate.shared_state.port == 6379


def test_the_store_of_used_tokens_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(used_token_store(settings(tmp_path)), FileUsedTokenStore)
    shared = used_token_store(settings(tmp_path, QDI_MCP_STATE_URL="redis://127.0.0.1:1/0"))
    assert isinstance(shared, RedisUsedTokenStore)
    assert used_token_store(Settings.from_env({"QDI_MCP_WORKDIR": str(tmp_path)})) is None


def test_a_wrong_password_is_refused_at_start_without_printing_it(tmp_path: Path, fresh_redis: RedisServer) -> None:
    wrong = settings(tmp_path, QDI_MCP_STATE_URL=f"redis://:not-the-{PASSWORD}@127.0.0.1:{fresh_redis.port}/0")
    with pytest.raises(SettingsError) as refused:
        check_backend(wrong)
    assert "password was refused" in str(refused.value) and "QDI_MCP_STATE_URL" in str(refused.value)
    assert PASSWORD not in str(refused.value)
    missing = settings(tmp_path, QDI_MCP_STATE_URL=f"redis://127.0.0.1:{fresh_redis.port}/0")
    with pytest.raises(SettingsError, match="asks for a password: set QDI_MCP_STATE_PASSWORD"):
        check_backend(missing)


def test_the_right_password_from_the_variable_starts(tmp_path: Path, fresh_redis: RedisServer) -> None:
    ok = settings(
        tmp_path, QDI_MCP_STATE_URL=f"redis://127.0.0.1:{fresh_redis.port}/0", QDI_MCP_STATE_PASSWORD=PASSWORD
    )
    check_backend(ok)  # raises on any problem


def test_an_unreachable_state_is_a_warning_not_a_refusal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    down = settings(tmp_path, QDI_MCP_STATE_URL=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="qdi_mcp"):
        check_backend(down)
    assert "cannot be reached now" in caplog.text and "confirmations are refused" in caplog.text
    assert PASSWORD not in caplog.text


def test_parse_keeps_user_and_database() -> None:
    url = parse_state_url("redis://svc:p%40ss@[::1]:7000/3")
    assert (url.username, url.password, url.host, url.port, url.db) == ("svc", "p@ss", "::1", 7000, 3)
    assert url.shown == "redis://svc:***@[::1]:7000/3" and "p@ss" not in repr(url)
