"""Generated ids (actions, traces): reproducible for a pinned seed, different between two unpinned runs (issue 19,
defect 12: two demo runs named the same trace ids, so an audit line or a support ticket could not tell them apart)."""

from __future__ import annotations

import re

import pytest
from emulator_http import API, client_for

from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import Emulator

ORDERS_ID = "6650f0c1a2b3c4d5e6f70003"


async def _ids_of_one_run(emulator: Emulator) -> list[str]:
    """The trace ids of two reads and the action id of a validation, as a client sees them."""
    async with client_for(emulator) as http:
        first = await http.get(API)
        second = await http.get(f"{API}/{ORDERS_ID}")
        validation = await http.post(f"{API}/{ORDERS_ID}/actions/validate", json={})
    assert validation.status_code in (200, 201, 202), validation.text
    return [first.headers["x-trace-id"], second.headers["x-trace-id"], validation.json()["actionId"]]


@pytest.mark.anyio
async def test_two_runs_without_a_seed_name_different_trace_and_action_ids() -> None:
    one = await _ids_of_one_run(Emulator(clock=ManualClock()))
    other = await _ids_of_one_run(Emulator(clock=ManualClock()))
    assert len(set(one)) == 3  # distinct within a run too
    assert not set(one) & set(other)


@pytest.mark.anyio
async def test_a_pinned_seed_gives_the_same_ids_run_after_run() -> None:
    one = await _ids_of_one_run(Emulator(clock=ManualClock(), seed=7))
    again = await _ids_of_one_run(Emulator(clock=ManualClock(), seed=7))
    other_seed = await _ids_of_one_run(Emulator(clock=ManualClock(), seed=8))
    assert one == again
    assert one != other_seed


def test_ids_keep_qlik_s_shapes() -> None:
    ids = Emulator(clock=ManualClock()).tenant.ids
    assert re.fullmatch(r"[0-9a-f]{32}", ids.trace_id())
    assert re.fullmatch(r"[0-9a-f]{24}", ids.action_id())
