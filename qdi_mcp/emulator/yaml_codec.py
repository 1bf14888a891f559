"""YAML as Qlik writes it: YAML 1.2 scalars, Qlik's indentation, readable multi-line strings.

PyYAML speaks YAML 1.1, where `OFF` is a boolean and `2024-09-18T15:19:15.3900000Z` a datetime. Qlik writes
both unquoted and means strings (`hasLiveViews: OFF`, `startDateTime: ...`), so a 1.1 reader would change
the project on a round trip. The loader therefore uses YAML 1.2 core-schema resolvers: only true/false are
booleans, only null/~/empty are null, no timestamps, no sexagesimal or octal ints.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# libyaml's parser is ~5x faster and still calls the Python resolvers below. Its emitter cannot indent
# sequences the way Qlik does, so dumping stays pure Python.
_SafeLoaderBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class QlikYamlLoader(_SafeLoaderBase):  # type: ignore[misc,valid-type]
    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


class QlikYamlDumper(yaml.SafeDumper):
    # Quote every string that a YAML 1.1 *or* 1.2 reader would take for something else ('OFF', '010',
    # '1e5', dates): the files stay unambiguous for any tool, at the cost of a few quotes Qlik omits.
    yaml_implicit_resolvers = {
        first: list(resolvers) for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
    }

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Qlik indents sequence items under their key ("  - name: x"); PyYAML would not by default.
        super().increase_indent(flow, False)


_RESOLVERS: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
]

for _tag, _regexp, _first in _RESOLVERS:
    for _cls in (QlikYamlLoader, QlikYamlDumper):
        _cls.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))
# the empty string resolves to null only when it is really empty (no first character to index by)
for _cls in (QlikYamlLoader, QlikYamlDumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (custom SQL, flow graphs) reads far better as a literal block; the emitter falls back
    # to a quoted scalar by itself when a block cannot represent the string exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


QlikYamlDumper.add_representer(str, _represent_str)


class SharedNodeError(yaml.YAMLError):
    """The document reuses a mapping or sequence (an alias), which project files never need."""


def load_yaml(text: str) -> Any:
    """Parse one YAML document with Qlik's scalar rules; raises yaml.YAMLError on bad syntax or aliases."""
    value = yaml.load(text, Loader=QlikYamlLoader)  # noqa: S506 - QlikYamlLoader is a SafeLoader
    _refuse_shared_containers(value)
    return value


def _refuse_shared_containers(value: Any) -> None:
    # Aliases turn a few bytes into exponentially large (or cyclic) structures for every later walk
    # ("billion laughs"); Qlik never writes them, so a container met twice means the file is hostile.
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                raise SharedNodeError("YAML anchors and aliases are not supported in project files")
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)


def dump_yaml(value: Any) -> str:
    """Serialise deterministically (key order kept as given) in Qlik's style."""
    return yaml.dump(
        value,
        Dumper=QlikYamlDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )
