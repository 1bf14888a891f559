"""Configuration: environment variables, overridden by CLI flags, each declared once in `declared.OPTIONS`.

Every public name here is part of the contract in DESIGN.md. Settings are parsed once, validated, and frozen;
secrets are kept out of `repr` so a settings object can be logged safely.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qdi_mcp.settings.declared import (
    BY_FIELD,
    CONFIRM_MODES,
    DEFAULT_WORKDIR,
    LOG_LEVELS,
    MAX_CONFIRM_TTL_SECONDS,
    OPTIONS,
    SPEC_CACHE_DIR,
    TOOLSETS,
    default_workdir,
    environ,
    options_for,
)
from qdi_mcp.settings.options import Option, SettingsError, read_option, read_options
from qdi_mcp.settings.secret import MIN_SECRET_BYTES, secret_from_env

__all__ = [
    "CONFIRM_MODES",
    "DEFAULT_WORKDIR",
    "LOG_LEVELS",
    "MAX_CONFIRM_TTL_SECONDS",
    "MIN_SECRET_BYTES",
    "OPTIONS",
    "TOOLSETS",
    "EmulatorSettings",
    "Option",
    "Settings",
    "SettingsError",
    "check_tool_names",
    "check_workdir",
    "default_workdir",
    "secret_from_env",
    "spec_cache_dir",
]


def _declared(name: str) -> Any:
    """A dataclass field whose default is the declared one, so defaults are written in one place only."""
    option = BY_FIELD[name]
    return field(default_factory=lambda: option.default_value({}))


def _masked_repr(obj: Any) -> str:
    parts = []
    for item in fields(obj):
        if not item.repr:
            continue
        value = getattr(obj, item.name)
        option = BY_FIELD.get(item.name)
        shown = "'***'" if option is not None and option.secret and value else repr(value)
        parts.append(f"{item.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def _read(
    cls: type, env: Mapping[str, str] | None, flags: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    options = options_for({item.name for item in fields(cls)})
    return read_options(options, environ() if env is None else env, flags or {})


@dataclass(frozen=True, repr=False)
class Settings:
    tenant_url: str | None = _declared("tenant_url")
    api_key: str | None = _declared("api_key")
    client_id: str | None = _declared("client_id")
    client_secret: str | None = _declared("client_secret")
    allowed_hosts: tuple[str, ...] = _declared("allowed_hosts")
    read_only: bool = _declared("read_only")
    toolsets: tuple[str, ...] = _declared("toolsets")
    tools: tuple[str, ...] = _declared("tools")
    exclude_tools: tuple[str, ...] = _declared("exclude_tools")
    workdir: Path = _declared("workdir")
    confirm: str = _declared("confirm")
    confirm_ttl_seconds: float = _declared("confirm_ttl_seconds")
    confirm_timeout_seconds: float = _declared("confirm_timeout_seconds")
    backup: str = _declared("backup")
    backup_keep: int = _declared("backup_keep")
    secret: str | None = _declared("secret")
    audit_log: Path | None = _declared("audit_log")
    demo: bool = _declared("demo")
    emulator_speed: float = _declared("emulator_speed")
    http_token: str | None = _declared("http_token")
    http_allowed_hosts: tuple[str, ...] = _declared("http_allowed_hosts")
    http_allowed_origins: tuple[str, ...] = _declared("http_allowed_origins")
    http_max_sessions: int = _declared("http_max_sessions")
    http_session_idle_seconds: float = _declared("http_session_idle_seconds")
    log_level: str = _declared("log_level")
    # Which flag or variable set each value (absent: the default), so later checks name what the person set.
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    __repr__ = _masked_repr

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, flags: Mapping[str, Any] | None = None, **overrides: Any
    ) -> Settings:
        """Read `QLIK_*` / `QDI_*` variables; `flags` (argparse's raw values by field) win over them, and
        keyword overrides (typed values set in code) win over both when not None."""
        values, sources = _read(cls, env, flags)
        for key, value in overrides.items():
            if key not in values:
                raise TypeError(f"unknown setting {key!r}")
            if value is not None:
                values[key] = value
                sources.pop(key, None)
        settings = cls(**values, sources=sources)
        settings.validate()
        return settings

    def source_of(self, name: str) -> str | None:
        """The flag or variable that set `name`, or None when it has its default (or was set in code)."""
        return self.sources.get(name)

    def validate(self) -> None:
        for option in options_for({item.name for item in fields(self)}):
            if option.check is not None:
                option.check(getattr(self, option.field), self.source_of(option.field) or option.names)
        if not self.demo and self.api_key and (self.client_id or self.client_secret):
            # Silently preferring one would leave a person debugging the credentials that are not in use.
            raise SettingsError(
                "both QLIK_API_KEY and QLIK_CLIENT_ID/QLIK_CLIENT_SECRET are set: sign in one way, either "
                "QLIK_API_KEY or the OAuth2 client credentials QLIK_CLIENT_ID and QLIK_CLIENT_SECRET, and unset "
                "the other"
            )

    def require_tenant(self) -> None:
        """Without --demo the server needs a tenant and one kind of credentials; say exactly what is missing."""
        if not self.tenant_url:
            raise SettingsError(
                "set QLIK_TENANT_URL (e.g. https://your-tenant.eu.qlikcloud.com) and QLIK_API_KEY, "
                "or run with --demo to use the embedded emulator"
            )
        if not self.api_key and not (self.client_id and self.client_secret):
            raise SettingsError(
                "set QLIK_API_KEY, or QLIK_CLIENT_ID and QLIK_CLIENT_SECRET (OAuth2 client credentials), "
                "or run with --demo"
            )

    @property
    def audit_log_path(self) -> Path:
        return self.audit_log if self.audit_log is not None else self.workdir / "audit.jsonl"

    @property
    def backups_kept(self) -> int | None:
        """Backups kept per project before a design change, or None when backups are off (QDI_MCP_BACKUP=off)."""
        return None if self.backup == "off" else self.backup_keep

    def secrets(self) -> list[str]:
        """Values that must never appear in logs, errors or results: those of the options declared secret."""
        return [value for option in OPTIONS if option.secret and (value := getattr(self, option.field, None))]

    def with_overrides(self, **changes: Any) -> Settings:
        # A value set in code no longer comes from the flag or variable that set the one it replaces.
        sources = {name: source for name, source in self.sources.items() if name not in changes}
        updated = replace(self, **changes, sources=sources)
        updated.validate()
        return updated


@dataclass(frozen=True, repr=False)
class EmulatorSettings:
    """What `qdi-mcp emulator` reads: its clock speed and the API key it accepts (None: the emulator's own)."""

    emulator_speed: float = _declared("emulator_speed")
    emulator_api_key: str | None = _declared("emulator_api_key")

    __repr__ = _masked_repr

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, flags: Mapping[str, Any] | None = None
    ) -> EmulatorSettings:
        values, _ = _read(cls, env, flags)
        return cls(**values)


def spec_cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the spec cache, or None when `QDI_MCP_CACHE_DIR=off`."""
    value: Path | None = read_option(SPEC_CACHE_DIR, environ() if env is None else env)
    return value


def check_workdir(path: Path, *, source: str) -> None:
    """Refuse a work folder that can never be one because it, or a folder above it, is a file.

    `source` names where the value came from (`--workdir` or `QDI_MCP_WORKDIR`) so the message points there.
    Anything else (permissions, a read-only disk) is reported by `serve` as a warning: reads still work.
    """
    path = path.expanduser()
    for candidate in (path, *path.parents):
        try:
            if not candidate.exists():
                continue
        except OSError:
            return  # not even inspectable: the start-up writability check says why
        if candidate.is_dir():
            return
        where = "is a file" if candidate == path else f"cannot be created: {candidate} is a file"
        remedy = "point it at a folder (it is created if missing)"
        if source.startswith("the default"):
            remedy = "move that file away, or set QDI_MCP_WORKDIR to a folder"
        raise SettingsError(f"{source}: {path} {where}; {remedy}")


def check_tool_names(names: Iterable[str], known: Collection[str], *, source: str) -> None:
    """Refuse tool names no spec has: a typo in a selection would serve nothing, one in an exclusion would
    silently turn the guardrail off."""
    unknown = [name for name in names if name not in known]
    if not unknown:
        return
    described = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        described.append(f"{name!r} (did you mean {close[0]}?)" if close else repr(name))
    noun = "tool" if len(unknown) == 1 else "tools"
    raise SettingsError(
        f"{source}: unknown {noun} {', '.join(described)}; `qdi-mcp tools` without {source} lists every name"
    )
