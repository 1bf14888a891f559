"""Fault injection: each kind, in process (httpx exceptions) and served (ASGI level), times, after_execution."""

from __future__ import annotations

import httpx
import pytest
from emulator_http import API, client_for

from qdi_mcp.clock import ManualClock, SpeedClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator

DEV_SPACE = "6650f0c1a2b3c4d5e6f7d001"


def start_url(emu: Emulator) -> str:
    project_id = emu.project_id("Customer 360")
    return f"{API}/{project_id}/di-tasks/{emu.task_id(project_id, 'SALES MART')}/runtime/actions/start"


@pytest.mark.anyio
async def test_status_fault_answers_in_the_envelope_with_retry_after_then_clears(emu: Emulator) -> None:
    emu.faults.inject("list_projects", "status", status=503, retry_after=2)
    async with client_for(emu) as http:
        faulty = await http.get(API)
        healthy = await http.get(API)
    assert faulty.status_code == 503 and faulty.headers["retry-after"] == "2"
    body = faulty.json()
    assert body["errors"][0]["status"] == 503 and body["traceId"] == faulty.headers["x-trace-id"]
    assert healthy.status_code == 200 and len(emu.faults) == 0


@pytest.mark.anyio
async def test_times_n_fires_n_times(emu: Emulator) -> None:
    emu.faults.inject("list_projects", "status", status=502, times=3)
    async with client_for(emu) as http:
        statuses = [(await http.get(API)).status_code for _ in range(4)]
    assert statuses == [502, 502, 502, 200]
    assert emu.requests["list_projects"] == 4 and emu.responses["list_projects 200"] == 1


@pytest.mark.anyio
async def test_html_fault_is_an_html_error_page(emu: Emulator) -> None:
    emu.faults.inject("get_project", "html", status=504)
    async with client_for(emu) as http:
        response = await http.get(f"{API}/{emu.project_id('Customer 360')}")
    assert response.status_code == 504 and response.headers["content-type"].startswith("text/html")
    assert "<h1>504 Gateway Timeout</h1>" in response.text


@pytest.mark.anyio
async def test_invalid_json_fault_is_a_200_with_a_broken_body(emu: Emulator) -> None:
    emu.faults.inject("list_projects", "invalid_json")
    async with client_for(emu) as http:
        response = await http.get(API)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


@pytest.mark.anyio
async def test_refuse_is_a_connect_error_and_never_reaches_the_service(emu: Emulator) -> None:
    emu.faults.inject("create_project", "refuse")
    async with client_for(emu) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(API, json={"name": "Refused", "space": DEV_SPACE})
        retried = await http.post(API, json={"name": "Refused", "space": DEV_SPACE})
    assert retried.status_code == 201
    assert emu.requests["create_project"] == 1 and emu.counters["create_project"] == 1


@pytest.mark.anyio
async def test_drop_is_a_remote_protocol_error(emu: Emulator) -> None:
    emu.faults.inject("list_projects", "drop")
    async with client_for(emu) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(API)


@pytest.mark.anyio
async def test_timeout_is_a_read_timeout_and_the_operation_did_not_run(emu: Emulator) -> None:
    emu.faults.inject("start_task", "timeout")
    async with client_for(emu) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(start_url(emu))
    project_id = emu.project_id("Customer 360")
    assert emu.task_run_state(project_id, emu.task_id(project_id, "SALES MART")) is None
    assert emu.counters["start_task"] == 0 and emu.requests["start_task"] == 1


@pytest.mark.anyio
async def test_delay_longer_than_the_read_timeout_times_out_and_shorter_does_not(emu: Emulator) -> None:
    emu.faults.inject("list_projects", "delay", delay=10.0)
    emu.faults.inject("list_projects", "delay", delay=1.0)
    async with client_for(emu, read_timeout=5.0) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(API)
        slow_but_fine = await http.get(API)
    assert slow_but_fine.status_code == 200 and slow_but_fine.json()["projects"]
    assert emu.clock.now() == ManualClock().now()  # in process, a delay does not move or wait on time


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "raised"),
    [("timeout", httpx.ReadTimeout), ("drop", httpx.RemoteProtocolError), ("delay", httpx.ReadTimeout)],
)
async def test_after_execution_the_operation_ran_once_although_the_reply_was_lost(
    emu: Emulator, kind: str, raised: type[Exception]
) -> None:
    emu.faults.inject("start_task", kind, after_execution=True, delay=30.0 if kind == "delay" else 0.0)
    url = start_url(emu)
    async with client_for(emu) as http:
        with pytest.raises(raised):
            await http.post(url)
        second = await http.post(url)  # a naive retry: the task is already starting
    project_id = emu.project_id("Customer 360")
    assert emu.task_run_state(project_id, emu.task_id(project_id, "SALES MART")) == "STARTING"
    assert emu.counters["start_task"] == 1
    assert second.status_code == 400 and "already running" in second.json()["errors"][0]["detail"]


