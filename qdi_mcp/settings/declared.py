"""Every configuration option of qdi-mcp, declared once: variable, flag, default, parser, check and help text.

Why a table of our own rather than pydantic-settings: the options feed argparse (flags of four commands, their
`--help`), the README table and the one-line errors the CLI prints; pydantic-settings would bring a dependency,
a second CLI layer or custom sources to feed argparse, and its own error wording, which our tests pin (and
which must name the flag or variable the person set). A frozen dataclass per option and a loop over them does
all of that with the standard library, and keeps `import qdi_mcp.settings` cheap for a host that starts the
server on every chat window.

`Settings` (the server's options) and `EmulatorSettings` (`qdi-mcp emulator`) read the options named like their
fields; `QDI_MCP_CACHE_DIR` is read alone by the spec cache. `python -m qdi_mcp.settings --write` renders the
README's configuration table from this list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qdi_mcp.settings.options import (
    SERVING_COMMANDS,
    Option,
    SettingsError,
    all_of,
    at_least,
    boolean,
    csv,
    lowercase,
    names_or_all,
    number,
    one_of,
    path,
    positive_finite,
    seconds_up_to,
    text_or_none,
    uppercase,
    whole_number,
)
from qdi_mcp.settings.secret import secret_from_env
from qdi_mcp.settings.state_url import StateUrl, parse_state_url

# The one list of toolsets: the spec loader puts it into its meta-schema (specs sit above settings).
TOOLSETS = ("projects", "tasks", "runtime", "actions", "workflows")
CONFIRM_MODES = ("auto", "elicit", "never")
BACKUP_MODES = ("on", "off")
# In the home folder, not the current one: desktop hosts (Claude Desktop on macOS) start servers in `/`.
DEFAULT_WORKDIR = "~/qdi-mcp-work"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")  # Python's names, WARN included
# A confirmation is a person's yes to what they saw; a day-old yes is not about the state as it is now.
MAX_CONFIRM_TTL_SECONDS = 86400.0
# The SDK's own defaults (10,000 sessions, 30 minutes idle) let a client that never closes its sessions grow the
# server without bound (the red team: 3,000 sessions took it from 67 to 186 MiB). An agent host opens a handful.
HTTP_MAX_SESSIONS = 100
HTTP_SESSION_IDLE_SECONDS = 600.0
# How long a question may wait for the person; the same day-long bound as a token, for the same reason.
MAX_CONFIRM_TIMEOUT_SECONDS = 86400.0


def default_workdir(env: Mapping[str, str] | None = None) -> Path:
    """`~/qdi-mcp-work`, expanded now: the folder must not depend on where a host happens to start the server."""
    try:
        return Path(DEFAULT_WORKDIR).expanduser()
    except RuntimeError:  # no home folder can be determined (no HOME, no passwd entry)
        return Path(DEFAULT_WORKDIR.removeprefix("~/")).absolute()


# Read once, and patched by tests that play Windows on another system.
ON_WINDOWS = os.name == "nt"


def _default_cache_dir(env: Mapping[str, str]) -> Path | None:
    # XDG_CACHE_HOME (and LOCALAPPDATA on Windows) are the platforms' conventions, not our settings: they only place
    # the default. LOCALAPPDATA is the user's own profile, which the cache relies on there (no uid to check).
    base = env.get("XDG_CACHE_HOME") or (env.get("LOCALAPPDATA") if ON_WINDOWS else None)
    if base:
        return Path(base) / "qdi-mcp"
    try:
        return Path.home() / ".cache" / "qdi-mcp"
    except RuntimeError:  # no home folder can be determined: the cache is an optimisation, so go without it
        return None


def _cache_dir(raw: str, name: str) -> Path | None:
    return None if raw.strip().lower() == "off" else Path(raw)


def _state_url(raw: str, name: str) -> StateUrl | None:
    if not raw.strip():
        return None
    try:
        return parse_state_url(raw, name)
    except ValueError as exc:  # its messages never quote the URL past its scheme
        raise SettingsError(str(exc)) from None


def _signing_secret(value: Any, name: str) -> None:
    if value:
        try:
            secret_from_env(value)
        except ValueError as exc:  # its messages describe the problem, never the value
            raise SettingsError(str(exc)) from None


OPTIONS: tuple[Option, ...] = (
    Option(
        "tenant_url",
        "QLIK_TENANT_URL",
        "https://<tenant>.<region>.qlikcloud.com (https only; http only for loopback); not needed with --demo",
        text_or_none,
    ),
    Option(
        "api_key",
        "QLIK_API_KEY",
        "API key, sent as Authorization: Bearer; or QLIK_CLIENT_ID and QLIK_CLIENT_SECRET, never both ways",
        text_or_none,
        secret=True,
    ),
    Option(
        "client_id", "QLIK_CLIENT_ID", "OAuth2 client id, with QLIK_CLIENT_SECRET, instead of an API key", text_or_none
    ),
    Option(
        "client_secret",
        "QLIK_CLIENT_SECRET",
        "OAuth2 client secret, with QLIK_CLIENT_ID (client credentials, POST <tenant>/oauth/token)",
        text_or_none,
        secret=True,
    ),
    Option(
        "allowed_hosts",
        "QDI_MCP_ALLOWED_HOSTS",
        "extra tenant hosts allowed outside *.qlikcloud.com (comma list)",
        csv,
        default=(),
    ),
    Option(
        "demo",
        None,
        "use the embedded emulator (no tenant needed)",
        default=False,
        flag="--demo",
        switch=True,
    ),
    Option(
        "read_only",
        "QDI_MCP_READ_ONLY",
        "serve read tools only (hides and refuses the others; wins over every other setting)",
        boolean,
        default=False,
        default_text="0",
        flag="--read-only",
        switch=True,
    ),
    Option(
        "toolsets",
        "QDI_MCP_TOOLSETS",
        f"comma list of toolsets: {', '.join(TOOLSETS)}, or all",
        names_or_all(TOOLSETS),
        default=TOOLSETS,
        default_text="all",
        flag="--toolsets",
        check=all_of(TOOLSETS, "toolset"),
    ),
    Option(
        "tools",
        "QDI_MCP_TOOLS",
        "comma list of tool names to serve, nothing else (unknown names are refused at start)",
        csv,
        default=(),
        flag="--tools",
    ),
    Option(
        "exclude_tools",
        "QDI_MCP_EXCLUDE_TOOLS",
        "comma list of tool names to hide (unknown names are refused at start)",
        csv,
        default=(),
        flag="--exclude-tools",
    ),
    Option(
        "workdir",
        "QDI_MCP_WORKDIR",
        "folder for exports and imports (serve warns at start if it cannot be written)",
        path,
        default_factory=default_workdir,
        default_text=DEFAULT_WORKDIR,
        flag="--workdir",
    ),
    Option(
        "audit_log",
        "QDI_MCP_AUDIT_LOG",
        "audit log path, JSON lines",
        path,
        default_text="<workdir>/audit.jsonl",
        flag="--audit-log",
    ),
    Option(
        "confirm",
        "QDI_MCP_CONFIRM",
        "auto: destructive calls need a person's confirmation (asked by the client, or a preview and a token); "
        "elicit: only an answer the client asks its person counts (no tokens; clients that cannot ask are refused); "
        "never: they run without (trusted automation)",
        lowercase,
        default="auto",
        default_text="auto",
        flag="--no-confirm",
        switch="never",
        flag_help="run destructive calls without confirmation, for trusted automation",
        check=one_of(CONFIRM_MODES),
    ),
    Option(
        "confirm_ttl_seconds",
        "QDI_MCP_CONFIRM_TTL",
        "confirmation token lifetime in seconds",
        number,
        default=300.0,
        default_text="300",
        check=seconds_up_to(MAX_CONFIRM_TTL_SECONDS),
    ),
    Option(
        "confirm_timeout_seconds",
        "QDI_MCP_CONFIRM_TIMEOUT",
        "seconds a confirmation question waits for the person's answer; then nothing is done",
        number,
        default=600.0,
        default_text="600",
        check=seconds_up_to(MAX_CONFIRM_TIMEOUT_SECONDS),
    ),
    Option(
        "backup",
        "QDI_MCP_BACKUP",
        "on: an import, a promotion or a bindings update first exports the target project (mode ALL, with bindings) "
        "to <workdir>/backups/ and stops if that fails; off: no backups (logged at start-up)",
        lowercase,
        default="on",
        default_text="on",
        check=one_of(BACKUP_MODES),
    ),
    Option(
        "backup_keep",
        "QDI_MCP_BACKUP_KEEP",
        "backups kept per project; older ones are deleted after a new one is written",
        whole_number,
        default=20,
        default_text="20",
        check=at_least(1),
    ),
    Option(
        "secret",
        "QDI_MCP_SECRET",
        "key that signs confirmation tokens (32 bytes or more; hex:... and base64:... are decoded); share it "
        "between replicas or call processes; uses are then recorded in <workdir>/.used-confirmations; "
        "unset: a random key per process",
        text_or_none,
        check=_signing_secret,
        secret=True,
    ),
    Option(
        "state_url",
        "QDI_MCP_STATE_URL",
        "redis://host:6379/0 (or rediss:// for TLS): replicas and call processes share single use of confirmations "
        "and the tenant's rate-limit windows there; needs QDI_MCP_SECRET; unset: per-process state",
        _state_url,
        flag="--state-url",
    ),
    Option(
        "state_password",
        "QDI_MCP_STATE_PASSWORD",
        "password of the QDI_MCP_STATE_URL server (instead of one in the URL)",
        text_or_none,
        secret=True,
    ),
    Option(
        "http_token",
        "QDI_MCP_HTTP_TOKEN",
        "bearer token HTTP clients must send (streamable HTTP transport)",
        text_or_none,
        flag="--http-token",
        secret=True,
        commands=("serve",),
    ),
    Option(
        "http_allowed_hosts",
        "QDI_MCP_HTTP_ALLOWED_HOSTS",
        "extra Host values the HTTP transport accepts besides loopback (comma list, host:* allowed); "
        "needed for a remote bind",
        csv,
        default=(),
        commands=("serve",),
    ),
    Option(
        "http_allowed_origins",
        "QDI_MCP_HTTP_ALLOWED_ORIGINS",
        "extra Origin values the HTTP transport accepts besides loopback (comma list, host:* allowed)",
        csv,
        default=(),
        commands=("serve",),
    ),
    Option(
        "http_max_sessions",
        "QDI_MCP_HTTP_MAX_SESSIONS",
        "most HTTP sessions open at once; a client that would open one more gets 503 until one ends or idles out",
        whole_number,
        default=HTTP_MAX_SESSIONS,
        default_text=str(HTTP_MAX_SESSIONS),
        check=at_least(1),
        commands=("serve",),
    ),
    Option(
        "http_session_idle_seconds",
        "QDI_MCP_HTTP_SESSION_IDLE_SECONDS",
        "an HTTP session with no request in flight for this long is closed (its id then answers 404)",
        number,
        default=HTTP_SESSION_IDLE_SECONDS,
        default_text=f"{HTTP_SESSION_IDLE_SECONDS:g}",
        check=seconds_up_to(MAX_CONFIRM_TTL_SECONDS),
        commands=("serve",),
    ),
    Option(
        "log_level",
        "QDI_MCP_LOG_LEVEL",
        "DEBUG, INFO, WARNING (or WARN), ERROR or CRITICAL; logs go to stderr only",
        uppercase,
        default="INFO",
        default_text="INFO",
        check=one_of(LOG_LEVELS),
    ),
    Option(
        "spec_cache_dir",
        "QDI_MCP_CACHE_DIR",
        "folder of the cache of validated tool specs ($XDG_CACHE_HOME/qdi-mcp when that is set, "
        "%LOCALAPPDATA%\\qdi-mcp on Windows); off disables it",
        _cache_dir,
        default_factory=_default_cache_dir,
        default_text="~/.cache/qdi-mcp",
    ),
    Option(
        "emulator_speed",
        "QDI_EMULATOR_SPEED",
        "emulator clock multiplier for --demo and qdi-mcp emulator (10 makes the demo ten times faster)",
        number,
        default=1.0,
        default_text="1.0",
        flag="--speed",
        check=positive_finite,
        commands=(*SERVING_COMMANDS, "emulator"),
    ),
    Option(
        "emulator_rate_limits",
        "QDI_EMULATOR_RATE_LIMITS",
        "the standalone emulator answers 429 beyond Qlik's per-tier rate limits, as a tenant does",
        boolean,
        default=False,
        default_text="0",
        flag="--rate-limits",
        switch=True,
        commands=("emulator",),
    ),
    Option(
        "emulator_api_key",
        "QDI_EMULATOR_API_KEY",
        "API key the standalone emulator accepts",
        text_or_none,
        # None: the emulator's published demo key (qdi_mcp.emulator.DEFAULT_API_KEY, which settings cannot
        # import; a test holds this text to it).
        default_text="qdi-demo-key",
        secret=True,
        commands=("emulator",),
    ),
)

BY_FIELD: dict[str, Option] = {option.field: option for option in OPTIONS}
SPEC_CACHE_DIR = BY_FIELD["spec_cache_dir"]


def options_for(field_names: set[str]) -> tuple[Option, ...]:
    return tuple(option for option in OPTIONS if option.field in field_names)


def options_of_command(command: str) -> tuple[Option, ...]:
    return tuple(option for option in OPTIONS if command in option.commands)


def environ() -> Mapping[str, str]:
    """The process environment: the one place settings read it when a caller passes none."""
    return os.environ
