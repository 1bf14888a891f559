"""What one configuration option is (`Option`), the parsers options use, and the one reader of them all.

A value comes from a CLI flag, else from the environment variable, else from the option's default. An empty
value counts as unset, for a flag as for a variable (`QDI_MCP_WORKDIR=` in a compose file means "not set").
Every parser and check receives the name the value came from (`--speed` or `QDI_EMULATOR_SPEED`) so its
error names what the person actually set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The commands that build a server from settings; most options apply to all of them.
SERVING_COMMANDS = ("serve", "tools", "call", "runbook")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message says which and what to set."""


Parser = Callable[[str, str], Any]  # (raw text, the flag or variable it came from) -> value
Check = Callable[[Any, str], None]  # (typed value, the flag or variable it came from) -> None or SettingsError


@dataclass(frozen=True)
class Option:
    """One setting, declared once: where it is read from, how it is parsed and checked, and how it is shown."""

    field: str  # the attribute of the settings object that holds it
    env: str | None  # None: a flag only (--demo)
    help: str  # one line for `--help` and the README; never a value
    parse: Parser = lambda raw, name: raw
    default: Any = None
    # For defaults that depend on where the process runs (the home folder, XDG_CACHE_HOME).
    default_factory: Callable[[Mapping[str, str]], Any] | None = None
    default_text: str = ""  # the default as a person reads it; "" when there is none to show
    flag: str | None = None
    # A switch stores this value when given (`--read-only` -> True, `--no-confirm` -> "never"); None: the
    # flag takes a value, parsed like the variable's.
    switch: object = None
    flag_help: str = ""  # when the flag means something narrower than the variable (--no-confirm)
    check: Check | None = None  # also runs on values set in code (`Settings(...)`, `with_overrides`)
    secret: bool = False  # kept out of repr, logs and errors; never has a default worth showing
    commands: tuple[str, ...] = SERVING_COMMANDS

    @property
    def names(self) -> str:
        """How a message refers to this option when it does not know which way it was set."""
        if self.env and self.flag and self.switch is None:
            return f"{self.env} ({self.flag})"
        return self.env or self.flag or self.field

    def default_value(self, env: Mapping[str, str]) -> Any:
        return self.default_factory(env) if self.default_factory is not None else self.default


def read_options(
    options: Iterable[Option], env: Mapping[str, str], flags: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each option's value and the flag or variable it came from (absent from `sources` for a default).

    `flags` maps a field to what argparse stored: the raw text of a valued flag, a switch's value, or None.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in options:
        given = flags.get(option.field)
        raw_env = env.get(option.env) if option.env else None
        if given is not None and given != "" and option.flag:
            sources[option.field] = option.flag
            values[option.field] = given if option.switch is not None else option.parse(str(given), option.flag)
        elif raw_env and option.env:
            sources[option.field] = option.env
            values[option.field] = option.parse(raw_env, option.env)
        else:
            values[option.field] = option.default_value(env)
        if option.check is not None:
            option.check(values[option.field], sources.get(option.field, option.names))
    return values, sources


def read_option(option: Option, env: Mapping[str, str]) -> Any:
    """One option's value from the environment alone, for code that needs it without a whole settings object."""
    values, _ = read_options((option,), env, {})
    return values[option.field]


# --- parsers: (raw, name) -> value -------------------------------------------------------------------------


def text_or_none(raw: str, name: str) -> str | None:
    return raw or None


def csv(raw: str, name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def boolean(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be 1/true/yes or 0/false/no, not {raw!r}")


def number(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None


def whole_number(raw: str, name: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None


def at_least(minimum: int) -> Check:
    def check(value: Any, name: str) -> None:
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, not {value}")

    return check


def path(raw: str, name: str) -> Path:
    return Path(raw)


def lowercase(raw: str, name: str) -> str:
    return raw.strip().lower()


def uppercase(raw: str, name: str) -> str:
    return raw.upper()


def names_or_all(choices: tuple[str, ...]) -> Parser:
    """A case-insensitive comma list of names, where `all` (or nothing) means every one of `choices`."""

    def parse(raw: str, name: str) -> tuple[str, ...]:
        parts = csv(raw.lower(), name)
        return choices if not parts or "all" in parts else parts

    return parse


# --- checks: (value, name) -> None -------------------------------------------------------------------------


def one_of(choices: Collection[str]) -> Check:
    def check(value: Any, name: str) -> None:
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    return check


def all_of(choices: tuple[str, ...], noun: str) -> Check:
    def check(value: Any, name: str) -> None:
        unknown = [part for part in value if part not in choices]
        if unknown:
            raise SettingsError(f"{name}: unknown {noun} {unknown[0]!r}; choose from {', '.join(choices)} or 'all'")

    return check


def positive_finite(value: Any, name: str) -> None:
    if not value > 0:
        raise SettingsError(f"{name} must be greater than 0, not {value!r}")
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, not {value!r}")


def seconds_up_to(limit: float) -> Check:
    def check(value: Any, name: str) -> None:
        if not (0 < value <= limit):
            raise SettingsError(f"{name} must be a number of seconds between 0 and {limit:g}, not {value!r}")

    return check
