from __future__ import annotations

import logging

import pytest

from qdi_mcp.guard.redact import Redactor, SecretFilter, is_secret_key

API_KEY = "eyJhbGciOiJFUzM4NCJ9.api-key-value-1234567890"
CLIENT_SECRET = "client-secret-abcdef123456"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([API_KEY, CLIENT_SECRET])


def test_registered_secret_is_hidden_inside_a_string(redactor: Redactor) -> None:
    text = f"calling tenant with key {API_KEY} failed"

    assert redactor.redact(text) == "calling tenant with key *** failed"


def test_secrets_are_hidden_in_nested_structures_without_touching_the_input(redactor: Redactor) -> None:
    original = {
        "project_id": "p-1",
        "steps": [{"note": f"used {CLIENT_SECRET}"}, ("tuple", API_KEY)],
        "count": 3,
        "flag": None,
    }

    redacted = redactor.redact(original)

    assert redacted == {
        "project_id": "p-1",
        "steps": [{"note": "used ***"}, ["tuple", "***"]],
        "count": 3,
        "flag": None,
    }
    assert original["steps"][0]["note"] == f"used {CLIENT_SECRET}"


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "X-API-Key",
        "client_secret",
        "clientSecret",
        "secret",
        "password",
        "token",
        "access_token",
        "Authorization",
        "db_password",
    ],
)
def test_values_under_secret_looking_keys_are_masked(redactor: Redactor, key: str) -> None:
    assert redactor.redact({key: "not-registered-value", "keep": "visible"}) == {
        key: "***",
        "keep": "visible",
    }


def test_ordinary_keys_that_mention_tokens_are_not_masked() -> None:
    assert not is_secret_key("token_id")
    assert not is_secret_key("max_tokens")
    assert not is_secret_key("project_id")


def test_confirmation_token_shows_as_redacted_placeholder(redactor: Redactor) -> None:
    redacted = redactor.redact({"task_id": "t-1", "confirmation_token": "abc.def"})

    assert redacted == {"task_id": "t-1", "confirmation_token": "<redacted>"}


def test_bearer_header_values_in_text_are_masked(redactor: Redactor) -> None:
    text = "request failed: headers={'Authorization': 'Bearer abcDEF123.xyz-_~+/='} bearer of bad news"

    redacted = redactor.redact(text)

    assert "abcDEF123" not in redacted
    assert "'Authorization': 'Bearer ***'" in redacted
    assert redacted.endswith("bearer of bad news")


def test_basic_authorization_and_key_value_pairs_in_text_are_masked(redactor: Redactor) -> None:
    text = "Authorization: Basic dXNlcjpwYXNzd29yZA== then GET /x?api_key=abc123&page=2 password: hunter22"

    redacted = redactor.redact(text)

    assert redacted == "Authorization: Basic *** then GET /x?api_key=***&page=2 password: ***"


def test_redacting_twice_gives_the_same_text(redactor: Redactor) -> None:
    once = redactor.redact(f"Authorization: Bearer {API_KEY} api_key={CLIENT_SECRET}")

    assert redactor.redact(once) == once


def test_text_without_secrets_is_unchanged(redactor: Redactor) -> None:
    text = "basic validation passed for project p-1 (3 tasks)"

    assert redactor.redact(text) == text


def test_values_shorter_than_six_characters_are_not_registered() -> None:
    redactor = Redactor(["abc", "", None])

    assert redactor.redact("abc is fine") == "abc is fine"


def test_longest_secret_is_hidden_whole_when_one_contains_another() -> None:
    redactor = Redactor(["secret", "secret-and-more"])

    assert redactor.redact("x secret-and-more y") == "x *** y"


def test_secret_repr_does_not_reveal_secrets(redactor: Redactor) -> None:
    assert API_KEY not in repr(redactor)


def test_logging_filter_redacts_messages_args_and_tracebacks(
    redactor: Redactor, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("qdi_mcp.test_redact")
    secret_filter = SecretFilter(redactor)
    caplog.handler.addFilter(secret_filter)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("token exchange with %s", CLIENT_SECRET)
            logger.info({"api_key": "raw-value-123"})
            logger.warning("header Authorization: Bearer %s", "abcdefghijklmnop")
            try:
                raise RuntimeError(f"boom {API_KEY}")
            except RuntimeError:
                logger.exception("call failed")
    finally:
        caplog.handler.removeFilter(secret_filter)

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == "token exchange with ***"
    assert "raw-value-123" not in messages[1]
    assert messages[2] == "header Authorization: Bearer ***"
    assert "boom ***" in caplog.text
    for secret in (API_KEY, CLIENT_SECRET, "abcdefghijklmnop", "raw-value-123"):
        assert secret not in caplog.text


def test_logging_filter_survives_a_bad_format_string(redactor: Redactor) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items for %s", ("many", API_KEY), None)

    assert SecretFilter(redactor).filter(record) is True
    assert API_KEY not in str(record.msg) and API_KEY not in str(record.args)


def test_the_runtime_secret_registry_reaches_earlier_and_later_redactors_and_forgets_dropped_ones() -> None:
    import gc

    from qdi_mcp.masking import SecretRegistry

    registry = SecretRegistry()
    registry.add("first-secret-value")
    redactor = Redactor()
    registry.subscribe(redactor.add_secret)
    registry.add("later-secret-value")
    assert redactor.redact_text("first-secret-value and later-secret-value") == "*** and ***"

    dropped = Redactor()
    registry.subscribe(dropped.add_secret)
    del dropped
    gc.collect()
    registry.add("third-secret-value")  # a dead subscriber is skipped, not called
    assert redactor.redact_text("third-secret-value") == "***"
