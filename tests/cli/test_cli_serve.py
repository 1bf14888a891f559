"""`qdi-mcp serve` configuration errors, in process: each exits 2 with one line on stderr before anything starts
(the subprocess checks of a running server are in tests/transports/)."""

from __future__ import annotations

import argparse
import socket

import pytest

import qdi_mcp.cli.serve as serve_command
from qdi_mcp.cli import main
from qdi_mcp.settings import Settings


@pytest.fixture
def never_serve(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if serve got as far as serving; records that it tried."""
    started: list[str] = []

    async def fake_serve(*args: object) -> None:
        started.append("serve")
        raise AssertionError("serve started although its configuration is unusable")

    monkeypatch.setattr(serve_command, "_serve", fake_serve)
    return started


def serve(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    exit_code = main(["serve", *argv])
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def test_serve_with_credentials_but_no_tenant_names_the_tenant_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, never_serve: list[str]
) -> None:
    monkeypatch.setenv("QLIK_API_KEY", "api-key-that-must-not-show")

    exit_code, out, err = serve(capsys)

    assert (exit_code, out, never_serve) == (2, "", [])
    assert len(err.splitlines()) == 1
    assert "QLIK_TENANT_URL" in err
    assert "api-key-that-must-not-show" not in err


def test_serve_with_a_tenant_but_no_credentials_names_the_credential_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, never_serve: list[str]
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "https://acme.eu.qlikcloud.com")

    exit_code, out, err = serve(capsys)

    assert (exit_code, out, never_serve) == (2, "", [])
    assert len(err.splitlines()) == 1
    assert "QLIK_API_KEY" in err and "QLIK_CLIENT_ID" in err


def test_serve_with_only_half_of_the_oauth_credentials_still_refuses(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, never_serve: list[str]
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "https://acme.eu.qlikcloud.com")
    monkeypatch.setenv("QLIK_CLIENT_ID", "client-id")

    exit_code, _, err = serve(capsys)

    assert (exit_code, never_serve) == (2, [])
    assert "QLIK_CLIENT_SECRET" in err


@pytest.mark.parametrize(
    ("tenant_url", "complaint"),
    [
        ("ftp://acme.eu.qlikcloud.com", "https://"),
        ("http://acme.eu.qlikcloud.com", "https"),
        ("https://evil.example.com", "QDI_MCP_ALLOWED_HOSTS"),
        ("https://acme.eu.qlikcloud.com/api/v1", "path"),
    ],
)
def test_serve_with_an_unusable_tenant_url_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    never_serve: list[str],
    tenant_url: str,
    complaint: str,
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", tenant_url)
    monkeypatch.setenv("QLIK_API_KEY", "api-key-that-must-not-show")

    exit_code, out, err = serve(capsys)

    assert (exit_code, out, never_serve) == (2, "", [])
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qdi-mcp: QLIK_TENANT_URL")
    assert complaint in lines[0]
    assert "api-key-that-must-not-show" not in err


def test_serve_accepts_a_host_listed_in_allowed_hosts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, never_serve: list[str]
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "https://qlik.internal.example")
    monkeypatch.setenv("QDI_MCP_ALLOWED_HOSTS", "qlik.internal.example")
    monkeypatch.setenv("QLIK_API_KEY", "api-key-that-must-not-show")

    with pytest.raises(AssertionError, match="serve started"):
        serve(capsys)

    assert never_serve == ["serve"]  # the checks passed, so serving began


def test_serve_http_on_a_busy_port_exits_2_naming_the_port(
    capsys: pytest.CaptureFixture[str], never_serve: list[str]
) -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]

        exit_code, out, err = serve(capsys, "--demo", "--transport", "http", "--port", str(port))

    assert (exit_code, out, never_serve) == (2, "", [])
    assert len(err.splitlines()) == 1
    assert f"127.0.0.1:{port}" in err
    assert "--port" in err


def test_serve_http_with_a_port_out_of_range_exits_2(
    capsys: pytest.CaptureFixture[str], never_serve: list[str]
) -> None:
    exit_code, _, err = serve(capsys, "--demo", "--transport", "http", "--port", "70000")

    assert (exit_code, never_serve) == (2, [])
    assert "70000" in err


def test_connection_help_for_http_shows_the_port_actually_bound() -> None:
    args = argparse.Namespace(transport="http", host="127.0.0.1", port=0)

    text = serve_command.connection_help(Settings(demo=True), args, port=43210)

    assert "http://127.0.0.1:43210/mcp" in text
    assert ":0/" not in text


def test_connection_help_for_stdio_names_the_demo_flag_only_in_demo_mode() -> None:
    args = argparse.Namespace(transport="stdio", host="127.0.0.1", port=8000)

    demo = serve_command.connection_help(Settings(demo=True), args)
    tenant = serve_command.connection_help(Settings(demo=False), args)

    assert "qdi-mcp serve --demo" in demo
    assert "--demo" not in tenant.replace("qdi_list_projects --demo", "")


# --- a remote bind without allowed hosts (issue 19, defect 4) -------------------------------------------------


@pytest.fixture
def serve_records(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replaces the event loop part of `serve`, so a good configuration returns at once."""
    started: list[str] = []

    async def fake_serve(*args: object) -> None:
        started.append("serve")

    monkeypatch.setattr(serve_command, "_serve", fake_serve)
    return started


def remote_serve(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *extra: str) -> str:
    monkeypatch.setenv("QDI_MCP_HTTP_TOKEN", "a-bearer-token-of-at-least-thirty-two-characters")
    exit_code, _, err = serve(capsys, "--demo", "--transport", "http", "--port", "0", *extra)
    assert exit_code == 0, err
    return err


def test_a_remote_bind_without_allowed_hosts_warns_that_requests_will_get_421(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, serve_records: list[str]
) -> None:
    err = remote_serve(capsys, monkeypatch, "--host", "0.0.0.0", "--allow-remote")  # noqa: S104 - what is tested
    warnings = [line for line in err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, err
    assert "QDI_MCP_HTTP_ALLOWED_HOSTS" in warnings[0] and "421" in warnings[0]
    assert serve_records == ["serve"]  # a warning, not a refusal: a client may use the bind address itself


def test_a_remote_bind_with_allowed_hosts_or_a_loopback_bind_does_not_warn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, serve_records: list[str]
) -> None:
    monkeypatch.setenv("QDI_MCP_HTTP_ALLOWED_HOSTS", "mcp.example.com:*")
    remote = remote_serve(capsys, monkeypatch, "--host", "0.0.0.0", "--allow-remote")  # noqa: S104
    monkeypatch.delenv("QDI_MCP_HTTP_ALLOWED_HOSTS")
    loopback = remote_serve(capsys, monkeypatch)
    assert "421" not in remote + loopback
    assert serve_records == ["serve", "serve"]


def test_serve_help_says_a_remote_bind_needs_allowed_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    remote = out.split("remote HTTP:", 1)[1].split("\n\n", 1)[0]
    assert "QDI_MCP_HTTP_ALLOWED_HOSTS" in remote and "421" in remote
