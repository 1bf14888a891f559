"""Keep secrets out of logs, audit lines and tool results.

:class:`Redactor` hides three things:

- registered secret values (API key, client secret, access tokens) wherever they appear in a string;
- the value of any mapping key whose *name* looks secret (``api_key``, ``clientSecret``, ``Authorization``,
  ``x-api-key``...) → ``"***"``; ``confirmation_token`` is a bearer-like one-shot credential rather than a
  tenant secret, and shows as ``"<redacted>"`` so an audit reader can still see that one was given;
- credentials in free text: ``Bearer abc…`` → ``Bearer ***``, ``Authorization: Basic abc…`` →
  ``Authorization: Basic ***``, and ``api_key=…`` or ``"client_secret": "…"`` → value ``***``.

:class:`SecretFilter` applies a Redactor to log records; install it on handlers (a logger's own filters do
not see records propagated from child loggers).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from qdi_mcp.masking import CONFIRMATION_TOKEN_MASK, MASK, RUNTIME_SECRETS
from qdi_mcp.specs import CONFIRMATION_TOKEN_ARGUMENT

__all__ = ["CONFIRMATION_TOKEN_MASK", "MASK", "Redactor", "SecretFilter", "is_secret_key"]

MIN_SECRET_LENGTH = 6

_SECRET_KEY_NAMES = frozenset(
    {
        "api_key", "apikey", "x_api_key", "client_secret", "secret", "password", "passwd", "passphrase",
        "token", "access_token", "refresh_token", "id_token", "bearer", "authorization",
        "proxy_authorization", "cookie", "set_cookie", "private_key", "credentials",
    }
)  # fmt: skip
_SECRET_KEY_SUFFIXES = ("_secret", "_password", "_api_key", "_access_token", "_refresh_token", "_private_key")

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# RFC 6750 token characters; 8+ of them so that prose such as "bearer of bad news" stays untouched.
_BEARER_VALUE = re.compile(r"\b(Bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# An Authorization header written out in text, whatever its scheme (Basic, Token, or none).
_AUTHORIZATION_VALUE = re.compile(
    r"""(?ix)
    \b((?:proxy[_-]?)?authorization["']?\s*[:=]\s*["']?)
    (?:([A-Za-z]+)\s+)?
    ([^\s"',;}\]]+)
    """
)
# `api_key=abc`, `"client_secret": "abc"`, `password: abc` in free text (query strings, reprs, messages).
_KEY_VALUE_IN_TEXT = re.compile(
    r"""(?ix)
    \b(api[_-]?key|client[_-]?secret|password|passwd|access[_-]?token|refresh[_-]?token|id[_-]?token
       |confirmation[_-]?token)
    (["']?\s*[:=]\s*["']?)
    ([^\s"'&,;}\]]+)
    """
)


def is_secret_key(name: str) -> bool:
    """Whether a mapping key's name says its value is a secret (any case, snake, camel or kebab)."""
    normalized = _normalize_key(name)
    return normalized in _SECRET_KEY_NAMES or normalized.endswith(_SECRET_KEY_SUFFIXES)


def _normalize_key(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower().replace("-", "_").replace(" ", "_")


class Redactor:
    """Replaces secret values in strings and nested JSON-like structures. Safe to share between threads."""

    def __init__(self, secrets: Iterable[str | None] = (), *, by_key_name: bool = True) -> None:
        # by_key_name=False keeps values under secret-looking names (a binding named "sourcePassword") and
        # "password=..." in text: for tenant data handed back to the agent, which may write it back to Qlik,
        # masking them would corrupt the tenant. Registered secrets and Authorization/Bearer values are
        # masked either way.
        self._by_key_name = by_key_name
        self._secrets: frozenset[str] = frozenset()
        self._secret_pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for value in secrets:
            self.add_secret(value)
        # Secrets the client obtains at run time (OAuth access tokens) are hidden by value as soon as they exist.
        RUNTIME_SECRETS.subscribe(self.add_secret)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def add_secret(self, value: str | None) -> None:
        """Register a value to hide. Values shorter than 6 characters are ignored: hiding them would mangle
        ordinary text, and a secret that short is not worth protecting this way."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._secrets:
                return
            self._secrets = self._secrets | {value}
            # Longest first, so a secret that contains another is hidden whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._secret_pattern = re.compile("|".join(re.escape(secret) for secret in ordered))

    def redact(self, obj: Any) -> Any:
        """A copy of ``obj`` with secrets hidden; mappings become dicts, lists and tuples become lists."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            return {self._redact_key(key): self._redact_value(key, value) for key, value in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact(item) for item in obj]
        return obj

    def redact_text(self, text: str) -> str:
        pattern = self._secret_pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        # Cheap membership tests first: most log lines mention neither, and the regexes are the slow part.
        lowered = text.lower()
        if "authorization" in lowered:
            text = _AUTHORIZATION_VALUE.sub(_mask_authorization, text)
        if "bearer" in lowered:
            text = _BEARER_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        if self._by_key_name and any(word in lowered for word in ("key", "secret", "pass", "token")):
            text = _KEY_VALUE_IN_TEXT.sub(_mask_key_value, text)
        return text

    def _redact_key(self, key: Any) -> Any:
        return self.redact_text(key) if isinstance(key, str) else key

    def _redact_value(self, key: Any, value: Any) -> Any:
        if self._by_key_name and isinstance(key, str) and value is not None:
            if _normalize_key(key) == CONFIRMATION_TOKEN_ARGUMENT:
                return CONFIRMATION_TOKEN_MASK
            if is_secret_key(key):
                return MASK
        return self.redact(value)


def _mask_authorization(match: re.Match[str]) -> str:
    prefix, scheme, value = match.group(1), match.group(2), match.group(3)
    if value in (MASK, CONFIRMATION_TOKEN_MASK):
        return match.group(0)
    return f"{prefix}{scheme} {MASK}" if scheme else f"{prefix}{MASK}"


def _mask_key_value(match: re.Match[str]) -> str:
    if match.group(3) in (MASK, CONFIRMATION_TOKEN_MASK):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{MASK}"


class SecretFilter(logging.Filter):
    """Logging filter that redacts the formatted message, exception text and stack of each record."""

    def __init__(self, redactor: Redactor, name: str = "") -> None:
        super().__init__(name)
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A bad format string must not make logging raise; keep the pieces, redacted.
            record.msg = self._redactor.redact_text(str(record.msg))
            record.args = tuple(self._redactor.redact_text(str(arg)) for arg in _args_tuple(record.args))
        else:
            record.msg = self._redactor.redact_text(message)
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters render exc_info after filters run; render it now so the traceback gets redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact_text(record.stack_info)
        return True


def _args_tuple(args: Any) -> tuple[Any, ...]:
    if args is None:
        return ()
    if isinstance(args, tuple):
        return args
    return (args,)
