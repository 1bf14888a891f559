"""A discrete-event queue: effects that happen at a given emulated time.

The emulator never runs background tasks. State machines schedule their future transitions here and the
emulator applies every event that is due (in time order) before it reads or changes state, so the state is
always what it would have been had time flowed continuously.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

Effect = Callable[[float], None]  # receives the event's own time, so timestamps are exact


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    effect: Effect = field(compare=False)


class EventQueue:
    def __init__(self) -> None:
        self._heap: list[_Event] = []
        self._seq = itertools.count()

    def schedule(self, at: float, effect: Effect) -> None:
        heapq.heappush(self._heap, _Event(at, next(self._seq), effect))

    def run_until(self, now: float) -> int:
        """Apply every event due at or before `now`, including ones that earlier events schedule."""
        applied = 0
        while self._heap and self._heap[0].at <= now:
            event = heapq.heappop(self._heap)
            event.effect(event.at)
            applied += 1
        return applied

    def __len__(self) -> int:
        return len(self._heap)

    def next_time(self) -> float | None:
        return self._heap[0].at if self._heap else None
