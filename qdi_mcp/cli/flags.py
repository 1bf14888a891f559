"""Command-line flags generated from the settings declaration (`qdi_mcp.settings.declared.OPTIONS`).

Each flag stores its raw text (or a switch's value) under the option's field name; `Settings.from_env` parses it
with the same parser as the variable, so a bad value is refused with the same words, naming the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from qdi_mcp.settings.declared import options_of_command
from qdi_mcp.settings.docs import environment_epilog, flag_help
from qdi_mcp.settings.options import Option


def add_setting_flags(parser: argparse.ArgumentParser, command: str, *, title: str) -> None:
    """The flags of every option `command` reads; the environment-only ones are listed in the epilog."""
    options = options_of_command(command)
    group = parser.add_argument_group(title)
    for option in options:
        if option.flag is None:
            continue
        if option.switch is not None:
            group.add_argument(
                option.flag, dest=option.field, action="store_const", const=option.switch, help=flag_help(option)
            )
        else:
            group.add_argument(option.flag, dest=option.field, metavar=_metavar(option.flag), help=flag_help(option))


def _metavar(flag: str) -> str:
    # As argparse would name it from the flag (`--audit-log AUDIT_LOG`), not from the field it is stored in.
    return flag.lstrip("-").upper().replace("-", "_")


def epilog_for(command: str, *, before: str = "") -> dict[str, Any]:
    """`epilog` and `formatter_class` for `add_parser`: the command's environment variables, generated."""
    return {
        "epilog": before + environment_epilog(options_of_command(command)),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def flag_values(args: argparse.Namespace, options: Iterable[Option]) -> dict[str, Any]:
    """What the flags of `options` stored (None for a flag not given, or one this command does not have)."""
    return {option.field: getattr(args, option.field, None) for option in options}