@pytest.mark.anyio
async def test_after_execution_status_fault_hides_a_successful_create(emu: Emulator) -> None:
    emu.faults.inject("create_project", "status", status=500, after_execution=True)
    async with client_for(emu) as http:
        response = await http.post(API, json={"name": "Ghost", "space": DEV_SPACE})
        listed = (await http.get(API)).json()["projects"]
    assert response.status_code == 500
    assert "Ghost" in {p["name"] for p in listed} and emu.counters["create_project"] == 1


@pytest.mark.anyio
async def test_after_execution_short_delay_returns_the_real_response(emu: Emulator) -> None:
    emu.faults.inject("create_project", "delay", delay=0.5, after_execution=True)
    async with client_for(emu) as http:
        response = await http.post(API, json={"name": "Slow", "space": DEV_SPACE})
    assert response.status_code == 201 and response.json()["name"] == "Slow"


@pytest.mark.anyio
async def test_faults_match_method_and_path_globs_and_operation_globs(emu: Emulator) -> None:
    project_id = emu.project_id("Customer 360")
    emu.faults.inject("GET /api/v1/di-projects/*/di-tasks", "status", status=429, retry_after=1.5)
    emu.faults.inject("*_task", "status", status=503)
    async with client_for(emu) as http:
        untouched = await http.get(f"{API}/{project_id}")
        tasks = await http.get(f"{API}/{project_id}/di-tasks")
        task = await http.get(f"{API}/{project_id}/di-tasks/{emu.task_id(project_id, 'SALES MART')}")
    assert untouched.status_code == 200
    assert tasks.status_code == 429 and tasks.headers["retry-after"] == "1.5"
    assert task.status_code == 503


def test_inject_rejects_nonsense() -> None:
    plan = Emulator(clock=ManualClock()).faults
    for kwargs in (
        {"kind": "explode"},
        {"kind": "status", "times": 0},
        {"kind": "status", "status": 99},
        {"kind": "delay"},
        {"kind": "refuse", "after_execution": True},
    ):
        with pytest.raises(ValueError):
            plan.inject("list_projects", **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_faults_over_http_control_routes(emu: Emulator) -> None:
    async with client_for(emu) as http:
        created = await http.post(
            "/_emulator/faults", json={"target": "list_projects", "kind": "status", "status": 500, "times": 2}
        )
        listed = (await http.get("/_emulator/faults")).json()["faults"]
        first = await http.get(API)
        cleared = await http.delete("/_emulator/faults")
        second = await http.get(API)
        bad = await http.post("/_emulator/faults", json={"target": "x", "kind": "boom"})
        snapshot = await http.get("/_emulator/snapshot")
    assert created.status_code == 201 and listed[0]["remaining"] == 2
    assert first.status_code == 500 and cleared.status_code == 204 and second.status_code == 200
    assert bad.status_code == 400 and "boom" in bad.json()["errors"][0]["detail"]
    assert snapshot.status_code == 200  # control routes are never faulted


@pytest.mark.anyio
async def test_control_routes_need_the_api_key_and_report_counters(emu: Emulator) -> None:
    async with client_for(emu) as http:
        await http.post(API, json={"name": "Counted", "space": DEV_SPACE})
        counters = (await http.get("/_emulator/counters")).json()
        advanced = await http.post("/_emulator/clock/advance", json={"seconds": 90})
        negative = await http.post("/_emulator/clock/advance", json={"seconds": -1})
        anonymous = await http.get("/_emulator/snapshot", headers={"Authorization": ""})
    assert counters["counters"] == {"create_project": 1} and counters["requests"]["create_project"] == 1
    assert advanced.status_code == 200 and emu.clock.now() == ManualClock().now() + 90
    assert negative.status_code == 400
    assert anonymous.status_code == 401


@pytest.mark.anyio
async def test_clock_advance_is_refused_on_a_real_time_clock() -> None:
    emu = Emulator(clock=SpeedClock(1.0))
    async with client_for(emu) as http:
        response = await http.post("/_emulator/clock/advance", json={"seconds": 5})
    assert response.status_code == 400 and "manual clock" in response.json()["errors"][0]["detail"]


async def call_served(emu: Emulator, method: str, path: str) -> list[dict]:
    """Call the ASGI app the way uvicorn does (no in-process transport) and collect what it sends."""
    sent: list[dict] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8765"), (b"authorization", f"Bearer {DEFAULT_API_KEY}".encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8765),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await emu.app(scope, receive, send)
    return sent


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["drop", "refuse"])
async def test_served_drop_and_refuse_cut_the_response_mid_body(emu: Emulator, kind: str) -> None:
    emu.faults.inject("list_projects", kind)
    start, body = await call_served(emu, "GET", API)  # and nothing more: uvicorn then closes the socket
    promised = int(dict(start["headers"])[b"content-length"])
    assert body["more_body"] is True and len(body["body"]) < promised


@pytest.mark.anyio
async def test_served_after_execution_drop_sends_part_of_the_real_response(emu: Emulator) -> None:
    emu.faults.inject("list_projects", "drop", after_execution=True)
    sent = await call_served(emu, "GET", API)
    assert len(sent) == 2 and sent[1]["more_body"] is True
    assert sent[0]["status"] == 200 and sent[1]["body"].startswith(b'{"projects":')
    assert emu.requests["list_projects"] == 1
