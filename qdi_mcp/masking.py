"""The placeholders that stand in for hidden values. A bottom module: the guard's redaction writes them, and a
tool that takes values back from an agent (bindings) must recognise them, so both read them here."""

MASK = "***"
CONFIRMATION_TOKEN_MASK = "<redacted>"  # noqa: S105 (a placeholder, not a secret)
