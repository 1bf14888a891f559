"""The API client's clock protocol (`monotonic`, `sleep`) on the emulator's manual clock: one class for the
evals, the benchmarks and the tests."""

from __future__ import annotations

import anyio.lowlevel

from qdi_mcp.emulator import ManualClock


class VirtualClock:
    """A sleep moves emulator time forward to when the sleeper should wake (never backwards), so waits see
    their deadlines pass and the emulator's state machines move in step, without sleeping for real."""

    def __init__(self, emulator_clock: ManualClock) -> None:
        self.emulator_clock = emulator_clock

    def monotonic(self) -> float:
        return self.emulator_clock.now()

    async def sleep(self, seconds: float) -> None:
        wake_at = self.emulator_clock.now() + max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()  # let other tasks run, as a real sleep would
        now = self.emulator_clock.now()
        if wake_at > now:
            self.emulator_clock.advance(wake_at - now)
