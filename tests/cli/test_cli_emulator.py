"""`qdi-mcp emulator`: refusals in process (fast, nothing bound), then the real thing as a subprocess reached the
way curl would reach it, and `qdi-mcp call` pointed at it as if it were a Qlik tenant."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from qdi_processes import QdiProcess

import qdi_mcp.cli.emulator as emulator_command
from qdi_mcp.cli import main

BANNER = re.compile(r"tenant URL (http://\S+)\s+API key: (\S+)")
START_TIMEOUT_SECONDS = 20
PROJECTS_PATH = "/api/v1/di-projects"
DEMO_PROJECT_NAMES = {"Customer 360", "Customer 360 (prod)", "Orders replication", "Sales QVD"}


@pytest.fixture
def no_bind(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []

    def fake_bind(host: str, port: int) -> Any:
        calls.append((host, port))
        raise AssertionError("the emulator must not bind a port for an unsafe or invalid configuration")

    monkeypatch.setattr(emulator_command, "bind_socket", fake_bind)
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])  # noqa: S104 - the refused cases
def test_emulator_refuses_a_non_loopback_host_without_allow_remote(
    capsys: pytest.CaptureFixture[str], restore_logging: None, no_bind: list[tuple[str, int]], host: str
) -> None:
    exit_code = main(["emulator", "--host", host, "--port", "0"])

    err = capsys.readouterr().err
    assert exit_code == 2
    assert no_bind == []
    assert len(err.splitlines()) == 1
    assert "pass --allow-remote" in err
    assert "allow_remote" not in err  # a person at the shell gets the flag, not the Python keyword


@pytest.mark.parametrize("speed", ["0", "-2"])
def test_emulator_refuses_a_speed_that_is_not_positive(
    capsys: pytest.CaptureFixture[str], restore_logging: None, no_bind: list[tuple[str, int]], speed: str
) -> None:
    exit_code = main(["emulator", "--port", "0", "--speed", speed])

    assert exit_code == 2
    assert no_bind == []
    assert "speed" in capsys.readouterr().err


def test_emulator_refuses_a_speed_from_the_environment_that_is_not_a_number(
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    no_bind: list[tuple[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QDI_EMULATOR_SPEED", "fast")

    exit_code = main(["emulator", "--port", "0"])

    assert exit_code == 2
    assert no_bind == []
    assert "QDI_EMULATOR_SPEED" in capsys.readouterr().err


def test_emulator_on_a_busy_port_exits_2_naming_it(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]

        exit_code = main(["emulator", "--port", str(port)])

    err = capsys.readouterr().err
    assert exit_code == 2
    assert f"127.0.0.1:{port}" in err


# --- the emulator over real HTTP ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    env = {"PATH": os.environ.get("PATH", ""), "QDI_EMULATOR_SPEED": "50"}
    process = QdiProcess(["emulator", "--port", "0"], env, tmp_path_factory.mktemp("emulator"))
    try:
        # The banner is printed once the port is bound: (tenant URL, API key).
        match = process.wait_for(BANNER, START_TIMEOUT_SECONDS)
        yield match.group(1), match.group(2)
    finally:
        process.stop()


def test_emulator_banner_names_a_loopback_url_and_the_demo_key(emulator: tuple[str, str]) -> None:
    url, key = emulator

    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert not url.endswith(":0")
    assert key == "qdi-demo-key"


def test_emulator_lists_the_demo_projects_with_the_printed_key(emulator: tuple[str, str]) -> None:
    url, key = emulator

    response = httpx.get(url + PROJECTS_PATH, headers={"Authorization": f"Bearer {key}"}, timeout=10)

    assert response.status_code == 200
    assert {project["name"] for project in response.json()["projects"]} == DEMO_PROJECT_NAMES


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-key", "qdi-demo-key"])
def test_emulator_answers_401_in_qliks_envelope_without_a_valid_key(
    emulator: tuple[str, str], authorization: str | None
) -> None:
    url, _ = emulator
    headers = {"Authorization": authorization} if authorization else {}

    response = httpx.get(url + PROJECTS_PATH, headers=headers, timeout=10)

    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["status"] == 401
    assert "projects" not in body


def test_emulator_answers_404_in_qliks_envelope_for_an_unknown_project(emulator: tuple[str, str]) -> None:
    url, key = emulator

    response = httpx.get(
        f"{url}{PROJECTS_PATH}/no-such-project", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )

    assert response.status_code == 404
    body = response.json()
    error = body["errors"][0]
    assert error["status"] == 404
    assert error["code"] == "HTTP-404"
    assert "no-such-project" in error["detail"]
    assert body["traceId"]


def _point_cli_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, key: str) -> None:
    for name in ("QLIK_CLIENT_ID", "QLIK_CLIENT_SECRET", "QDI_MCP_READ_ONLY", "QDI_MCP_TOOLSETS", "QDI_MCP_TOOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QLIK_TENANT_URL", url)
    monkeypatch.setenv("QLIK_API_KEY", key)
    monkeypatch.setenv("QDI_MCP_WORKDIR", str(tmp_path / "work"))
    monkeypatch.chdir(tmp_path)


def test_call_without_demo_reaches_the_tenant_in_qlik_tenant_url(
    emulator: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    url, key = emulator
    _point_cli_at(monkeypatch, tmp_path, url, key)

    exit_code = main(["call", "qdi_list_projects"])

    out = capsys.readouterr().out
    assert exit_code == 0
    assert {project["name"] for project in json.loads(out)["projects"]} == DEMO_PROJECT_NAMES


def test_call_with_a_wrong_key_exits_1_with_an_auth_error_and_never_prints_the_key(
    emulator: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    url, _ = emulator
    wrong_key = "wrong-key-4f9c2a7e1b"
    _point_cli_at(monkeypatch, tmp_path, url, wrong_key)

    exit_code = main(["call", "qdi_list_projects"])

    captured = capsys.readouterr()
    assert exit_code == 1
    error = json.loads(captured.out)["error"]
    assert error["http_status"] == 401
    assert error["retryable"] is False
    assert wrong_key not in captured.out + captured.err
