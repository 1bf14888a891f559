import pytest

from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import Emulator


@pytest.fixture
def emu() -> Emulator:
    # Nothing moves until a test advances the clock.
    return Emulator(clock=ManualClock())
