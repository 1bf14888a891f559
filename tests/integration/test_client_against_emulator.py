"""The API client works against the emulator unchanged: every one of the 20 methods, success and errors.
This is the contract between the two halves written from the same seed."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import AsyncIterator

import pytest
from qdi_data import FIXTURE_ZIP

from qdi_mcp.api import (
    ApiKeyAuth,
    BadRequestError,
    CreateProjectRequest,
    NotFoundError,
    OAuthClientCredentials,
    QlikClient,
)
from qdi_mcp.api.errors import AuthError
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import (
    DEFAULT_API_KEY,
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    Emulator,
)
from qdi_mcp.tools.polling import poll_until

pytestmark = pytest.mark.anyio
URL = "http://127.0.0.1:8765"


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(clock=ManualClock())


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[QlikClient]:
    async with QlikClient(URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport()) as qlik:
        yield qlik


async def test_projects_tasks_and_bindings_read_back_what_the_tenant_holds(
    client: QlikClient, emulator: Emulator
) -> None:
    projects = await client.list_projects()
    assert {p.id for p in projects} == set(emulator.tenant.projects)
    pid = emulator.project_id("Customer 360")
    space = (await client.get_project(pid)).space_id
    assert {p.id for p in await client.list_projects(space_id=space)} <= {p.id for p in projects}
    tasks = await client.list_tasks(pid)
    assert len(tasks) == 6 and all(t.type for t in tasks)
    assert (await client.get_task(pid, tasks[0].id)).name == tasks[0].name
    bindings = await client.get_bindings(pid)
    assert bindings.variables == emulator.bindings(pid)
    recalculated = await client.get_bindings(pid, recalculate=True)
    task_keys = {k for k in bindings.variables if k.startswith("task.")}
    assert task_keys and task_keys <= set(recalculated.variables)
    assert all(recalculated.variables[k] == bindings.variables[k] for k in task_keys)


async def test_create_project_and_update_bindings(client: QlikClient, emulator: Emulator) -> None:
    space = (await client.get_project(emulator.project_id("Customer 360"))).space_id
    created = await client.create_project(
        CreateProjectRequest(name="New one", type="DATA_MOVEMENT", space=space, platform_type="SNOWFLAKE")
    )
    assert (await client.get_project(created.id)).name == "New one"
    await client.update_bindings(created.id, {"projectName": "New one"})
    assert (await client.get_bindings(created.id)).variables == {"projectName": "New one"}
    with pytest.raises(BadRequestError) as bad:
        await client.create_project(CreateProjectRequest(name="New one", type="DATA_MOVEMENT", space=space))
    assert bad.value.status == 400 and bad.value.trace_id


async def test_actions_prepare_validate_and_recreate_run_to_completion(client: QlikClient, emulator: Emulator) -> None:
    pid = emulator.project_id("Customer 360")
    tid = emulator.task_id(pid, "CRM STORAGE")
    refs = [
        await client.prepare_project(pid),
    ]
    emulator.clock.advance(600)
    refs += [
        await client.validate_project(pid, selected_task_ids=[tid]),
        await client.prepare_task(pid, tid, allow_recreate=False),
        await client.validate_task(pid, tid),
    ]
    emulator.clock.advance(600)
    refs.append(await client.recreate_task_datasets(pid, tid))
    emulator.clock.advance(600)
    for ref in refs:
        action = await client.get_action(ref.action_id, detailed=True)
        assert action.state == "COMPLETED", action
        assert action.task_details and action.task_progress and action.task_progress.completed >= 1
    summary = await client.get_action(refs[0].action_id)
    assert summary.task_details == [] and summary.task_progress is not None


async def test_runtime_start_reload_state_datasets_and_stop(client: QlikClient, emulator: Emulator) -> None:
    pid = emulator.project_id("Customer 360")
    tid = emulator.task_id(pid, "CRM STORAGE")
    datasets = await client.get_task_datasets_state(pid, tid)
    assert datasets and all(d.dataset_id for d in datasets)
    reload = await client.request_task_reload(
        pid, tid, reload_strategy="COMPARE_AND_APPLY", dataset_ids=[datasets[0].dataset_id]
    )
    assert reload.success is True
    await client.start_task(pid, tid)
    state = await client.get_task_state(pid, tid)
    assert state.last_run and state.last_run.state == "STARTING"
    assert state.run_readiness and state.run_readiness.state == "ALREADY_RUNNING"
    emulator.clock.advance(3)
    await client.stop_task(pid, tid)
    emulator.clock.advance(30)
    assert (await client.get_task_state(pid, tid)).last_run.state == "CANCELED"


async def test_export_then_import_round_trips_the_tasks(client: QlikClient, emulator: Emulator) -> None:
    dev = emulator.project_id("Customer 360")
    prod = emulator.project_id("Customer 360 (prod)")
    data = await client.export_project(dev, mode="ALL", include_bindings=True)
    assert "qtcp_project.yaml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    # a YAML zip goes through import-async (the sync import takes legacy JSON only)
    with pytest.raises(BadRequestError, match="import-async"):
        await client.import_project(prod, data)
    ref = await client.import_project_async(prod, data)
    emulator.clock.advance(600)
    assert (await client.get_action(ref.action_id)).state == "COMPLETED"
    assert {(t.id, t.name, t.type) for t in await client.list_tasks(prod)} == {
        (t.id, t.name, t.type) for t in await client.list_tasks(dev)
    }


async def test_the_real_qlik_export_imports_with_its_nine_tasks(client: QlikClient, emulator: Emulator) -> None:
    prod = emulator.project_id("Customer 360 (prod)")
    ref = await client.import_project_async(prod, FIXTURE_ZIP.read_bytes(), filename=FIXTURE_ZIP.name)
    emulator.clock.advance(600)
    assert (await client.get_action(ref.action_id, detailed=True)).type == "PROJECT_IMPORT"
    names = {t.name for t in await client.list_tasks(prod)}
    assert names == {
        "CHURN LANDING",
        "SALESFORCE LANDING",
        "DEMOGRAPHICS REGISTERED",
        "CHURN STORAGE",
        "SALESFORCE STORAGE",
        "DEMOGRAPHICS STORAGE",
        "CHURN TRANSFORM",
        "SALESFORCE TRANSFORM",
        "DATA MART",
    }


async def test_errors_carry_status_code_detail_and_trace_id(client: QlikClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        await client.get_project("does-not-exist")
    assert missing.value.status == 404 and missing.value.errors[0].detail and missing.value.trace_id
    with pytest.raises(NotFoundError):
        await client.get_action("nope")
    with pytest.raises(BadRequestError) as broken:
        await client.import_project(next(p.id for p in await client.list_projects()), b"not a zip")
    assert "zip" in (broken.value.errors[0].detail or "").lower()


async def test_a_wrong_key_is_refused_and_oauth_client_credentials_work(emulator: Emulator) -> None:
    async with QlikClient(URL, auth=ApiKeyAuth("wrong-key-123"), transport=emulator.transport()) as wrong:
        with pytest.raises(AuthError) as refused:
            await wrong.list_projects()
        assert refused.value.status == 401
    oauth = OAuthClientCredentials(DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)
    async with QlikClient(URL, auth=oauth, transport=emulator.transport()) as qlik:
        assert len(await qlik.list_projects()) >= 4


async def test_a_client_wait_on_the_clock_it_shares_with_the_emulator_moves_the_tenant() -> None:
    clock = ManualClock()
    emulator = Emulator(clock=clock)
    pid = emulator.project_id("Customer 360")
    async with QlikClient(URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock) as qlik:
        ref = await qlik.prepare_project(pid)
        assert (await qlik.get_action(ref.action_id)).state != "COMPLETED"
        started = clock.now()

        # nobody advances the clock: only the wait's own sleeps move the tenant's time
        outcome = await poll_until(
            lambda: qlik.get_action(ref.action_id),
            lambda action: action.state == "COMPLETED",
            timeout=600,
            clock=clock,
            rng=random.Random(1),
        )

    assert outcome.done and outcome.polls > 1
    assert emulator.tenant.now() == clock.now() > started
    assert emulator.tenant.actions[ref.action_id].end is not None
