from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import struct

import pytest

from qdi_mcp.guard.tokens import (
    ConfirmationError,
    ConfirmationTokens,
    MemoryUsedTokenStore,
    canonical_arguments,
    secret_from_env,
)
from qdi_mcp.guard.used_tokens import KEEP_AFTER_EXPIRY_SECONDS

SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32
TOOL = "qdi_request_task_reload"
ARGS = {"project_id": "p-123", "task_id": "t-456", "reload_strategy": "TRUNCATE"}

# The payload layout as the module docstring of qdi_mcp.guard.tokens documents it, written out again here so that
# these tests check the documentation too: version, issue time, expiry, nonce, hash of all arguments, tool name
# length; then the tool name and 4 bytes per argument.
HEADER = struct.Struct(">Bdd12s16sB")
ARGUMENT_HASH_BYTES = 4
SIGNATURE_CHARS = 22  # 16 bytes in unpadded base64url


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def refusal(tokens: ConfirmationTokens, tool: str, arguments: dict, token: str | None) -> ConfirmationError:
    with pytest.raises(ConfirmationError) as caught:
        tokens.verify(tool, arguments, token)
    return caught.value


def test_issued_token_verifies_for_the_same_tool_and_arguments() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)

    tokens.verify(TOOL, ARGS, issued.token)  # no exception

    assert issued.token.count(".") == 1
    assert issued.token_id
    assert issued.token not in repr(issued)


def test_verify_ignores_the_confirmation_token_argument_itself() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)

    tokens.verify(TOOL, {**ARGS, "confirmation_token": issued.token}, issued.token)


def test_second_use_of_a_token_is_refused_as_used() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)
    tokens.verify(TOOL, ARGS, issued.token)

    error = refusal(tokens, TOOL, ARGS, issued.token)

    assert error.reason == "used"
    assert "without confirmation_token" in str(error)


def test_changed_argument_is_refused_and_named() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)

    error = refusal(tokens, TOOL, {**ARGS, "reload_strategy": "COMPARE_AND_APPLY"}, issued.token)

    assert error.reason == "arguments_changed"
    assert "(changed or added: reload_strategy)" in str(error)
    assert error.changed_arguments == ("reload_strategy",)
    assert "COMPARE_AND_APPLY" not in str(error) and "TRUNCATE" not in str(error)
    assert "call the tool again without confirmation_token" in str(error)


def test_added_and_removed_arguments_are_refused_and_named() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)
    without_task = {key: value for key, value in ARGS.items() if key != "task_id"}

    added = refusal(tokens, TOOL, {**ARGS, "allow_recreate": True}, issued.token)
    removed = refusal(tokens, TOOL, without_task, issued.token)

    assert added.reason == removed.reason == "arguments_changed"
    assert "(changed or added: allow_recreate)" in str(added)
    assert added.changed_arguments == ("allow_recreate",)
    # Names are not in the token, so a removed argument is counted, not named.
    assert "(removed: 1 argument)" in str(removed)
    assert removed.changed_arguments == ()


def test_a_changed_and_a_removed_argument_are_both_reported() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)

    error = refusal(tokens, TOOL, {"project_id": "p-999", "reload_strategy": "TRUNCATE"}, issued.token)

    assert "(changed or added: project_id; removed: 1 argument)" in str(error)
    assert error.changed_arguments == ("project_id",)


def test_refused_changed_arguments_leave_the_token_usable_for_the_original_call() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, ARGS)
    refusal(tokens, TOOL, {**ARGS, "task_id": "other"}, issued.token)

    tokens.verify(TOOL, ARGS, issued.token)


def test_swapping_two_argument_values_is_seen_as_a_change() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, {"a": "x", "b": "y"})

    error = refusal(tokens, TOOL, {"a": "y", "b": "x"}, issued.token)

    assert error.reason == "arguments_changed"
    assert "(changed or added: a, b)" in str(error)


def test_token_for_another_tool_is_refused() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue("qdi_stop_task", ARGS)

    error = refusal(tokens, TOOL, ARGS, issued.token)

    assert error.reason == "wrong_tool"
    assert "qdi_stop_task" in str(error)


def test_forged_signature_is_refused() -> None:
    tokens = ConfirmationTokens(SECRET)
    payload, signature = tokens.issue(TOOL, ARGS).token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    error = refusal(tokens, TOOL, ARGS, f"{payload}.{flipped}")

    assert error.reason == "forged"


