"""Configuration problems are caught at start-up with one line naming the variable, never mid-call."""

from __future__ import annotations

import pytest

from qdi_mcp.settings import Settings, SettingsError


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
