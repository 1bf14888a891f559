"""Messages that name what the person set and read as English (issue 19, defect 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from qdi_mcp.cli import main
from qdi_mcp.server.arguments import argument_failure
from qdi_mcp.specs import specs_by_name

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        (["--http-token", "short-token"], {}, "--http-token is too short"),
        ([], {"QDI_MCP_HTTP_TOKEN": "short-token"}, "QDI_MCP_HTTP_TOKEN is too short"),
    ],
)
def test_a_short_http_token_is_named_by_what_set_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    env: dict[str, str],
    named: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = ["serve", "--demo", "--transport", "http", "--host", "192.0.2.10", "--allow-remote", *flags]

    exit_code = main(argv)

    err = capsys.readouterr().err
    assert exit_code == 2
    assert err.splitlines() == [f"qdi-mcp: {named}: use at least 16 random characters"]


def test_a_tenant_url_without_a_scheme_says_it_has_none(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "acme.eu.qlikcloud.com")
    monkeypatch.setenv("QLIK_API_KEY", "key")

    exit_code = main(["call", "qdi_list_projects"])

    err = capsys.readouterr().err
    assert exit_code == 2
    assert "must start with https:// (it has none)" in err
    assert "'none'" not in err


@pytest.mark.parametrize(("count", "more"), [(2, "(1 more problem)"), (3, "(2 more problems)")])
def test_the_count_of_further_problems_agrees_with_its_noun(count: int, more: str) -> None:
    spec = specs_by_name()["qdi_get_project"]
    # A misspelt name: the schema finds two problems, the unknown name and the missing required one.
    errors = list(Draft202012Validator(spec.input_schema).iter_errors({"projectid": "x"}))
    assert len(errors) == 2

    failure = argument_failure(spec, errors[0], count)

    assert failure.message.endswith(f"{more}.")


def test_a_runbook_that_needs_confirmation_ends_with_the_instruction_then_time_and_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_code = main(["runbook", str(REPO / "examples/runbooks/promote-project.yaml"), "--demo"])

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert exit_code == 3
    assert "--yes in" not in last
    assert last.startswith("needs_confirmation: ") and last.endswith("run with --yes (0.0s, exit 3)")
