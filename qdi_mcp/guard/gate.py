"""Confirmation before destructive calls, enforced in the server (nothing an agent or the API says can skip it).

Three ways a destructive call gets its confirmation, in this order:
1. `confirmation_token` in the arguments: a signed, single-use token this server issued for the same tool and
   the same arguments (the agent got it from a `confirmation_required` result and a person agreed).
2. Elicitation, when the client can ask its user: on the 2025 handshake protocols a server-to-client
   `elicitation/create` mid-call; on the 2026 protocol an `InputRequiredResult` whose `request_state` is a
   token bound to the call, so the answer can only confirm exactly the call that was shown.
3. Otherwise nothing runs: the result is `confirmation_required` with a preview and a token.
`QDI_MCP_CONFIRM=elicit` keeps only 2: a token never confirms, and a client that cannot ask its person is refused
(an agent holding a token can confirm alone; only a question shown by the client reaches a person).
`QDI_MCP_CONFIRM=never` switches all of this off for trusted automation (logged at start-up).

A preview names its target with the name marked as tenant text (`qdi_mcp.tenant_text`): the text a model reads
fences it, the structured result and the question a person reads carry it plain, in quotes ("task named \"X\"").

A question waits at most `QDI_MCP_CONFIRM_TIMEOUT` for its answer (mid-call: the wait is cut; 2026: the state
expires), then the call ends "nothing was done, no answer". The audit has `confirmation_asked` when a question
goes out and one line for its end: `confirmed`, `declined` or `confirmation_timed_out`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import mcp_types as types
from mcp_types.version import is_version_at_least

from qdi_mcp.failures import ToolFailure
from qdi_mcp.guard.audit import AuditLog
from qdi_mcp.guard.fence import render_text
from qdi_mcp.guard.tokens import FILE_DIGEST_ARGUMENT, ConfirmationError, ConfirmationTokens
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT, ToolSpec
from qdi_mcp.tenant_text import plain

if TYPE_CHECKING:
    from qdi_mcp.tools import ToolContext

# Builds the preview a person confirms (`guard.previews.build_preview`), handed in by the server with the handlers.
PreviewFn = Callable[[ToolSpec, dict[str, Any], "ToolContext"], Awaitable[dict[str, Any]]]
# The call's precondition (the spec's `precondition`, run by the server): the result answering a call that has
# nothing to do, or None. The gate decides when it runs: after a token or answer the call carries is verified (a
# forged or replayed one is still refused and audited), before anyone is asked.
PreconditionFn = Callable[[], Awaitable[types.CallToolResult | None]]


async def _nothing_to_check() -> None:
    return None


MODERN_PROTOCOL = "2026-07-28"
# Signed into the 2026 question's request_state, so that state can never pass as a confirmation_token (which a
# person grants by reading a preview), nor a token as an answered question.
ELICITATION_PURPOSE = "#elicitation"
ELICIT_KEY = "confirm"
ELICIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        ELICIT_KEY: {"type": "boolean", "title": "Proceed", "description": "Run this destructive action now"}
    },
    "required": [ELICIT_KEY],
}


# Refusals the gate audits itself; the server audits any other failure of the gate as "failed".
AUDITED_BY_GATE = frozenset({"confirmation_invalid", "confirmation_unavailable"})


@dataclass
class Decision:
    """Either a result to return instead of running the tool, or permission to run it (and who gave it)."""

    result: types.CallToolResult | types.InputRequiredResult | None = None
    confirmed_by: str | None = None


@dataclass
class ConfirmationGate:
    tokens: ConfirmationTokens
    audit: AuditLog
    mode: str = "auto"
    timeout_seconds: float = 600.0

    async def check(
        self,
        spec: ToolSpec,
        arguments: dict[str, Any],
        ctx: Any,
        params: types.CallToolRequestParams,
        tool_ctx: ToolContext,
        *,
        preview: PreviewFn,
        precondition: PreconditionFn = _nothing_to_check,
    ) -> Decision:
        if not spec.needs_confirmation_for(arguments):
            return await _unless_answered(precondition, Decision())
        if self.mode == "never":
            return await _unless_answered(precondition, Decision(confirmed_by="policy:never"))
        token = arguments.get(CONFIRMATION_TOKEN_ARGUMENT)
        if token and self.mode != "elicit":  # in elicit mode a token is ignored: the person is asked below
            self._verify(spec, signed_arguments(spec, arguments, tool_ctx), token)
            return await _unless_answered(precondition, Decision(confirmed_by="token"))
        if _can_elicit(ctx) and _is_modern(ctx) and params.request_state is not None:
            # The retry round of a 2026 question: its answer is verified first, like a token.
            signed = signed_arguments(spec, arguments, tool_ctx)
            decision = await self._elicit_multi_round(spec, signed, params, tool_ctx, preview)
            return decision if decision.result is not None else await _unless_answered(precondition, decision)
        answer = await precondition()
        if answer is not None:
            return Decision(result=answer)
        if self.mode == "elicit" and not _can_elicit(ctx):
            self._record(spec, arguments, "refused", detail="QDI_MCP_CONFIRM=elicit and the client cannot ask")
            raise ToolFailure(
                "confirmation_unavailable",
                f"{spec.name} needs a person's yes, and this server (QDI_MCP_CONFIRM=elicit) takes it only from a "
                "question the client shows its person; this client cannot show one (no form elicitation), so "
                "nothing was done. Confirmation tokens are not accepted in this mode.",
                hint="use a client that supports elicitation, or ask the operator about QDI_MCP_CONFIRM",
            )
        signed = signed_arguments(spec, arguments, tool_ctx)
        if _can_elicit(ctx):
            if _is_modern(ctx):
                return await self._elicit_multi_round(spec, signed, params, tool_ctx, preview)
            # The file a confirmation binds was read once for this call (ToolContext.read_import): what the
            # person is shown is what gets uploaded, whatever happens to the file on disk meanwhile.
            return await self._elicit_mid_call(spec, arguments, ctx, tool_ctx, preview)
        return await self._require_token(spec, signed, tool_ctx, preview)

    def _verify(self, spec: ToolSpec, arguments: dict[str, Any], token: str) -> None:
        try:
            self.tokens.verify(spec.name, arguments, token)
        except ConfirmationError as exc:
            self._refuse(spec, arguments, exc)

    def _refuse(self, spec: ToolSpec, arguments: dict[str, Any], exc: ConfirmationError) -> NoReturn:
        self._record(spec, arguments, "refused", detail=f"confirmation {exc.reason}")
        hint = (
            "a person must make the work folder writable (QDI_MCP_WORKDIR), then confirm again"
            if exc.reason == "unrecorded"
            else f"call {spec.name} again without {CONFIRMATION_TOKEN_ARGUMENT} to get a new preview and token"
        )
        # The hint is the next step: the token module's own ("call the tool again without ...") would say it twice.
        raise ToolFailure("confirmation_invalid", exc.problem, hint=hint) from None

    async def _elicit_mid_call(
        self, spec: ToolSpec, arguments: dict[str, Any], ctx: Any, tool_ctx: ToolContext, preview: PreviewFn
    ) -> Decision:
        shown = await preview(spec, arguments, tool_ctx)
        self._record(spec, arguments, "confirmation_asked", detail=f"elicitation, answer awaited {self._waits()}")
        # A client whose callback never returns must not hold the call (and its preview) forever.
        with anyio.move_on_after(self.timeout_seconds) as waiting:
            response = await ctx.session.elicit_form(
                _question_to_person(shown), ELICIT_SCHEMA, related_request_id=ctx.request_id
            )
        if waiting.cancelled_caught:
            return self._no_answer(spec, arguments, shown)
        return self._answer(spec, arguments, shown, response)

    async def _elicit_multi_round(
        self,
        spec: ToolSpec,
        arguments: dict[str, Any],
        params: types.CallToolRequestParams,
        tool_ctx: ToolContext,
        preview: PreviewFn,
    ) -> Decision:
        if params.request_state is not None:
            # The retry round: the state is the token issued when the question was asked, so the answer is
            # accepted only for the very tool and arguments the person saw, only once, and only in time.
            try:
                self.tokens.verify(
                    spec.name + ELICITATION_PURPOSE, arguments, params.request_state, ttl_seconds=self.timeout_seconds
                )
            except ConfirmationError as exc:
                if exc.reason == "expired":  # the answer came after the question's time ran out
                    return self._no_answer(spec, arguments, None)
                self._refuse(spec, arguments, exc)
            response = (params.input_responses or {}).get(ELICIT_KEY)
            return self._answer(spec, arguments, None, response)
        shown = await preview(spec, arguments, tool_ctx)
        issued = self.tokens.issue(spec.name + ELICITATION_PURPOSE, arguments, ttl_seconds=self.timeout_seconds)
        self._record(
            spec, arguments, "confirmation_asked", detail=f"elicitation (2026 protocol), answer awaited {self._waits()}"
        )
        request = types.ElicitRequest(
            params=types.ElicitRequestFormParams(message=_question_to_person(shown), requested_schema=ELICIT_SCHEMA)
        )
        return Decision(
            result=types.InputRequiredResult(input_requests={ELICIT_KEY: request}, request_state=issued.token)
        )

    def _waits(self) -> str:
        return f"up to {self.timeout_seconds:g} s (QDI_MCP_CONFIRM_TIMEOUT)"

    def _no_answer(self, spec: ToolSpec, arguments: dict[str, Any], preview: dict[str, Any] | None) -> Decision:
        self._record(spec, arguments, "confirmation_timed_out", detail=f"no answer within {self.timeout_seconds:g} s")
        message = f"Nothing was done: the person gave no answer within {self.timeout_seconds:g} s."
        structured: dict[str, Any] = {"status": "declined", "message": message}
        if preview is not None:
            structured["preview"] = preview
        return Decision(result=_plain_result(structured, message))

    def _answer(
        self, spec: ToolSpec, arguments: dict[str, Any], preview: dict[str, Any] | None, response: Any
    ) -> Decision:
        if _accepted(response):
            self._record(spec, arguments, "confirmed", detail="elicitation accepted")
            return Decision(confirmed_by="elicitation")
        action = getattr(response, "action", None) or "no answer"
        self._record(spec, arguments, "declined", detail=f"elicitation {action}")
        message = f"The person did not confirm ({action}); nothing was done."
        structured: dict[str, Any] = {"status": "declined", "message": message}
        if preview is not None:
            structured["preview"] = preview
        return Decision(result=_plain_result(structured, message))

    async def _require_token(
        self, spec: ToolSpec, arguments: dict[str, Any], tool_ctx: ToolContext, preview_fn: PreviewFn
    ) -> Decision:
        preview = await preview_fn(spec, arguments, tool_ctx)
        issued = self.tokens.issue(spec.name, arguments)
        expires = datetime.fromtimestamp(issued.expires_at, UTC).isoformat().replace("+00:00", "Z")
        # What to do next. The preview is said once: `preview` holds it, the summary line reads it out as a
        # question, and the text's data fence leaves out what that line says (see guard.fence).
        message = (
            f"Nothing was done: show this preview to the user; only if they agree, repeat this call with "
            f"{CONFIRMATION_TOKEN_ARGUMENT} added (valid once, until {expires})."
        )
        structured = {
            "status": "confirmation_required",
            CONFIRMATION_TOKEN_ARGUMENT: issued.token,
            "expires_at": expires,
            "preview": preview,
            "message": message,
        }
        self._record(spec, arguments, "confirmation_required")
        summary = f"{_question(preview)} {message}"
        return Decision(result=_plain_result(structured, summary))

    def _record(self, spec: ToolSpec, arguments: dict[str, Any], outcome: str, detail: str | None = None) -> None:
        clean = {k: v for k, v in arguments.items() if k != CONFIRMATION_TOKEN_ARGUMENT}
        self.audit.record_or_log(tool=spec.name, arguments=clean, outcome=outcome, safety=spec.safety, detail=detail)


async def _unless_answered(precondition: PreconditionFn, decision: Decision) -> Decision:
    """`decision`, unless the precondition answers the call (it has nothing to do): then that answer."""
    answer = await precondition()
    return Decision(result=answer) if answer is not None else decision


def signed_arguments(spec: ToolSpec, arguments: dict[str, Any], tool_ctx: ToolContext) -> dict[str, Any]:
    """What a confirmation is bound to: the arguments, plus the content of the file the spec's
    `confirmation.binds_file` argument names, so a zip swapped after the person saw the preview (an export to the
    same name, say) cannot ride on their yes."""
    if spec.binds_file is None:
        return arguments
    data = tool_ctx.read_import(arguments[spec.binds_file], argument=spec.binds_file)
    return arguments | {FILE_DIGEST_ARGUMENT: hashlib.sha256(data).hexdigest()}


def _question_to_person(preview: dict[str, Any]) -> str:
    """The question a person reads: names quoted as names, without marks (a person is not a model: no fences)."""
    return plain(_question(preview))


def _question(preview: dict[str, Any]) -> str:
    scope = f" Scope: {preview['scope']}." if preview.get("scope") else ""
    return (
        f"Confirm: {preview['action']} on {preview['target']}.{scope} Current state: {preview['current_state']}. "
        f"{preview['consequence']}"
    )


def _accepted(response: Any) -> bool:
    if response is None or getattr(response, "action", None) != "accept":
        return False
    # The form requires the box to be ticked: an "accept" without it (or without content) is not a yes.
    content = getattr(response, "content", None)
    return isinstance(content, dict) and content.get(ELICIT_KEY) is True


def _can_elicit(ctx: Any) -> bool:
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` predates modes and means form support; url-only clients cannot show our form.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _is_modern(ctx: Any) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, MODERN_PROTOCOL)


def _plain_result(structured: dict[str, Any], summary: str) -> types.CallToolResult:
    """The gate's own result: `summary` and the preview in `structured` may hold marked tenant names; the text
    fences them (`render_text`), the structured result carries them plain."""
    structured = _without_marks(structured)
    return types.CallToolResult(
        content=[types.TextContent(text=render_text(summary, structured))], structured_content=structured
    )


def _without_marks(value: Any) -> Any:
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        return {key: _without_marks(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_marks(item) for item in value]
    return value
