"""Raw HTTP against the in-process emulator, for the emulator's own tests (no API client in between)."""

from __future__ import annotations

import httpx

from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator

API = "/api/v1/di-projects"


def client_for(emu: Emulator, *, key: str | None = DEFAULT_API_KEY, read_timeout: float = 5.0) -> httpx.AsyncClient:
    """`key=None` sends no Authorization header at all."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(
        transport=emu.transport(),
        base_url="http://127.0.0.1:8765",
        headers=headers,
        timeout=httpx.Timeout(5.0, read=read_timeout),
    )
