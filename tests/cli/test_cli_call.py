"""`qdi-mcp call TOOL --args JSON --demo`, in process: each call builds a fresh demo emulator and server, prints
the structured result as JSON on stdout, and its exit code says whether the tool succeeded."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from qdi_mcp import __version__
from qdi_mcp.cli import main
from qdi_mcp.cli.call import outcome_exit_code

CUSTOMER_360_ID = "6650f0c1a2b3c4d5e6f70001"
ORDERS_REPLICATION_ID = "6650f0c1a2b3c4d5e6f70003"
ORDERS_TASK_ID = "orders_replication-jeqy"  # the demo's running CDC task (ids are stable)
DEMO_PROJECT_NAMES = {"Customer 360", "Customer 360 (prod)", "Orders replication", "Sales QVD"}


@pytest.fixture(autouse=True)
def audit_and_a_fast_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QDI_MCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    # The demo clock runs in real time times this factor: a prepare of ~40 emulated seconds takes ~0.2 s.
    monkeypatch.setenv("QDI_EMULATOR_SPEED", "200")


def call(capsys: pytest.CaptureFixture[str], tool: str, args: dict[str, Any] | str | None, *flags: str) -> Any:
    argv = ["call", tool, "--demo", *flags]
    if args is not None:
        argv += ["--args", args if isinstance(args, str) else json.dumps(args)]
    exit_code = main(argv)
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_call_prints_the_structured_result_as_json_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, _ = call(capsys, "qdi_list_projects", None)

    assert exit_code == 0
    result = json.loads(out)  # stdout is exactly one JSON document
    assert {project["name"] for project in result["projects"]} == DEMO_PROJECT_NAMES
    assert result["count"] == 4


def test_call_passes_arguments_through_to_the_tool(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, _ = call(capsys, "qdi_list_tasks", {"project_id": ORDERS_REPLICATION_ID})

    assert exit_code == 0
    tasks = json.loads(out)["tasks"]
    assert [task["name"] for task in tasks] == ["ORDERS REPLICATION"]


def test_call_exits_1_on_an_error_result_and_prints_the_structured_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_code, out, _ = call(capsys, "qdi_get_project", {"project_id": "no-such-project"})

    assert exit_code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "not_found"
    assert error["http_status"] == 404
    assert "no-such-project" in error["message"]
    assert "qdi_list_projects" in error["hint"]


def test_call_exits_2_on_a_missing_argument_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_get_project", {})

    assert exit_code == 2  # a usage error, as in `runbook`: fix the call rather than retry it
    error = json.loads(out)["error"]
    assert error["code"] == "invalid_arguments"
    assert error["field"] == "project_id"
    assert err.splitlines() == [
        "qdi-mcp: Invalid arguments for qdi_get_project: missing required argument 'project_id'; "
        "arguments: project_id (required)"
    ]


def test_call_exits_2_on_an_unknown_argument_with_a_plain_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_list_tasks", {"project_id": ORDERS_REPLICATION_ID, "bogus": 1})

    assert exit_code == 2
    assert json.loads(out)["error"]["code"] == "invalid_arguments"  # the structured result still on stdout
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("qdi-mcp: unknown argument 'bogus' for qdi_list_tasks; arguments: project_id (required)")
    assert "Additional properties" not in err


def test_call_exits_2_for_an_unknown_tool_suggesting_the_closest_name(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_list_project", None)

    assert exit_code == 2
    assert json.loads(out)["error"]["code"] == "unknown_tool"
    assert err.splitlines() == ["qdi-mcp: unknown tool 'qdi_list_project'; did you mean qdi_list_projects?"]


def test_call_exits_2_for_a_tool_name_like_no_other(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, _, err = call(capsys, "drop_everything_now", None)

    assert exit_code == 2
    assert "unknown tool 'drop_everything_now'" in err and "qdi-mcp tools" in err


def test_call_a_tool_failure_still_exits_1_without_a_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_get_task", {"project_id": ORDERS_REPLICATION_ID, "task_id": "no-such"})

    assert exit_code == 1
    assert json.loads(out)["error"]["code"] == "not_found"
    assert "unknown" not in err and "arguments:" not in err


def test_call_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["call", "--help"])

    out = capsys.readouterr().out
    codes = out.split("exit codes:", 1)[1]
    expected = (("0", "succeeded"), ("1", "failed"), ("2", "unknown tool"), ("3", "confirmation"), ("4", "timed out"))
    for code, words in expected:
        assert any(line.strip().startswith(code) and words in line for line in codes.splitlines()), code


@pytest.mark.parametrize("raw", ['{"project_id": ', "{'project_id': 'x'}", "project_id=x"])
def test_call_exits_2_on_args_that_are_not_json(capsys: pytest.CaptureFixture[str], raw: str) -> None:
    exit_code, out, err = call(capsys, "qdi_get_project", raw)

    assert exit_code == 2
    error = json.loads(out)["error"]  # one JSON error on stdout, as for every other failure
    assert (error["code"], error["field"]) == ("invalid_arguments", "--args")
    assert error["message"].startswith("--args is not valid JSON")
    assert err.splitlines() == [f"qdi-mcp: {error['message']}"]


@pytest.mark.parametrize("raw", ["[]", '"x"', "3", "null"])
def test_call_exits_2_on_json_args_that_are_not_an_object(capsys: pytest.CaptureFixture[str], raw: str) -> None:
    exit_code, out, err = call(capsys, "qdi_get_project", raw)

    assert exit_code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "invalid_arguments"
    assert error["message"].startswith("--args must be a JSON object")
    assert err.splitlines() == [f"qdi-mcp: {error['message']}"]


def test_call_stop_on_a_running_task_only_asks_for_confirmation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    exit_code, out, _ = call(capsys, "qdi_list_tasks", {"project_id": ORDERS_REPLICATION_ID})
    task_id = json.loads(out)["tasks"][0]["id"]
    arguments = {"project_id": ORDERS_REPLICATION_ID, "task_id": task_id}

    exit_code, out, _ = call(capsys, "qdi_stop_task", arguments)

    assert exit_code == 3  # a confirmation is needed; nothing was done
    result = json.loads(out)
    assert result["status"] == "confirmation_required"
    assert result["confirmation_token"]
    assert "RUNNING" in result["preview"]["current_state"]
    assert task_id in result["preview"]["target"]
    assert "Nothing was done" in result["message"]
    # Nothing was stopped: the audit log holds the request for confirmation and no execution.
    assert [(r["tool"], r["outcome"]) for r in audit_lines(tmp_path)] == [("qdi_stop_task", "confirmation_required")]
    assert audit_lines(tmp_path)[0]["client"] == f"qdi-mcp call {__version__}"


def test_call_in_read_only_mode_refuses_a_destructive_tool(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    exit_code, out, _ = call(
        capsys, "qdi_stop_task", {"project_id": ORDERS_REPLICATION_ID, "task_id": "orders_replication-x"}, "--read-only"
    )

    assert exit_code == 1
    assert json.loads(out)["error"]["code"] == "read_only"
    assert [r["outcome"] for r in audit_lines(tmp_path)] == ["refused"]


def test_call_runs_a_workflow_to_completion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    exit_code, out, _ = call(capsys, "qdi_prepare_project_and_wait", {"project_id": CUSTOMER_360_ID})

    assert exit_code == 0, out
    result = json.loads(out)
    assert result["state"] == "COMPLETED"
    assert result["timed_out"] is False
    assert [(r["tool"], r["outcome"]) for r in audit_lines(tmp_path)] == [
        ("qdi_prepare_project_and_wait", "started"),
        ("qdi_prepare_project_and_wait", "executed"),
    ]


def test_call_without_demo_or_tenant_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["call", "qdi_list_projects"])

    captured = capsys.readouterr()
    assert exit_code == 2
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "QLIK_TENANT_URL" in captured.err


@pytest.mark.parametrize(
    ("tenant_url", "complaint"),
    [
        ("ftp://acme.eu.qlikcloud.com", "https://"),
        ("https://evil.example.com", "QDI_MCP_ALLOWED_HOSTS"),
        ("https://user:pw@acme.eu.qlikcloud.com", "user name or password"),
    ],
)
def test_call_with_an_unusable_tenant_url_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tenant_url: str, complaint: str
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", tenant_url)
    monkeypatch.setenv("QLIK_API_KEY", "api-key-that-must-not-show")

    exit_code = main(["call", "qdi_list_projects"])

    captured = capsys.readouterr()
    assert exit_code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("qdi-mcp: QLIK_TENANT_URL")
    assert complaint in lines[0]
    assert "api-key-that-must-not-show" not in captured.err


def test_a_token_from_one_call_confirms_the_next_when_both_share_qdi_mcp_secret(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDI_MCP_SECRET", "x" * 40)
    args = {"project_id": ORDERS_REPLICATION_ID, "task_id": ORDERS_TASK_ID}
    exit_code, out, _ = call(capsys, "qdi_stop_task", args)
    assert exit_code == 3
    token = json.loads(out)["confirmation_token"]
    exit_code, out, _ = call(capsys, "qdi_stop_task", args | {"confirmation_token": token})
    assert exit_code == 0 and json.loads(out)["status"] == "stop_requested"


SALES_QVD_ID = "6650f0c1a2b3c4d5e6f70004"  # the demo's project whose landing task has no connection bound


def test_call_exits_1_when_the_workflow_it_ran_ended_failed(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_prepare_project_and_wait", {"project_id": SALES_QVD_ID})

    assert json.loads(out)["state"] == "FAILED"
    assert exit_code == 1
    assert err.startswith("qdi-mcp: qdi_prepare_project_and_wait ended FAILED; task ")


def test_call_exits_4_when_a_workflow_wait_times_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDI_EMULATOR_SPEED", "1")  # a validation of ~20 emulated seconds cannot end within 1 s
    args = {"project_id": CUSTOMER_360_ID, "timeout_seconds": 1}

    exit_code, out, err = call(capsys, "qdi_validate_project_and_wait", args)

    result = json.loads(out)
    assert result["timed_out"] is True
    assert exit_code == 4
    assert "qdi_wait_for_action" in err and result["action_id"] in err


def test_only_a_workflow_s_outcome_sets_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    # Each call is a fresh demo, so the read is judged directly: reading a FAILED action is a successful read.
    assert outcome_exit_code("qdi_get_action", {"state": "FAILED", "timed_out": True}) == 0
    assert outcome_exit_code("qdi_wait_for_action", {"state": "FAILED", "timed_out": False}) == 1
    assert outcome_exit_code("qdi_wait_for_action", {"state": "EXECUTING", "timed_out": True}) == 4
    assert outcome_exit_code("qdi_wait_for_action", {"state": "COMPLETED", "timed_out": False}) == 0
    # a pipeline run names its states in lower case
    assert outcome_exit_code("qdi_run_project_and_wait", {"state": "failed", "timed_out": False}) == 1
    assert outcome_exit_code("qdi_run_project_and_wait", {"state": "timed_out", "timed_out": True}) == 4
    assert outcome_exit_code("qdi_run_project_and_wait", {"state": "completed", "timed_out": False}) == 0


def test_without_a_secret_the_confirmation_request_names_the_one_way_through(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_code, out, err = call(
        capsys, "qdi_stop_task", {"project_id": ORDERS_REPLICATION_ID, "task_id": ORDERS_TASK_ID}
    )

    assert exit_code == 3
    hint = json.loads(out)["hint"]
    for words in ("QDI_MCP_SECRET", "runbook --yes"):
        assert words in hint and words in err


def test_without_a_secret_a_token_from_another_call_is_refused_naming_the_way_through(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = {"project_id": ORDERS_REPLICATION_ID, "task_id": ORDERS_TASK_ID}
    _, out, _ = call(capsys, "qdi_stop_task", args)
    token = json.loads(out)["confirmation_token"]

    exit_code, out, err = call(capsys, "qdi_stop_task", args | {"confirmation_token": token})

    assert exit_code == 1
    error = json.loads(out)["error"]
    assert error["code"] == "confirmation_invalid"
    assert "signature mismatch" not in error["message"]
    assert "another qdi-mcp call" in error["message"]
    for words in ("QDI_MCP_SECRET", "runbook --yes"):
        assert words in error["hint"] and words in err
    assert audit_lines(tmp_path)[-1]["outcome"] == "refused"  # still refused by the server, and audited


def test_a_misspelt_argument_gives_one_cause_on_stdout_and_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_get_project", {"projectid": CUSTOMER_360_ID})

    assert exit_code == 2
    error = json.loads(out)["error"]
    assert error["message"] == (
        "unknown argument 'projectid' for qdi_get_project (did you mean project_id?); arguments: project_id (required)"
    )
    assert error["field"] == "projectid"
    assert err.splitlines() == [f"qdi-mcp: {error['message']}"]


def test_args_can_come_from_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"project_id": ORDERS_REPLICATION_ID}), encoding="utf-8")

    exit_code, out, _ = call(capsys, "qdi_list_tasks", f"@{path}")

    assert exit_code == 0
    assert [task["name"] for task in json.loads(out)["tasks"]] == ["ORDERS REPLICATION"]


def test_args_from_a_missing_file_is_a_usage_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code, out, err = call(capsys, "qdi_list_tasks", "@no-such-args.json")

    assert exit_code == 2
    message = json.loads(out)["error"]["message"]
    assert message.startswith("--args @no-such-args.json: cannot read no-such-args.json")
    assert err.splitlines() == [f"qdi-mcp: {message}"]


def test_args_can_come_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"project_id": ORDERS_REPLICATION_ID})))

    exit_code, out, _ = call(capsys, "qdi_list_tasks", "-")

    assert exit_code == 0
    assert [task["name"] for task in json.loads(out)["tasks"]] == ["ORDERS REPLICATION"]
