"""Fault injection: make chosen requests fail the way real networks and services fail.

    emu.faults.inject("start_task", "timeout", after_execution=True)   # executed, but the reply is lost
    emu.faults.inject("GET /api/v1/di-projects/*", "status", status=503, retry_after=2, times=2)

Targets are an operation name (or a glob over names, e.g. "*_task") or "METHOD /path-glob" ("*" for any
method). The first fault that matches a request, in injection order, fires and uses up one of its `times`.

Kinds:
- status: that status code with the JSON error envelope (and Retry-After when given);
- html: an HTML error page with that status (default 502), like a proxy in front of the service;
- invalid_json: 200 with a broken JSON body;
- delay: the response comes `delay` seconds late;
- drop: the connection is reset in the middle of the response body;
- refuse: the connection is refused: the request never reaches the service;
- timeout: no response within the client's read timeout.

With `after_execution=True` the operation runs first (state changes, counters increment) and only then is
the response lost or spoiled: how tests prove that a client executed something at most once.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("status", "html", "invalid_json", "delay", "drop", "refuse", "timeout")
# Kinds that end the exchange below HTTP: realised by the transport (in process) or the socket (served).
TRANSPORT_KINDS = frozenset({"drop", "refuse", "timeout"})
DEFAULT_STATUS = {"status": 500, "html": 502}


@dataclass
class Fault:
    target: str
    kind: str
    remaining: int
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    after_execution: bool = False
    fired: int = 0

    def matches(self, operation: str, method: str, path: str) -> bool:
        if " " in self.target:
            target_method, target_path = self.target.split(" ", 1)
            method_ok = target_method == "*" or target_method.upper() == method.upper()
            return method_ok and fnmatch.fnmatchcase(path, target_path.strip())
        return fnmatch.fnmatchcase(operation, self.target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "remaining": self.remaining,
            "status": self.status,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "afterExecution": self.after_execution,
            "fired": self.fired,
        }


class FaultPlan:
    """The faults waiting to fire, in injection order."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def inject(
        self,
        operation_or_pattern: str,
        kind: str,
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        after_execution: bool = False,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer, got {times!r}")
        if not operation_or_pattern or not operation_or_pattern.strip():
            raise ValueError("a fault needs a target: an operation name or 'METHOD /path-glob'")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status!r}")
        if delay < 0 or (retry_after is not None and retry_after < 0):
            raise ValueError("delay and retry_after cannot be negative")
        if kind == "refuse" and after_execution:
            raise ValueError("a refused connection never reaches the service: 'refuse' cannot be after_execution")
        if kind == "delay" and delay <= 0:
            raise ValueError("a 'delay' fault needs delay > 0 (seconds)")
        fault = Fault(
            target=operation_or_pattern.strip(),
            kind=kind,
            remaining=times,
            status=status if status is not None else DEFAULT_STATUS.get(kind),
            retry_after=retry_after,
            delay=float(delay),
            after_execution=after_execution,
        )
        self._faults.append(fault)
        return fault

    def take(self, operation: str, method: str, path: str) -> Fault | None:
        """The fault that fires for this request (using up one of its times), or None."""
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(operation, method, path):
                fault.remaining -= 1
                fault.fired += 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        return list(self._faults)

    def __len__(self) -> int:
        return len(self._faults)
