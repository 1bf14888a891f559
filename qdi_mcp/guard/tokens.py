"""Signed, single-use confirmation tokens for destructive tool calls.

When the client cannot ask the person (no elicitation), a destructive call first returns
``status: "confirmation_required"`` with a token from :meth:`ConfirmationTokens.issue`; the agent repeats the
same call with ``confirmation_token`` and the server runs it only if :meth:`ConfirmationTokens.verify` passes.

Token format: ``base64url(payload) + "." + base64url(signature)``, unpadded, where the signature is
HMAC-SHA256(secret, payload) truncated to its first 16 bytes (128 bits; RFC 2104 section 5, NIST SP 800-107) and
the payload is this fixed binary layout (big-endian; ``struct`` format ``>Bdd12s16sB`` then two variable parts)::

    offset  size  field
    0       1     version (3)
    1       8     issue time, Unix seconds (IEEE-754 double)
    9       8     expiry, Unix seconds (IEEE-754 double)
    17      12    nonce: the token's single-use id is its base64url (16 characters)
    29      16    keyed hash of all arguments (canonical JSON), the check that binds the token to the call
    45      1     length n of the tool name in UTF-8 bytes
    46      n     tool name (so a token for another tool can be refused by name)
    46+n    4*k   one 4-byte keyed hash per argument of (name, value), sorted; k is what remains / 4

A call with a tool name of n bytes and k arguments gives a token of ``ceil(4 * (46 + n + 4k) / 3) + 23``
characters (unpadded payload, dot, 22 for the signature): 137 for ``qdi_import_project_and_wait`` with three
arguments. Times are doubles, not whole seconds, because a question's state is a token too and its lifetime
(``QDI_MCP_CONFIRM_TIMEOUT``) may be a fraction of a second.

Argument names are not stored. The per-argument hashes only let a refusal name what changed: an argument of the
call whose (name, value) hash is not in the token is reported "changed or added"; the token's hashes left
unmatched beyond those are arguments removed. Four bytes make a false match (which at worst misnames an
argument) a one-in-four-billion event; the 16-byte hash of all arguments is what decides.

A token is accepted until the earlier of its own expiry and its issue time plus the *verifier's* TTL: a replica
configured with a long ``QDI_MCP_CONFIRM_TTL`` cannot mint yeses that outlive what this process allows.

Argument values are never stored, not even as plain hashes: a short enum such as ``"TRUNCATE"`` would be
recovered from a plain SHA-256 by guessing, so the hashes are keyed with a key derived from the secret.

Exceptions::

    ConfirmationError
        .reason: missing | malformed | forged | wrong_tool | arguments_changed | file_changed | expired | used
                 | unrecorded

Several processes: give every one the same secret (``QDI_MCP_SECRET``) and each verifies the others'
tokens. Single use is enforced per :class:`UsedTokenStore`: the default :class:`MemoryUsedTokenStore` lives in
one process; with a shared secret the server uses a ``FileUsedTokenStore`` (``used_tokens.py``) in the work
folder, so single use holds among all processes sharing that folder. Replicas on different hosts need a
shared store (e.g. backed by Redis ``SET NX``).

This module never logs tokens, and no exception message or repr carries one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import heapq
import hmac
import json
import math
import re
import secrets
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from qdi_mcp.guard.used_tokens import KEEP_AFTER_EXPIRY_SECONDS
from qdi_mcp.settings import MIN_SECRET_BYTES, secret_from_env
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT

# The argument a confirmation of a file-bound tool adds: the sha256 of the file's content as confirmed.
FILE_DIGEST_ARGUMENT = "file_sha256"

__all__ = [
    "MIN_SECRET_BYTES",
    "ConfirmationError",
    "ConfirmationTokens",
    "IssuedToken",
    "MemoryUsedTokenStore",
    "UsedTokenStore",
    "canonical_arguments",
    "secret_from_env",
]

TOKEN_VERSION = 3  # 3: a binary payload and a 128-bit signature (2: JSON, full signature; refused)

# Tokens travel through agents and chat transcripts; anything far larger than a real token is junk, and
# capping it keeps us from decoding attacker-sized input.
_MAX_TOKEN_CHARS = 8192
# The payload's fixed part, as the module docstring lays it out: version, issue time, expiry, nonce, hash of
# all arguments, length of the tool name.
_HEADER = struct.Struct(">Bdd12s16sB")
_NONCE_BYTES = 12  # 96 bits: ids of live tokens never collide in practice
_ARGUMENTS_HASH_BYTES = 16
_ARGUMENT_HASH_BYTES = 4  # per (name, value): only used to name what changed
_SIGNATURE_BYTES = 16
_MAX_TOOL_NAME_BYTES = 255  # its length is one byte
_MAX_NAMED_ARGUMENTS = 10
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_RETRY_HINT = f"call the tool again without {CONFIRMATION_TOKEN_ARGUMENT} to get a new one"

ConfirmationFailure = Literal[
    "missing", "malformed", "forged", "wrong_tool", "arguments_changed", "file_changed", "expired", "used", "unrecorded"
]


class ConfirmationError(Exception):
    """A confirmation token was refused; ``reason`` says why, ``problem`` what was wrong, ``next_step`` what to do;
    the message says both. A caller with a next step of its own (the server's hint) shows ``problem`` with it, so
    that the agent is not told the same thing twice."""

    def __init__(
        self,
        reason: ConfirmationFailure,
        problem: str,
        *,
        next_step: str | None = _RETRY_HINT,
        changed_arguments: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{problem}; {next_step}" if next_step else problem)
        self.reason: ConfirmationFailure = reason
        self.problem = problem
        self.next_step = next_step
        self.changed_arguments = changed_arguments


class UsedTokenStore(Protocol):
    def claim(self, token_id: str, expires_at: float) -> bool:
        """Record ``token_id`` as used; True the first time only. It may forget it ``KEEP_AFTER_EXPIRY_SECONDS``
        after ``expires_at``, not sooner: a verifier that read its clock just before the expiry still checks."""
        ...


class MemoryUsedTokenStore:
    """Per-process used-token store; forgets ids an hour after their token expired.

    Memory is bounded by ``max_entries``. When that many unexpired ids are held, further claims are refused
    (fail closed): forgetting a live id would let its token be replayed.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._used: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._used)

    def claim(self, token_id: str, expires_at: float) -> bool:
        with self._lock:
            self._prune(self._clock())
            if token_id in self._used or len(self._used) >= self._max_entries:
                return False
            self._used[token_id] = expires_at
            heapq.heappush(self._by_expiry, (expires_at, token_id))
            return True

    def _prune(self, now: float) -> None:
        while self._by_expiry and self._by_expiry[0][0] + KEEP_AFTER_EXPIRY_SECONDS <= now:
            _, token_id = heapq.heappop(self._by_expiry)
            self._used.pop(token_id, None)


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    expires_at: float
    token_id: str


