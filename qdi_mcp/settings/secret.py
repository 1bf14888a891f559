"""The signing secret of confirmation tokens, decoded from `QDI_MCP_SECRET`."""

from __future__ import annotations

import base64
import binascii
import secrets

MIN_SECRET_BYTES = 32


def secret_from_env(value: str | None) -> bytes:
    """Signing secret from ``QDI_MCP_SECRET``, or a random per-process secret when it is unset or blank.

    ``hex:<hex digits>`` and ``base64:<base64>`` are decoded; any other value is used as UTF-8 text.
    Either way at least 32 bytes are required. Replicas that must accept each other's tokens need the
    same value.
    """
    if value is None or not value.strip():
        return secrets.token_bytes(MIN_SECRET_BYTES)
    text = value.strip()
    if text.startswith("hex:"):
        try:
            secret = bytes.fromhex(text[4:])
        except ValueError:
            raise ValueError("QDI_MCP_SECRET starts with 'hex:' but the rest is not hexadecimal") from None
    elif text.startswith("base64:"):
        try:
            secret = base64.b64decode(text[7:], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("QDI_MCP_SECRET starts with 'base64:' but the rest is not base64") from None
    else:
        secret = text.encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(
            f"QDI_MCP_SECRET is too short: {len(secret)} bytes, at least {MIN_SECRET_BYTES} are required; "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    return secret
