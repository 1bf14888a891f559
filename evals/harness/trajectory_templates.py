"""What trajectories add to the runbook template language (`qdi_mcp.runbook.templates`), and nothing else.

    ${steps.<step id>.result.<path>}     the structured result of an earlier step (after any confirmation)
    ${confirmations.<step id>.<path>}    the confirmation_required result that step received first
    ${... | tamper}                      a confirmation token with one character of its signature changed

Everything else (paths with `[field=value]` selection, `$merge`, templated keys, whole-string references
keeping their JSON type, the other filters) is the runbook's language, so one syntax serves both.
"""

from __future__ import annotations

from typing import Any

from qdi_mcp.runbook.errors import TemplateError
from qdi_mcp.runbook.templates import Extensions, Reference, Scope, compile_value, iter_references, resolve

CONFIRMATIONS = "confirmations"
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def tamper(value: Any) -> str:
    """The token with one character of its signature changed: well-formed, but not signed by the server."""
    if not isinstance(value, str) or "." not in value:
        raise TemplateError("|tamper applies to a confirmation token ('payload.signature')")
    payload, signature = value.rsplit(".", 1)
    # A middle character: changing the last one could leave unused padding bits, i.e. the same bytes.
    index = len(signature) // 2
    replacement = _BASE64URL[(_BASE64URL.index(signature[index]) + 1) % len(_BASE64URL)]
    return f"{payload}.{signature[:index]}{replacement}{signature[index + 1 :]}"


TRAJECTORY = Extensions(roots=(CONFIRMATIONS,), filters={"tamper": tamper})


def new_scope() -> Scope:
    return Scope(variables={}, steps={}, extra={CONFIRMATIONS: {}})


def record_result(scope: Scope, step_id: str, structured: Any) -> None:
    scope.steps[step_id] = {"result": structured}  # type: ignore[index]


def record_confirmation(scope: Scope, step_id: str, structured: Any) -> None:
    scope.extra[CONFIRMATIONS][step_id] = structured


def render(value: Any, scope: Scope) -> Any:
    """`value` (as written in the task file) with every reference resolved. Raises TemplateError."""
    return resolve(compile_value(value, TRAJECTORY), scope)


def references(value: Any) -> list[Reference]:
    """Every reference in `value`; raises TemplateSyntaxError for a malformed one."""
    return list(iter_references(compile_value(value, TRAJECTORY)))