def canonical_arguments(arguments: Mapping[str, Any] | None) -> bytes:
    """Canonical JSON of a call's arguments (sorted keys, no spaces), without ``confirmation_token``."""
    return _canonical_json(_without_token(arguments))


class ConfirmationTokens:
    """Issues and verifies confirmation tokens bound to one tool and its exact arguments."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_seconds: float = 300,
        clock: Callable[[], float] = time.time,
        store: UsedTokenStore | None = None,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"confirmation secret is too short: {len(secret)} bytes, at least {MIN_SECRET_BYTES} required"
            )
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        self._secret = secret
        # A separate key for argument hashes, so they can never be mistaken for signatures.
        self._argument_key = hmac.new(secret, b"qdi-mcp confirmation argument hashes v1", "sha256").digest()
        self._ttl = ttl_seconds
        self._clock = clock
        self._store: UsedTokenStore = store if store is not None else MemoryUsedTokenStore(clock=clock)

    def __repr__(self) -> str:
        return f"ConfirmationTokens(ttl_seconds={self._ttl})"

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def issue(self, tool: str, arguments: Mapping[str, Any] | None, *, ttl_seconds: float | None = None) -> IssuedToken:
        """A token for `tool` and these exact arguments, valid `ttl_seconds` (default: this process's TTL)."""
        tool_bytes = tool.encode("utf-8")
        if len(tool_bytes) > _MAX_TOOL_NAME_BYTES:
            raise ValueError(f"tool name is too long for a confirmation token: {len(tool_bytes)} bytes")
        bound = _without_token(arguments)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        issued_at = float(self._clock())
        expires_at = issued_at + (ttl_seconds if ttl_seconds is not None else self._ttl)
        header = _HEADER.pack(TOKEN_VERSION, issued_at, expires_at, nonce, self._hash_all(bound), len(tool_bytes))
        argument_hashes = sorted(self._hash_one(name, value) for name, value in bound.items())
        payload_bytes = header + tool_bytes + b"".join(argument_hashes)
        token = f"{_b64encode(payload_bytes)}.{_b64encode(self._sign(payload_bytes))}"
        return IssuedToken(token=token, expires_at=expires_at, token_id=_token_id(nonce))

    def verify(
        self, tool: str, arguments: Mapping[str, Any] | None, token: str | None, *, ttl_seconds: float | None = None
    ) -> None:
        """Raise :class:`ConfirmationError` unless ``token`` confirms this call; on success consume it.

        The token must be younger than `ttl_seconds` (default: this process's TTL) whatever expiry it carries."""
        if token is None or (isinstance(token, str) and not token.strip()):
            raise ConfirmationError(
                "missing",
                f"this call needs confirmation: call the tool without {CONFIRMATION_TOKEN_ARGUMENT} to get a preview "
                "and a token, then repeat the same call with that token",
                next_step=None,
            )
        payload_bytes, signature = _split_token(token)
        payload = _parse_payload(payload_bytes)
        if not hmac.compare_digest(self._sign(payload_bytes), signature):
            raise ConfirmationError(
                "forged",
                "this confirmation token was not issued by this server (signature mismatch; "
                "did the server secret change?)",
            )
        if payload.tool != tool:
            raise ConfirmationError(
                "wrong_tool",
                f"this confirmation token was issued for {_shorten(payload.tool)}, not {_shorten(tool)}",
            )
        bound = _without_token(arguments)
        if not hmac.compare_digest(self._hash_all(bound), payload.arguments_hash):
            changes = self._changed_arguments(bound, payload.argument_hashes)
            if changes.names == (FILE_DIGEST_ARGUMENT,) and changes.unmatched_in_token == 1:
                # The same call for a file whose content changed since the person confirmed it: the token is used
                # up, so swapping the file back and forth until a retry lands costs a new confirmation each time.
                with contextlib.suppress(OSError):
                    self._store.claim(payload.token_id, payload.expires_at)
                raise ConfirmationError(
                    "file_changed",
                    "the file's content changed since it was confirmed, so this token is used up and nothing was done",
                    changed_arguments=(FILE_DIGEST_ARGUMENT,),
                )
            raise ConfirmationError(
                "arguments_changed",
                f"this token was issued for different arguments ({changes.describe()})",
                changed_arguments=changes.names,
            )
        now = self._clock()
        ttl = ttl_seconds if ttl_seconds is not None else self._ttl
        # The verifier's own TTL bounds the token too: its expiry was chosen by whichever process issued it.
        expires_at = min(payload.expires_at, payload.issued_at + ttl)
        if now >= expires_at:
            raise ConfirmationError(
                "expired",
                f"this confirmation token expired {now - expires_at:.0f} s ago (tokens are valid for {ttl:.0f} s)",
            )
        try:
            claimed = self._store.claim(payload.token_id, payload.expires_at)
        except OSError as exc:  # the store could not record the use: running the call would allow a replay
            raise ConfirmationError(
                "unrecorded",
                f"{exc}; nothing was done (a token's use must be recorded before the call runs)",
                next_step=None,
            ) from None
        if not claimed:
            raise ConfirmationError("used", "this confirmation token was already used and confirms one call only")

    def _sign(self, payload_bytes: bytes) -> bytes:
        return hmac.new(self._secret, payload_bytes, "sha256").digest()[:_SIGNATURE_BYTES]

    def _hash_all(self, bound: Mapping[str, Any]) -> bytes:
        return hmac.new(self._argument_key, _canonical_json(bound), "sha256").digest()[:_ARGUMENTS_HASH_BYTES]

    def _hash_one(self, name: str, value: Any) -> bytes:
        # The name is part of the hash so that swapping two arguments' values is also seen as a change.
        message = name.encode("utf-8") + b"\x00" + _canonical_json(value)
        return hmac.new(self._argument_key, message, "sha256").digest()[:_ARGUMENT_HASH_BYTES]

    def _changed_arguments(self, bound: Mapping[str, Any], issued: tuple[bytes, ...]) -> _ArgumentChanges:
        unmatched_issued = Counter(issued)
        unmatched_names = []
        for name, value in sorted(bound.items()):
            pair = self._hash_one(name, value)
            if unmatched_issued[pair] > 0:
                unmatched_issued[pair] -= 1
            else:
                unmatched_names.append(name)
        return _ArgumentChanges(names=tuple(unmatched_names), unmatched_in_token=sum(unmatched_issued.values()))


@dataclass(frozen=True)
class _Payload:
    tool: str
    issued_at: float
    expires_at: float
    token_id: str
    arguments_hash: bytes
    argument_hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class _ArgumentChanges:
    """How a call's arguments differ from the token's: the call's arguments whose (name, value) the token does not
    hold, and how many of the token's (name, value) hashes the call does not match."""

    names: tuple[str, ...]  # changed or added
    unmatched_in_token: int

    @property
    def removed(self) -> int:
        # Each name not matched may be the new value of an argument the token holds; any beyond those were removed
        # (names are not stored, so removed arguments are only counted).
        return max(0, self.unmatched_in_token - len(self.names))

    def describe(self) -> str:
        parts = []
        if self.names:
            shown = ", ".join(_shorten(name, 64) for name in self.names[:_MAX_NAMED_ARGUMENTS])
            hidden = len(self.names) - _MAX_NAMED_ARGUMENTS
            parts.append(f"changed or added: {shown}" + (f" and {hidden} more" if hidden > 0 else ""))
        if self.removed:
            parts.append(f"removed: {self.removed} argument{'s' if self.removed > 1 else ''}")
        return "; ".join(parts) or "changed: the argument values"


def _token_id(nonce: bytes) -> str:
    return _b64encode(nonce)


def _without_token(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    if arguments is None:
        return {}
    return {key: value for key, value in arguments.items() if key != CONFIRMATION_TOKEN_ARGUMENT}


def _canonical_json(value: Any) -> bytes:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"tool arguments must be plain JSON values: {error}") from None
    return text.encode("utf-8")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    if not _BASE64URL.match(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Refuse non-canonical spellings so that one token has exactly one string form.
    return data if _b64encode(data) == text else None


def _malformed(problem: str) -> ConfirmationError:
    return ConfirmationError(
        "malformed",
        f"{CONFIRMATION_TOKEN_ARGUMENT} is malformed ({problem})",
        next_step=f"pass the token exactly as returned, or {_RETRY_HINT}",
    )


def _split_token(token: object) -> tuple[bytes, bytes]:
    if not isinstance(token, str):
        raise _malformed("not a string")
    if len(token) > _MAX_TOKEN_CHARS:
        raise _malformed("far too long")
    parts = token.strip().split(".")
    if len(parts) != 2:
        raise _malformed("expected two parts separated by '.'")
    payload_bytes, signature = _b64decode(parts[0]), _b64decode(parts[1])
    if payload_bytes is None or signature is None:
        raise _malformed("not base64url")
    if len(signature) != _SIGNATURE_BYTES:
        raise _malformed("signature has the wrong length; was the token cut short?")
    return payload_bytes, signature


def _parse_payload(payload_bytes: bytes) -> _Payload:
    if not payload_bytes:
        raise _malformed("empty payload")
    if payload_bytes[0] != TOKEN_VERSION:
        # A version 2 token is JSON: its first byte is "{". It was issued by an older server, before an upgrade.
        if payload_bytes[:1] == b"{":
            raise _malformed("issued by an older version of this server")
        raise _malformed(f"unsupported token version {payload_bytes[0]}")
    if len(payload_bytes) < _HEADER.size:
        raise _malformed("payload is too short")
    _, issued_at, expires_at, nonce, arguments_hash, tool_length = _HEADER.unpack_from(payload_bytes)
    tool_end = _HEADER.size + tool_length
    hashes = payload_bytes[tool_end:]
    if len(payload_bytes) < tool_end or len(hashes) % _ARGUMENT_HASH_BYTES:
        raise _malformed("payload has the wrong length")
    try:
        tool = payload_bytes[_HEADER.size : tool_end].decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("tool name is not UTF-8") from None
    if not (math.isfinite(issued_at) and math.isfinite(expires_at)):
        raise _malformed("times are not numbers")
    return _Payload(
        tool=tool,
        issued_at=issued_at,
        expires_at=expires_at,
        token_id=_token_id(nonce),
        arguments_hash=arguments_hash,
        argument_hashes=tuple(
            hashes[start : start + _ARGUMENT_HASH_BYTES] for start in range(0, len(hashes), _ARGUMENT_HASH_BYTES)
        ),
    )


def _shorten(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
