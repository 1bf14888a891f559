"""The settings declaration is the one source of every option: `--help`, the README table, `Settings` and the
errors all follow it, and secret values never show in any of them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from qdi_mcp.cli import main
from qdi_mcp.settings import OPTIONS, EmulatorSettings, Settings, SettingsError, spec_cache_dir
from qdi_mcp.settings.docs import END, REGENERATE, START, replace_table, settings_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = ("serve", "tools", "call", "runbook", "emulator")


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def readme_table() -> str:
    return README.split(START, 1)[1].split(END, 1)[0]


def test_the_readme_configuration_table_is_the_one_generated_from_the_declaration() -> None:
    assert replace_table(README, settings_markdown()) == README, f"the README's table is stale; run: {REGENERATE}"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_every_variable_and_flag_of_the_command_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Unwrapped, so a name or default split over two lines by argparse still counts.
    text = " ".join(help_of(command, capsys).split())
    declared = [option for option in OPTIONS if command in option.commands]
    assert declared
    for option in declared:
        for name in (option.env, option.flag, option.default_text):
            if name:
                assert name in text, f"{command} --help lacks {name}"
    others = {option.env for option in OPTIONS if command not in option.commands and option.env}
    assert not [name for name in others if re.search(rf"\b{name}\b", text)], "a variable the command does not read"


def test_the_readme_declaration_and_serve_help_agree_on_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    declared = {option.env for option in OPTIONS if option.env}
    in_readme = set(re.findall(r"`((?:QLIK|QDI)_[A-Z_]+)`", readme_table()))
    serve_help = help_of("serve", capsys)
    in_help = set(re.findall(r"\b(?:QLIK|QDI)_[A-Z_]+\b", serve_help))
    serve_reads = {option.env for option in OPTIONS if option.env and "serve" in option.commands}

    assert in_readme == declared
    assert in_help == serve_reads


def test_settings_fields_are_exactly_the_declared_options() -> None:
    fields = {item.name for item in dataclasses.fields(Settings)} - {"sources"}
    emulator_fields = {item.name for item in dataclasses.fields(EmulatorSettings)}
    declared = {option.field for option in OPTIONS}

    assert fields | emulator_fields | {"spec_cache_dir"} == declared
    assert Settings().confirm_ttl_seconds == next(o.default for o in OPTIONS if o.field == "confirm_ttl_seconds")


def test_a_flag_wins_over_its_variable_and_the_source_is_recorded() -> None:
    env = {"QDI_MCP_TOOLSETS": "runtime", "QDI_EMULATOR_SPEED": "3", "QDI_MCP_LOG_LEVEL": "debug"}

    settings = Settings.from_env(env, flags={"toolsets": "Projects", "read_only": True})

    assert settings.toolsets == ("projects",) and settings.source_of("toolsets") == "--toolsets"
    assert settings.read_only and settings.source_of("read_only") == "--read-only"
    assert settings.emulator_speed == 3.0 and settings.source_of("emulator_speed") == "QDI_EMULATOR_SPEED"
    assert settings.log_level == "DEBUG"
    assert settings.source_of("workdir") is None


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"emulator_speed": "fast"}, {}, "--speed must be a number, not 'fast'"),
        ({"emulator_speed": "0"}, {"QDI_EMULATOR_SPEED": "2"}, "--speed must be greater than 0"),
        ({}, {"QDI_EMULATOR_SPEED": "nan"}, "QDI_EMULATOR_SPEED must be greater than 0"),
        ({"toolsets": "tasks,nope"}, {}, "--toolsets: unknown toolset 'nope'"),
        ({}, {"QDI_MCP_CONFIRM_TTL": "soon"}, "QDI_MCP_CONFIRM_TTL must be a number, not 'soon'"),
        ({}, {"QDI_MCP_HTTP_MAX_SESSIONS": "0"}, "QDI_MCP_HTTP_MAX_SESSIONS must be at least 1, not 0"),
        ({}, {"QDI_MCP_HTTP_MAX_SESSIONS": "many"}, "QDI_MCP_HTTP_MAX_SESSIONS must be a whole number, not 'many'"),
    ],
)
def test_a_bad_value_is_refused_naming_where_it_was_set(
    flags: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env, flags=flags)


def test_a_value_set_in_code_is_checked_like_one_from_the_environment() -> None:
    with pytest.raises(SettingsError, match=re.escape("QDI_EMULATOR_SPEED (--speed) must be greater than 0")):
        Settings().with_overrides(emulator_speed=-1.0)


def test_an_empty_value_counts_as_unset() -> None:
    settings = Settings.from_env({"QDI_EMULATOR_SPEED": "", "QDI_MCP_CONFIRM_TTL": ""}, flags={"workdir": ""})

    assert (settings.emulator_speed, settings.confirm_ttl_seconds) == (1.0, 300.0)
    assert settings.source_of("workdir") is None


def test_serve_only_and_emulator_settings_are_read_from_the_declaration() -> None:
    settings = Settings.from_env(
        {"QDI_MCP_HTTP_ALLOWED_HOSTS": "box.lan, 10.0.0.5:*", "QDI_MCP_HTTP_ALLOWED_ORIGINS": ""}
    )
    emulator = EmulatorSettings.from_env({"QDI_EMULATOR_SPEED": "20"}, flags={"emulator_speed": "40"})

    assert settings.http_allowed_hosts == ("box.lan", "10.0.0.5:*") and settings.http_allowed_origins == ()
    assert (emulator.emulator_speed, emulator.emulator_api_key) == (40.0, None)
    with pytest.raises(SettingsError, match="QDI_EMULATOR_SPEED must be a number"):
        EmulatorSettings.from_env({"QDI_EMULATOR_SPEED": "fast"})


def test_the_spec_cache_folder_is_read_through_the_declaration(tmp_path: Path) -> None:
    assert spec_cache_dir({"QDI_MCP_CACHE_DIR": "OFF"}) is None
    assert spec_cache_dir({"QDI_MCP_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert spec_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "qdi-mcp"


def test_the_emulator_key_shown_as_default_is_the_emulators_own() -> None:
    from qdi_mcp.emulator import DEFAULT_API_KEY

    (option,) = [option for option in OPTIONS if option.env == "QDI_EMULATOR_API_KEY"]
    assert option.default_text == DEFAULT_API_KEY


def test_the_spec_loader_takes_its_toolsets_from_settings() -> None:
    from qdi_mcp.settings import TOOLSETS
    from qdi_mcp.specs import TOOLSETS as SPEC_TOOLSETS
    from qdi_mcp.specs import load_specs

    assert SPEC_TOOLSETS is TOOLSETS
    assert {spec.toolset for spec in load_specs()} == set(TOOLSETS)


SECRET_VALUES = {option.env: f"sEcReT-{option.field}-7d1c0ffee0123456789abcdef" for option in OPTIONS if option.secret}


def test_secret_values_never_show_in_help_repr_or_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {"QLIK_API_KEY", "QLIK_CLIENT_SECRET", "QDI_MCP_SECRET", "QDI_MCP_HTTP_TOKEN"} <= set(SECRET_VALUES)
    for name, value in SECRET_VALUES.items():
        assert name is not None
        monkeypatch.setenv(name, value)
    shown = [help_of(command, capsys) for command in COMMANDS]
    env = {name: value for name, value in SECRET_VALUES.items() if name is not None}
    settings = Settings.from_env(env, demo=True)
    shown += [repr(settings), repr(EmulatorSettings.from_env(env))]
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**env, "QDI_MCP_LOG_LEVEL": "LOUD"})
    with pytest.raises(SettingsError) as both_ways:
        Settings.from_env({**env, "QLIK_CLIENT_ID": "robot"})
    shown += [str(refused.value), str(both_ways.value)]

    leaked = [value for value in SECRET_VALUES.values() for text in shown if value in text]
    assert not leaked
    assert set(settings.secrets()) == {value for name, value in env.items() if name != "QDI_EMULATOR_API_KEY"}
