"""GET /api/v1/spaces and /api/v1/data-connections over HTTP, in the shapes of Qlik's typings."""

from __future__ import annotations

import pytest
from emulator_http import client_for

from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import Emulator
from qdi_mcp.emulator.project_model import TASK_TYPES

DEV_SPACE = "6650f0c1a2b3c4d5e6f7d001"


@pytest.mark.anyio
async def test_spaces_page_with_links_next_and_count_every_match() -> None:
    async with client_for(Emulator(clock=ManualClock())) as http:
        first = (await http.get("/api/v1/spaces", params={"limit": 1})).json()
        second = (await http.get(first["links"]["next"]["href"])).json()
        bad = await http.get("/api/v1/spaces", params={"next": "not-a-cursor!"})
        wrong_type = await http.get("/api/v1/spaces", params={"type": "private"})
    assert first["meta"]["count"] == 2 and [s["name"] for s in first["data"]] == ["DEV_SPACE"]
    assert set(first["data"][0]) >= {"id", "name", "type", "tenantId", "links"}
    assert [s["name"] for s in second["data"]] == ["PROD_SPACE"] and "next" not in second["links"]
    assert bad.status_code == 400 and bad.json()["errors"][0]["source"] == {"parameter": "next"}
    assert wrong_type.status_code == 400


@pytest.mark.anyio
async def test_data_connections_filter_by_space_and_page_with_the_page_cursor() -> None:
    async with client_for(Emulator(clock=ManualClock())) as http:
        in_dev = (await http.get("/api/v1/data-connections", params={"spaceId": DEV_SPACE})).json()
        first = (await http.get("/api/v1/data-connections", params={"limit": 2})).json()
        pages = [first]
        while "next" in pages[-1]["links"]:
            pages.append((await http.get(pages[-1]["links"]["next"]["href"])).json())
        too_many = await http.get("/api/v1/data-connections", params={"limit": 101})
    assert {c["qName"] for c in in_dev["data"]} == {"MySQL_DEV", "Salesforce", "Snowflake_DEV"}
    assert all(c["space"] == DEV_SPACE for c in in_dev["data"])
    # ConnectionGet's required fields, the connect statement included (clients must drop it)
    assert set(in_dev["data"][0]) >= {"qID", "qName", "qType", "qConnectStatement", "links", "privileges", "tenant"}
    assert "page=" in first["links"]["next"]["href"]
    assert [len(page["data"]) for page in pages] == [2, 2, 2, 1] and first["meta"]["count"] == 7
    assert len({c["qID"] for page in pages for c in page["data"]}) == 7
    assert too_many.status_code == 400


def test_replicate_landing_is_a_known_task_type() -> None:
    assert "REPLICATE_LANDING" in TASK_TYPES and len(TASK_TYPES) == 16