def test_payload_edited_to_extend_expiry_is_refused_as_forged() -> None:
    clock = ManualClock()
    tokens = ConfirmationTokens(SECRET, clock=clock)
    payload_text, signature = tokens.issue(TOOL, ARGS).token.split(".")
    payload = unb64(payload_text)
    version, issued_at, expires_at, *rest = HEADER.unpack_from(payload)
    edited = HEADER.pack(version, issued_at, expires_at + 10_000, *rest) + payload[HEADER.size :]
    clock.now += 301

    error = refusal(tokens, TOOL, ARGS, f"{b64(edited)}.{signature}")

    assert error.reason == "forged"


def test_a_version_2_token_is_refused_as_malformed() -> None:
    clock = ManualClock()
    payload = json.dumps(
        {"v": 2, "tool": TOOL, "args": "x", "keys": {}, "iat": clock.now, "exp": clock.now + 300, "id": "abc"}
    ).encode()
    signature = hmac.new(SECRET, payload, hashlib.sha256).digest()
    tokens = ConfirmationTokens(SECRET, clock=clock)

    as_issued = refusal(tokens, TOOL, ARGS, f"{b64(payload)}.{b64(signature)}")
    signature_cut_to_size = refusal(tokens, TOOL, ARGS, f"{b64(payload)}.{b64(signature[:16])}")

    assert as_issued.reason == signature_cut_to_size.reason == "malformed"
    assert "signature has the wrong length" in str(as_issued)
    assert "issued by an older version of this server" in str(signature_cut_to_size)


@pytest.mark.parametrize("edit", ["cut", "lengthened"])
def test_a_signature_of_the_wrong_length_is_malformed(edit: str) -> None:
    tokens = ConfirmationTokens(SECRET)
    payload_text, signature = tokens.issue(TOOL, ARGS).token.split(".")
    edited = signature[:-2] if edit == "cut" else signature + "AAAA"  # both still canonical base64url

    error = refusal(tokens, TOOL, ARGS, f"{payload_text}.{edited}")

    assert error.reason == "malformed"
    assert "wrong length" in str(error)


def test_the_payload_follows_the_documented_layout() -> None:
    clock = ManualClock(1_700_000_000.25)
    issued = ConfirmationTokens(SECRET, ttl_seconds=300, clock=clock).issue(TOOL, ARGS)
    payload_text, signature = issued.token.split(".")
    payload = unb64(payload_text)

    version, issued_at, expires_at, nonce, _, tool_length = HEADER.unpack_from(payload)
    hashes = payload[HEADER.size + tool_length :]
    per_argument = [hashes[i : i + ARGUMENT_HASH_BYTES] for i in range(0, len(hashes), ARGUMENT_HASH_BYTES)]

    assert (version, issued_at, expires_at) == (3, clock.now, clock.now + 300)
    assert payload[HEADER.size : HEADER.size + tool_length] == TOOL.encode()
    assert len(per_argument) == len(ARGS) and per_argument == sorted(per_argument)
    assert issued.token_id == b64(nonce)
    # the nonce is random: two tokens for the same call at the same moment differ in it
    other = ConfirmationTokens(SECRET, ttl_seconds=300, clock=clock).issue(TOOL, ARGS)
    assert other.token_id != issued.token_id
    assert len(signature) == SIGNATURE_CHARS


def test_a_typical_token_is_as_long_as_the_layout_says() -> None:
    tool = "qdi_import_project_and_wait"
    arguments = {"project_id": "6745a1c2f3e4d5b6a7c8d9e0", "path": "release.zip", "file_sha256": "ab" * 32}
    payload_bytes = HEADER.size + len(tool) + ARGUMENT_HASH_BYTES * len(arguments)

    token = ConfirmationTokens(SECRET).issue(tool, arguments).token

    assert len(token) == math.ceil(payload_bytes * 4 / 3) + 1 + SIGNATURE_CHARS
    assert len(token) == 137  # the figure the module docstring gives for this call


def test_the_single_use_id_claimed_is_the_issued_token_id() -> None:
    claimed: list[str] = []

    class RecordingStore:
        def claim(self, token_id: str, expires_at: float) -> bool:
            claimed.append(token_id)
            return True

    tokens = ConfirmationTokens(SECRET, store=RecordingStore())
    issued = tokens.issue(TOOL, ARGS)
    tokens.verify(TOOL, ARGS, issued.token)

    assert claimed == [issued.token_id]
    assert issued.token_id != tokens.issue(TOOL, ARGS).token_id


