"""Reading Qlik's trace id off an answer, for the audit line of the request that changed something."""

from __future__ import annotations

import httpx

from qdi_mcp.api.traces import ChangeTraces, note_change, recording_changes, trace_id_of


def test_the_trace_header_wins_and_traceparent_gives_its_trace_id_field() -> None:
    w3c = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id_of(httpx.Headers({"X-Trace-Id": "abc123", "traceparent": w3c})) == "abc123"
    assert trace_id_of(httpx.Headers({"traceparent": w3c})) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of(httpx.Headers({})) is None


def test_an_absurd_or_unprintable_trace_header_is_not_copied() -> None:
    assert trace_id_of(httpx.Headers({"X-Trace-Id": "x" * 500})) is None
    assert trace_id_of(httpx.Headers({"X-Trace-Id": "a\x1bb"})) is None


def test_changes_are_noted_only_inside_a_recording() -> None:
    note_change(httpx.Headers({"X-Trace-Id": "outside"}))  # nobody records: ignored, no error
    traces = ChangeTraces()
    with recording_changes(traces):
        note_change(httpx.Headers({"X-Trace-Id": "first"}))
        note_change(httpx.Headers({}))
        note_change(httpx.Headers({"X-Trace-Id": "second"}))
    note_change(httpx.Headers({"X-Trace-Id": "after"}))
    assert traces.trace_ids == ["first", "second"] and traces.last == "second"
