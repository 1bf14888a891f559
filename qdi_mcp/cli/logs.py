"""Logging to stderr with secrets redacted at the handler, so no logger anywhere can leak them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from qdi_mcp.guard.redact import Redactor, SecretFilter


def configure_logging(level: str, secrets: Iterable[str]) -> Redactor:
    redactor = Redactor()
    for secret in secrets:
        redactor.add_secret(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(redactor))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # The SDK and HTTP libraries are chatty at INFO; keep their warnings only unless debugging.
    if root.level > logging.DEBUG:
        for noisy in ("httpx", "httpcore", "mcp", "uvicorn.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor
