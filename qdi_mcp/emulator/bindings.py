"""Project bindings: the values of a project's variables, and the checks prepare/validate make on them.

Connections are referenced as `{{id(connection, SPACE.NAME)}}`. A variable "names a connection" when its
last segment ends in `Connection` (`task.<id>.sourceConnection`, `platformConnection`, ...). Prepare and
validate fail for a task when a connection variable it needs is empty, or points at a connection the tenant
does not have, or when a variable it uses is not defined at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .project_files import TaskDefinition, default_bindings_definition, variables_in
from .state import Connection, ProjectState, Tenant

CONNECTION_REFERENCE = re.compile(
    r"^\s*\{\{\s*id\(\s*connection\s*,\s*(?P<space>[^.,()]+?)\s*\.\s*(?P<name>[^,()]+?)\s*\)\s*\}\}\s*$"
)

# Connection variables a project may leave empty: only some platforms or task types use them.
OPTIONAL_CONNECTION_VARIABLES = frozenset({"cloudStagingConnection", "llmConnection", "vectorDbConnection"})
# Platforms whose storage Qlik manages itself: no platform connection to bind.
# NONE is "No platform (e.g. replication-only projects)" (qlik.dev di-projects reference): nothing to bind either.
PLATFORMS_WITHOUT_CONNECTION = frozenset({"QLIK_QVD", "NONE"})


@dataclass(frozen=True)
class BindingProblem:
    code: str
    message: str
    details: str = ""


def connection_reference(space_name: str, name: str) -> str:
    return f"{{{{id(connection, {space_name}.{name})}}}}"


def is_connection_variable(name: str) -> bool:
    return name.rsplit(".", 1)[-1].endswith("Connection")


def resolve(variables: dict[str, Any], value: Any) -> Any:
    """Follow values that are exactly one `{{other}}` reference (defaults chain like that)."""
    seen: set[str] = set()
    while isinstance(value, str):
        match = re.fullmatch(r"\s*\{\{\s*([^{}()\s,]+)\s*\}\}\s*", value)
        if not match or match.group(1) in seen or match.group(1) not in variables:
            break
        seen.add(match.group(1))
        value = variables[match.group(1)]
    return value


def find_connection(tenant: Tenant, value: Any) -> Connection | None:
    """The connection a binding value designates: a `{{id(connection, S.N)}}` reference or a connection id."""
    if not isinstance(value, str):
        return None
    match = CONNECTION_REFERENCE.match(value)
    if match:
        return tenant.connection_named(match.group("space"), match.group("name"))
    return tenant.connections.get(value.strip())


def name_to_id_map(tenant: Tenant, variables: dict[str, Any]) -> dict[str, str]:
    """Each connection reference used in the variables -> the id of that connection, when it exists."""
    mapping: dict[str, str] = {}
    for value in variables.values():
        if isinstance(value, str) and CONNECTION_REFERENCE.match(value):
            connection = find_connection(tenant, value)
            if connection is not None:
                mapping[value] = connection.id
    return dict(sorted(mapping.items()))


def project_level_variables(project: ProjectState) -> set[str]:
    return variables_in([project.properties, project.settings])


def required_variables(project: ProjectState, task: TaskDefinition) -> set[str]:
    """Variables a task's prepare resolves: its own, plus the platform connection it writes through."""
    needed = set(task.variables_used())
    if project.platform_type not in PLATFORMS_WITHOUT_CONNECTION:
        needed |= {name for name in project_level_variables(project) if is_connection_variable(name)}
    return needed


def _connections_hint(tenant: Tenant, project: ProjectState) -> str:
    space_name = tenant.space_name(project.space_id)
    names = sorted(c.name for c in tenant.connections.values() if c.space_name == space_name)
    listed = ", ".join(connection_reference(space_name, name) for name in names) or "none"
    return f"Connections in space {space_name}: {listed}."


def binding_problems(tenant: Tenant, project: ProjectState, task: TaskDefinition) -> list[BindingProblem]:
    variables = project.bindings
    problems: list[BindingProblem] = []
    shared = project_level_variables(project)
    # the task's own variables first: they are the most specific diagnosis
    for name in sorted(required_variables(project, task), key=lambda name: (name in shared, name)):
        if name not in variables:
            problems.append(
                BindingProblem(
                    "UNDEFINED_VARIABLE",
                    f"Variable '{name}' used by task '{task.name}' is not defined in the project's bindings. "
                    "Recalculate the bindings (GET .../bindings?recalculate=true) and set its value.",
                )
            )
            continue
        if not is_connection_variable(name):
            continue
        value = resolve(variables, variables[name])
        if value is None or (isinstance(value, str) and not value.strip()):
            if name.rsplit(".", 1)[-1] in OPTIONAL_CONNECTION_VARIABLES:
                continue
            problems.append(
                BindingProblem(
                    "MISSING_CONNECTION",
                    f"Variable '{name}' has no connection, so task '{task.name}' cannot connect. Bind it "
                    "with PUT .../bindings to a connection, e.g. '{{id(connection, SPACE.CONNECTION)}}'.",
                    f"{name} = {variables[name]!r}. {_connections_hint(tenant, project)}",
                )
            )
        elif find_connection(tenant, value) is None:
            problems.append(
                BindingProblem(
                    "UNKNOWN_CONNECTION",
                    f"Variable '{name}' refers to connection {value!r}, which does not exist in this "
                    f"tenant; task '{task.name}' cannot connect. Bind it to an existing connection.",
                    _connections_hint(tenant, project),
                )
            )
    return problems


def recalculated(project: ProjectState) -> dict[str, Any]:
    """The variable set the project's current files need: new keys get their defaults, unused keys go,
    existing values stay. Variables that other variables' values refer to are needed too."""
    definition_defaults = {
        **default_bindings_definition(
            [task.definition for task in project.tasks.values()],
            project.platform_type,
            project_type=project.type,
        ),
        **project.bindings_definition,
    }
    needed = project_level_variables(project)
    for task in project.tasks.values():
        needed |= task.definition.variables_used()
    pending = list(needed)
    while pending:
        name = pending.pop()
        value = project.bindings.get(name, definition_defaults.get(name))
        for referenced in variables_in(value):
            if referenced not in needed:
                needed.add(referenced)
                pending.append(referenced)
    return {
        name: project.bindings[name] if name in project.bindings else definition_defaults.get(name, "")
        for name in sorted(needed)
    }


def parse_variables(body: Any) -> dict[str, str | None]:
    """The `variables` of a PUT body, or a 400 naming what is wrong."""
    if not isinstance(body, dict) or "variables" not in body:
        raise bad_request("The request body must be an object with 'variables'.", pointer="/variables")
    variables = body["variables"]
    if not isinstance(variables, dict):
        raise bad_request("'variables' must be an object of names to values.", pointer="/variables")
    for name, value in variables.items():
        if value is not None and not isinstance(value, str):
            raise bad_request(
                f"Variable '{name}' must be a string or null, got {type(value).__name__}.",
                pointer=f"/variables/{_escape_pointer(name)}",
            )
    return dict(variables)


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
