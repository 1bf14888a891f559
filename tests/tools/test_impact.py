"""What the preview checks put into sentences stays short: a long list of names ends in "and N more", and the
structured findings keep the full count beside the capped ids."""

from __future__ import annotations

from qdi_mcp.tenant_text import plain, tenant
from qdi_mcp.tools.impact import SHOWN_ITEMS, SHOWN_NAMES, _capped, _names


def test_names_in_a_sentence_are_capped_and_each_is_marked_as_tenant_text() -> None:
    names = [f"TASK {index}" for index in range(SHOWN_NAMES + 3)]
    text = _names(names)
    assert text.endswith(" and 3 more")
    assert text.count(tenant("TASK 0")[0]) == SHOWN_NAMES
    assert plain(text) == ", ".join(names[:SHOWN_NAMES]) + " and 3 more"
    assert _names(names[:2]) == f"{tenant('TASK 0')}, {tenant('TASK 1')}"


def test_structured_task_ids_are_capped_with_their_full_count() -> None:
    ids = [f"t{index}" for index in range(SHOWN_ITEMS + 2)]
    assert _capped("downstream", ids) == {"downstream": ids[:SHOWN_ITEMS], "downstream_count": SHOWN_ITEMS + 2}
    assert _capped("readers", ids[:1]) == {"readers": ["t0"]}