def test_a_token_with_a_lifetime_under_a_second_keeps_it() -> None:
    # A question's state (QDI_MCP_CONFIRM_TIMEOUT) is a token and may live a fraction of a second.
    clock = ManualClock(1_700_000_000.7)
    tokens = ConfirmationTokens(SECRET, clock=clock)
    early, late = tokens.issue(TOOL, ARGS, ttl_seconds=0.5), tokens.issue(TOOL, ARGS, ttl_seconds=0.5)

    clock.now += 0.4
    tokens.verify(TOOL, ARGS, early.token, ttl_seconds=0.5)
    clock.now += 0.1
    assert refusal_with_ttl(tokens, late.token, 0.5).reason == "expired"


def refusal_with_ttl(tokens: ConfirmationTokens, token: str, ttl_seconds: float) -> ConfirmationError:
    with pytest.raises(ConfirmationError) as caught:
        tokens.verify(TOOL, ARGS, token, ttl_seconds=ttl_seconds)
    return caught.value


FILE_CALL = {"project_id": "p-1", "path": "release.zip", "file_sha256": "a" * 64}


def test_a_changed_file_digest_alone_is_file_changed_and_uses_the_token_up() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, FILE_CALL)

    error = refusal(tokens, TOOL, {**FILE_CALL, "file_sha256": "b" * 64}, issued.token)

    assert error.reason == "file_changed" and error.changed_arguments == ("file_sha256",)
    assert refusal(tokens, TOOL, FILE_CALL, issued.token).reason == "used"


@pytest.mark.parametrize(
    "call",
    [
        {**FILE_CALL, "file_sha256": "b" * 64, "path": "other.zip"},
        {"project_id": "p-1", "file_sha256": "b" * 64},
        {**FILE_CALL, "file_sha256": "b" * 64, "extra": 1},
    ],
    ids=["another-argument-changed-too", "an-argument-removed-too", "an-argument-added-too"],
)
def test_a_file_digest_changed_with_other_changes_is_arguments_changed(call: dict) -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, FILE_CALL)

    assert refusal(tokens, TOOL, call, issued.token).reason == "arguments_changed"
    tokens.verify(TOOL, FILE_CALL, issued.token)  # not used up


def test_a_file_digest_added_to_a_call_whose_token_had_none_is_arguments_changed() -> None:
    tokens = ConfirmationTokens(SECRET)
    without_digest = {key: value for key, value in FILE_CALL.items() if key != "file_sha256"}
    issued = tokens.issue(TOOL, without_digest)

    assert refusal(tokens, TOOL, FILE_CALL, issued.token).reason == "arguments_changed"


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "!!!.???", "x" * 10_000, "eyJ2IjoxfQ.c2ln"],
    ids=["no-dot", "three-parts", "not-base64", "huge", "short-signature"],
)
def test_garbage_token_is_refused_as_malformed(garbage: str) -> None:
    tokens = ConfirmationTokens(SECRET)

    error = refusal(tokens, TOOL, ARGS, garbage)

    assert error.reason == "malformed"
    assert "confirmation_token is malformed" in str(error)


def test_truncated_token_is_refused_as_malformed() -> None:
    tokens = ConfirmationTokens(SECRET)
    token = tokens.issue(TOOL, ARGS).token

    error = refusal(tokens, TOOL, ARGS, token[:-5])

    assert error.reason == "malformed"


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_token_is_refused_as_missing(missing: str | None) -> None:
    tokens = ConfirmationTokens(SECRET)

    assert refusal(tokens, TOOL, ARGS, missing).reason == "missing"


def test_token_expires_after_its_ttl() -> None:
    clock = ManualClock()
    tokens = ConfirmationTokens(SECRET, ttl_seconds=300, clock=clock)
    issued = tokens.issue(TOOL, ARGS)
    assert issued.expires_at == clock.now + 300

    clock.now += 300
    error = refusal(tokens, TOOL, ARGS, issued.token)

    assert error.reason == "expired"
    assert "valid for 300 s" in str(error)


def test_token_is_accepted_just_before_expiry() -> None:
    clock = ManualClock()
    tokens = ConfirmationTokens(SECRET, ttl_seconds=300, clock=clock)
    issued = tokens.issue(TOOL, ARGS)

    clock.now += 299.9
    tokens.verify(TOOL, ARGS, issued.token)


