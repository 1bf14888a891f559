"""Configuration problems are caught at start-up with one line naming the variable, never mid-call."""

from __future__ import annotations

from pathlib import Path

import pytest

from qdi_mcp.settings import LOG_LEVELS, Settings, SettingsError, check_tool_names, check_workdir


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"QDI_MCP_SECRET": "short"}, "QDI_MCP_SECRET is too short"),
        ({"QDI_MCP_SECRET": "hex:zz"}, "hexadecimal"),
        ({"QDI_MCP_CONFIRM_TTL": "inf"}, "QDI_MCP_CONFIRM_TTL"),
        ({"QDI_MCP_CONFIRM_TTL": "nan"}, "QDI_MCP_CONFIRM_TTL"),
        ({"QDI_MCP_CONFIRM_TTL": "0"}, "QDI_MCP_CONFIRM_TTL"),
        ({"QDI_MCP_CONFIRM": "sometimes"}, "QDI_MCP_CONFIRM"),
        ({"QDI_MCP_TOOLSETS": "runtime,bogus"}, "bogus"),
        ({"QDI_MCP_READ_ONLY": "perhaps"}, "QDI_MCP_READ_ONLY"),
        ({"QDI_EMULATOR_SPEED": "inf"}, "QDI_EMULATOR_SPEED"),
        ({"QDI_EMULATOR_SPEED": "-1"}, "QDI_EMULATOR_SPEED"),
        ({"QDI_MCP_LOG_LEVEL": "LOUD"}, "QDI_MCP_LOG_LEVEL must be one of DEBUG, INFO, WARNING, WARN, ERROR, CRITICAL"),
        ({"QLIK_API_KEY": "k", "QLIK_CLIENT_ID": "id", "QLIK_CLIENT_SECRET": "s"}, "sign in one way"),
        ({"QLIK_API_KEY": "k", "QLIK_CLIENT_ID": "id"}, "QLIK_API_KEY and QLIK_CLIENT_ID"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        Settings.from_env(env)


def test_good_values_are_read_and_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "QLIK_TENANT_URL": "https://acme.eu.qlikcloud.com",
            "QLIK_API_KEY": "api-key-value-123",
            "QDI_MCP_SECRET": "s" * 40,
            "QDI_MCP_READ_ONLY": "yes",
            "QDI_MCP_TOOLSETS": "runtime, workflows",
            "QDI_MCP_CONFIRM_TTL": "120",
        }
    )
    assert settings.read_only and settings.toolsets == ("runtime", "workflows")
    assert settings.confirm_ttl_seconds == 120
    assert "api-key-value-123" not in repr(settings) and "s" * 40 not in repr(settings)
    settings.require_tenant()


def test_without_a_tenant_the_message_says_what_to_set() -> None:
    with pytest.raises(SettingsError, match="QLIK_TENANT_URL"):
        Settings.from_env({}).require_tenant()
    with pytest.raises(SettingsError, match="QLIK_API_KEY"):
        Settings.from_env({"QLIK_TENANT_URL": "https://acme.eu.qlikcloud.com"}).require_tenant()


def test_the_default_work_folder_is_in_the_home_folder_expanded_when_settings_are_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir("/")

    settings = Settings.from_env({})

    assert settings.workdir == tmp_path / "qdi-mcp-work"
    assert settings.workdir.is_absolute()
    assert settings.audit_log_path == tmp_path / "qdi-mcp-work" / "audit.jsonl"
    assert Settings().workdir == settings.workdir


def test_qdi_mcp_workdir_is_taken_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    assert Settings.from_env({"QDI_MCP_WORKDIR": "relative/work"}).workdir == Path("relative/work")


@pytest.mark.parametrize("level", [*LOG_LEVELS, "debug", "Warning", "critical", "warn"])
def test_log_levels_are_accepted_in_any_case(level: str) -> None:
    assert Settings.from_env({"QDI_MCP_LOG_LEVEL": level}).log_level == level.upper()


def test_both_kinds_of_credentials_are_fine_in_demo_mode_where_neither_is_used() -> None:
    settings = Settings.from_env({"QLIK_API_KEY": "k", "QLIK_CLIENT_ID": "id", "QLIK_CLIENT_SECRET": "s"}, demo=True)

    assert settings.demo


def test_the_credentials_refusal_never_shows_a_secret() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"QLIK_API_KEY": "key-value-5521", "QLIK_CLIENT_ID": "id", "QLIK_CLIENT_SECRET": "sec-9182"})

    assert "key-value-5521" not in str(refused.value) and "sec-9182" not in str(refused.value)


def test_check_tool_names_accepts_known_names_and_refuses_others_with_a_suggestion() -> None:
    known = {"qdi_stop_task", "qdi_start_task", "qdi_list_projects"}
    check_tool_names(["qdi_stop_task"], known, source="--tools")

    with pytest.raises(SettingsError) as refused:
        check_tool_names(["qdi_stop_tsk", "qdi_stop_task", "nothing_like_it"], known, source="QDI_MCP_EXCLUDE_TOOLS")

    message = str(refused.value)
    assert message.startswith("QDI_MCP_EXCLUDE_TOOLS: unknown tools 'qdi_stop_tsk' (did you mean qdi_stop_task?)")
    assert "'nothing_like_it'" in message and "'nothing_like_it' (did" not in message


def test_check_workdir_accepts_a_folder_or_a_path_still_to_create(tmp_path: Path) -> None:
    check_workdir(tmp_path, source="--workdir")
    check_workdir(tmp_path / "new" / "deeper", source="--workdir")


def test_check_workdir_refuses_a_file_or_a_path_through_one(tmp_path: Path) -> None:
    a_file = tmp_path / "f.txt"
    a_file.write_text("x", encoding="utf-8")

    with pytest.raises(SettingsError, match=r"^--workdir: .*f\.txt is a file"):
        check_workdir(a_file, source="--workdir")
    with pytest.raises(SettingsError, match=r"^QDI_MCP_WORKDIR: .*cannot be created: .*f\.txt is a file"):
        check_workdir(a_file / "sub", source="QDI_MCP_WORKDIR")
