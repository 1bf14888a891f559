"""Configuration: environment variables, overridden by CLI flags.

Every public name here is part of the contract in DESIGN.md. Settings are parsed once, validated, and frozen;
secrets are kept out of `repr` so a settings object can be logged safely.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import math
import os
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

TOOLSETS = ("projects", "tasks", "runtime", "actions", "workflows")
CONFIRM_MODES = ("auto", "never")
# In the home folder, not the current one: desktop hosts (Claude Desktop on macOS) start servers in `/`.
DEFAULT_WORKDIR = "~/qdi-mcp-work"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")  # Python's names, WARN included
# A confirmation is a person's yes to what they saw; a day-old yes is not about the state as it is now.
MAX_CONFIRM_TTL_SECONDS = 86400.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message says which and what to set."""


def default_workdir() -> Path:
    """`~/qdi-mcp-work`, expanded now: the folder must not depend on where a host happens to start the server."""
    try:
        return Path(DEFAULT_WORKDIR).expanduser()
    except RuntimeError:  # no home folder can be determined (no HOME, no passwd entry)
        return Path(DEFAULT_WORKDIR.removeprefix("~/")).absolute()


@dataclass(frozen=True)
class Settings:
    tenant_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    read_only: bool = False
    toolsets: tuple[str, ...] = TOOLSETS
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    workdir: Path = field(default_factory=default_workdir)
    confirm: str = "auto"
    confirm_ttl_seconds: float = 300.0
    secret: str | None = field(default=None, repr=False)
    audit_log: Path | None = None
    demo: bool = False
    emulator_speed: float = 1.0
    http_token: str | None = field(default=None, repr=False)
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `QLIK_*` / `QDI_*` variables; keyword overrides (CLI flags) win when not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "tenant_url": env.get("QLIK_TENANT_URL") or None,
            "api_key": env.get("QLIK_API_KEY") or None,
            "client_id": env.get("QLIK_CLIENT_ID") or None,
            "client_secret": env.get("QLIK_CLIENT_SECRET") or None,
            "allowed_hosts": _csv(env.get("QDI_MCP_ALLOWED_HOSTS", "")),
            "read_only": _bool("QDI_MCP_READ_ONLY", env.get("QDI_MCP_READ_ONLY", "")),
            "toolsets": _toolsets(env.get("QDI_MCP_TOOLSETS", "")),
            "tools": _csv(env.get("QDI_MCP_TOOLS", "")),
            "exclude_tools": _csv(env.get("QDI_MCP_EXCLUDE_TOOLS", "")),
            "workdir": Path(env["QDI_MCP_WORKDIR"]) if env.get("QDI_MCP_WORKDIR") else default_workdir(),
            "confirm": (env.get("QDI_MCP_CONFIRM") or "auto").strip().lower(),
            "confirm_ttl_seconds": _float("QDI_MCP_CONFIRM_TTL", env.get("QDI_MCP_CONFIRM_TTL", "300")),
            "secret": env.get("QDI_MCP_SECRET") or None,
            "audit_log": Path(env["QDI_MCP_AUDIT_LOG"]) if env.get("QDI_MCP_AUDIT_LOG") else None,
            "emulator_speed": _float("QDI_EMULATOR_SPEED", env.get("QDI_EMULATOR_SPEED", "1.0")),
            "http_token": env.get("QDI_MCP_HTTP_TOKEN") or None,
            "log_level": (env.get("QDI_MCP_LOG_LEVEL") or "INFO").upper(),
        }
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise TypeError(f"unknown setting {key!r}")
            if value is not None:
                values[key] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.confirm not in CONFIRM_MODES:
            raise SettingsError(f"QDI_MCP_CONFIRM must be one of {', '.join(CONFIRM_MODES)}, not {self.confirm!r}")
        unknown = [t for t in self.toolsets if t not in TOOLSETS]
        if unknown:
            raise SettingsError(
                f"QDI_MCP_TOOLSETS: unknown toolset {unknown[0]!r}; choose from {', '.join(TOOLSETS)} or 'all'"
            )
        if self.emulator_speed <= 0:
            raise SettingsError("QDI_EMULATOR_SPEED (--speed) must be greater than 0")
        if not (0 < self.confirm_ttl_seconds <= MAX_CONFIRM_TTL_SECONDS):
            raise SettingsError(
                f"QDI_MCP_CONFIRM_TTL must be a number of seconds between 0 and {MAX_CONFIRM_TTL_SECONDS:g}, "
                f"not {self.confirm_ttl_seconds!r}"
            )
        if not math.isfinite(self.emulator_speed):
            raise SettingsError("QDI_EMULATOR_SPEED (--speed) must be a finite number")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"QDI_MCP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if not self.demo and self.api_key and (self.client_id or self.client_secret):
            # Silently preferring one would leave a person debugging the credentials that are not in use.
            raise SettingsError(
                "both QLIK_API_KEY and QLIK_CLIENT_ID/QLIK_CLIENT_SECRET are set: sign in one way, either "
                "QLIK_API_KEY or the OAuth2 client credentials QLIK_CLIENT_ID and QLIK_CLIENT_SECRET, and unset "
                "the other"
            )
        if self.secret:
            try:
                secret_from_env(self.secret)
            except ValueError as exc:
                raise SettingsError(str(exc)) from None

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

    def secrets(self) -> list[str]:
        """Values that must never appear in logs, errors or results."""
        return [s for s in (self.api_key, self.client_secret, self.secret, self.http_token) if s]

    def with_overrides(self, **changes: Any) -> Settings:
        updated = replace(self, **changes)
        updated.validate()
        return updated


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


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _toolsets(raw: str) -> tuple[str, ...]:
    parts = _csv(raw.lower())
    if not parts or "all" in parts:
        return TOOLSETS
    return parts


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1/true/yes or 0/false/no, not {raw!r}")


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None


MIN_SECRET_BYTES = 32


def secret_from_env(value: str | None) -> bytes:
    """Signing secret from ``QDI_MCP_SECRET``, or a random per-process secret when it is unset or blank.

    ``hex:<hex digits>`` and ``base64:<base64>`` are decoded; any other value is used as UTF-8 text.
    Either way at least 32 bytes are required. Replicas that must accept each other's tokens need the
    same value.
    """
    if value is None or not value.strip():
        return secrets.token_bytes(MIN_SECRET_BYTES)
    text = value.strip()
    if text.startswith("hex:"):
        try:
            secret = bytes.fromhex(text[4:])
        except ValueError:
            raise ValueError("QDI_MCP_SECRET starts with 'hex:' but the rest is not hexadecimal") from None
    elif text.startswith("base64:"):
        try:
            secret = base64.b64decode(text[7:], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("QDI_MCP_SECRET starts with 'base64:' but the rest is not base64") from None
    else:
        secret = text.encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(
            f"QDI_MCP_SECRET is too short: {len(secret)} bytes, at least {MIN_SECRET_BYTES} are required; "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    return secret
