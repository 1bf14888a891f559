"""The placeholders that stand in for hidden values, and the secrets that only exist at run time.

A bottom module: the guard's redaction writes the placeholders, and a tool that takes values back from an agent
(bindings) must recognise them, so both read them here. `RUNTIME_SECRETS` is where the API client registers a
secret it obtains while running (an OAuth access token); every redactor of the process subscribes to it, so such a
secret is masked by value in results, audit lines and logs from the moment it exists, not only where it follows
the word "Bearer".
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

MASK = "***"
CONFIRMATION_TOKEN_MASK = "<redacted>"  # noqa: S105 (a placeholder, not a secret)


class SecretRegistry:
    """Secrets learnt at run time, and the redactors that must hide them. Subscribers are held weakly, so a
    redactor that is no longer used (a finished test, a closed server) is not kept alive by this registry."""

    def __init__(self) -> None:
        self._secrets: list[str] = []
        self._subscribers: list[weakref.WeakMethod[Callable[[str], None]]] = []
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.append(secret)
            subscribers = list(self._subscribers)
        for reference in subscribers:
            add_secret = reference()
            if add_secret is not None:
                add_secret(secret)

    def subscribe(self, add_secret: Callable[[str], None]) -> None:
        """Call the bound method `add_secret` with every secret registered so far and every later one."""
        with self._lock:
            self._subscribers = [ref for ref in self._subscribers if ref() is not None]
            self._subscribers.append(weakref.WeakMethod(add_secret))
            known = list(self._secrets)
        for secret in known:
            add_secret(secret)


RUNTIME_SECRETS = SecretRegistry()
