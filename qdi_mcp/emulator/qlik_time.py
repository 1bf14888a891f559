"""Qlik's wire formats for time: the emulator answers timestamps and durations as the service writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(epoch_seconds: float) -> str:
    """Qlik's timestamp format: ISO-8601 UTC with a `Z`, second precision."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hms_duration(seconds: float) -> str:
    """Qlik's duration format `HH:MM:SS` (hours may exceed 24)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"