def test_checks_run_in_order_wrong_tool_before_changed_arguments_before_expiry() -> None:
    clock = ManualClock()
    tokens = ConfirmationTokens(SECRET, clock=clock)
    issued = tokens.issue(TOOL, ARGS)
    clock.now += 10_000

    assert refusal(tokens, "qdi_stop_task", {}, issued.token).reason == "wrong_tool"
    assert refusal(tokens, TOOL, {}, issued.token).reason == "arguments_changed"
    assert refusal(tokens, TOOL, ARGS, issued.token).reason == "expired"


def test_replicas_sharing_a_secret_verify_each_others_tokens() -> None:
    replica_a = ConfirmationTokens(SECRET)
    replica_b = ConfirmationTokens(SECRET)

    replica_b.verify(TOOL, ARGS, replica_a.issue(TOOL, ARGS).token)


def test_replicas_sharing_a_store_refuse_a_replayed_token() -> None:
    shared_store = MemoryUsedTokenStore()
    replica_a = ConfirmationTokens(SECRET, store=shared_store)
    replica_b = ConfirmationTokens(SECRET, store=shared_store)
    token = replica_a.issue(TOOL, ARGS).token
    replica_a.verify(TOOL, ARGS, token)

    assert refusal(replica_b, TOOL, ARGS, token).reason == "used"


def test_token_from_a_different_secret_is_refused_as_forged() -> None:
    token = ConfirmationTokens(OTHER_SECRET).issue(TOOL, ARGS).token

    assert refusal(ConfirmationTokens(SECRET), TOOL, ARGS, token).reason == "forged"


def test_canonical_arguments_ignore_key_order_and_the_confirmation_token() -> None:
    first = canonical_arguments({"b": 1, "a": {"y": [1, 2], "x": None}})
    second = canonical_arguments({"a": {"x": None, "y": [1, 2]}, "confirmation_token": "t", "b": 1})

    assert first == second == b'{"a":{"x":null,"y":[1,2]},"b":1}'


def test_token_from_reordered_arguments_verifies() -> None:
    tokens = ConfirmationTokens(SECRET)
    issued = tokens.issue(TOOL, dict(reversed(list(ARGS.items()))))

    tokens.verify(TOOL, ARGS, issued.token)


def test_token_string_contains_no_raw_argument_values() -> None:
    sensitive = {"project_id": "customer-churn-prod", "reload_strategy": "TRUNCATE", "note": "hunter2-secret"}
    tokens = ConfirmationTokens(SECRET)
    token = tokens.issue(TOOL, sensitive).token
    payload = unb64(token.split(".")[0])

    for name, value in sensitive.items():
        assert value not in token
        assert value.encode() not in payload
        assert name.encode() not in payload  # names are not stored either...
    # ...yet a changed argument is still named in the refusal, from the call's own arguments.
    error = refusal(tokens, TOOL, {**sensitive, "note": "hunter3-secret"}, token)
    assert "(changed or added: note)" in str(error) and "hunter" not in str(error)


def test_memory_store_forgets_expired_ids_and_stays_bounded() -> None:
    clock = ManualClock()
    store = MemoryUsedTokenStore(clock=clock, max_entries=2)

    assert store.claim("a", clock.now + 10) is True
    assert store.claim("a", clock.now + 10) is False
    assert store.claim("b", clock.now + 20) is True
    assert store.claim("c", clock.now + 20) is False  # full of live ids: fail closed
    clock.now += 15
    assert store.claim("c", clock.now + 20) is False  # "a" expired, but its use is kept a while longer
    assert store.claim("a", clock.now + 10) is False  # a replay just past the expiry is still refused
    clock.now += KEEP_AFTER_EXPIRY_SECONDS
    assert store.claim("c", clock.now + 20) is True
    assert len(store) == 2


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        ConfirmationTokens(b"short")


def test_secret_from_env_generates_a_random_secret_when_unset() -> None:
    first, second = secret_from_env(None), secret_from_env("")

    assert len(first) >= 32 and len(second) >= 32
    assert first != second


def test_secret_from_env_decodes_text_hex_and_base64() -> None:
    raw = bytes(range(32))

    assert secret_from_env("x" * 40) == b"x" * 40
    assert secret_from_env("hex:" + raw.hex()) == raw
    assert secret_from_env("base64:" + base64.b64encode(raw).decode()) == raw


def test_secret_from_env_refuses_a_short_value_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="QDI_MCP_SECRET is too short: 11 bytes") as caught:
        secret_from_env("tiny-secret")

    assert "tiny-secret" not in str(caught.value)


def test_secret_from_env_refuses_bad_hex() -> None:
    with pytest.raises(ValueError, match="not hexadecimal"):
        secret_from_env("hex:zz")
