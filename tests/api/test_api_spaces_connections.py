"""Spaces and data connections in the client: Qlik's documented answers, paging, and credentials never read."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from qdi_testkit import respx_client

from qdi_mcp.api import InvalidParameterError, QlikClient, RetryPolicy, ServerError
from qdi_mcp.api.models import CONNECTION_SECRET_FIELDS, DataConnection, Project

TENANT = "https://acme.eu.qlikcloud.com"

# The list example of qlik.dev's data-connections reference (stored doc 68823515261), credentials included, plus
# the write-side and extended fields of data-connections.d.ts @ 35d6345f that must never be read either.
SECRET = "Connection_Specific_Secret"
DOCUMENTED_CONNECTION = {
    "qID": "f0e92f3b-9b5c-4b7c-8a52-d1d4d2b5d1a7",
    "qEngineObjectID": "f0e92f3b-9b5c-4b7c-8a52-d1d4d2b5d1a7",
    "qName": "MySQL_DEV",
    "qType": "repsrc_mysql",
    "qConnectStatement": f'CUSTOM CONNECT TO "provider=repsrc_mysql;server=db;password={SECRET}"',
    "qConnectionSecret": SECRET,
    "qPassword": SECRET,
    "qUsername": "svc-" + SECRET,
    "qReferenceKey": "redis:" + SECRET,
    "qri": "qri:enc:" + SECRET,
    "qCredentialsID": "cred-" + SECRET,
    "encryptedCredentials": SECRET,
    "connectionProperties": {"password": SECRET},
    "someFutureField": SECRET,
    "qArchitecture": 0,
    "qLogOn": 0,
    "links": {"self": {"href": TENANT + "/api/v1/data-connections/f0e92f3b"}},
    "privileges": ["list", "read"],
    "tenant": "t1",
    "space": "62716f4b39b865ece543cd45",
}


def make_client(router: respx.MockRouter) -> QlikClient:
    return respx_client(router, tenant=TENANT, retry=RetryPolicy(jitter=False, max_attempts=1))


def test_a_connection_model_keeps_no_credential_field_whatever_the_answer_holds() -> None:
    connection = DataConnection.model_validate(DOCUMENTED_CONNECTION)
    shown = connection.model_dump_json() + repr(connection) + json.dumps(connection.model_dump(by_alias=True))
    assert SECRET not in shown
    assert (connection.name, connection.type, connection.space_id) == (
        "MySQL_DEV",
        "repsrc_mysql",
        DOCUMENTED_CONNECTION["space"],
    )
    assert CONNECTION_SECRET_FIELDS >= {"qConnectStatement", "qConnectionSecret", "qPassword", "qUsername", "qri"}


@pytest.mark.anyio
async def test_list_data_connections_follows_links_next_with_the_page_cursor() -> None:
    router = respx.MockRouter(base_url=TENANT)
    second = dict(DOCUMENTED_CONNECTION, qID="c2", qName="Snowflake_DEV")
    route = router.get("/api/v1/data-connections").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "data": [DOCUMENTED_CONNECTION],
                    "links": {
                        "self": {"href": "s"},
                        "next": {"href": TENANT + "/api/v1/data-connections?limit=1&page=abc"},
                    },
                },
            ),
            httpx.Response(200, json={"data": [second], "links": {"self": {"href": "s"}}}),
        ]
    )
    async with make_client(router) as client:
        first = await client.list_data_connections(limit=1)
        last = await client.list_data_connections(limit=1, next=first.next_cursor)
    assert first.next_cursor == "abc" and last.next_cursor is None
    assert dict(route.calls[1].request.url.params) == {"limit": "1", "page": "abc"}
    assert [c.name for c in first.connections + last.connections] == ["MySQL_DEV", "Snowflake_DEV"]
    assert SECRET not in repr(first) + repr(last)


@pytest.mark.anyio
@pytest.mark.parametrize("limit", [0, 101, True, 2.5])
async def test_a_limit_outside_1_to_100_is_refused_before_any_request(limit: object) -> None:
    router = respx.MockRouter(base_url=TENANT, assert_all_called=False)
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    async with make_client(router) as client:
        for call in (client.list_spaces, client.list_data_connections):
            with pytest.raises(InvalidParameterError) as caught:
                await call(limit=limit)  # type: ignore[arg-type]
            assert caught.value.parameter == "limit"
    assert route.call_count == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (500, "Internal error, this happens when the service fails to make requests to dependency services"),
        (502, "Bad gateway, this happens when requests to required (dependent) services time out"),
    ],
)
async def test_data_connections_server_errors_are_server_errors(status: int, detail: str) -> None:
    router = respx.MockRouter(base_url=TENANT)
    router.get("/api/v1/data-connections").mock(
        return_value=httpx.Response(status, json={"errors": [{"code": f"HTTP-{status}", "title": detail}]})
    )
    async with make_client(router) as client:
        with pytest.raises(ServerError) as caught:
            await client.list_data_connections()
    assert caught.value.status == status


def test_projects_carry_type_and_platform_type_and_task_types_are_open() -> None:
    project = Project.model_validate({"id": "p1", "type": "DATA_MOVEMENT", "platformType": "NONE", "spaceId": "s1"})
    assert (project.type, project.platform_type) == ("DATA_MOVEMENT", "NONE")
    from qdi_mcp.api import CreateProjectRequest, DataTask

    assert CreateProjectRequest(name="x", platform_type="QLIK_OPEN_LAKEHOUSE").to_wire()["platformType"] == (
        "QLIK_OPEN_LAKEHOUSE"
    )
    assert DataTask.model_validate({"id": "t", "type": "REPLICATE_LANDING"}).type == "REPLICATE_LANDING"
