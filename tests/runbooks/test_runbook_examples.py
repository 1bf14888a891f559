"""The example runbooks, run like `qdi-mcp runbook ... --demo` but on a virtual clock, checked by the state they
leave in the emulator (not by what they print)."""

from __future__ import annotations

import io
import json
import random
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from qdi_testkit import CUSTOMER_360, CUSTOMER_360_PROD, SALES_QVD, TENANT_URL, make_settings

from qdi_mcp import __version__
from qdi_mcp.api import ApiKeyAuth, QlikClient
from qdi_mcp.cli.runbook import run_runbook_file
from qdi_mcp.clock import ManualClock
from qdi_mcp.emulator import DEFAULT_API_KEY, Emulator
from qdi_mcp.settings import Settings
from qdi_mcp.tools.polling import PollSchedule

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runbooks"
PROD_SNOWFLAKE = "{{id(connection, PROD_SPACE.Snowflake_PROD)}}"
# Operations of the read tools: all a dry run or a stopped run may send.
READ_OPERATIONS = {"list_projects", "get_project", "export_project", "get_bindings", "list_tasks", "get_task_state"}
PIPELINE_STAGES = ["LANDING", "STORAGE", "TRANSFORM", "DATAMART"]


@dataclass
class Rehearsal:
    emulator: Emulator
    client: QlikClient
    settings: Settings
    options: dict[str, Any]
    audit_path: Path

    async def run(self, example: str, *, var_arguments: tuple[str, ...] = (), **flags: Any) -> tuple[int, str]:
        return await self.run_file(EXAMPLES / example, var_arguments=var_arguments, **flags)

    async def run_file(self, path: Path, *, var_arguments: tuple[str, ...] = (), **flags: Any) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = await run_runbook_file(
            path,
            self.settings,
            var_arguments=var_arguments,
            stdout=out,
            stderr=err,
            client=self.client,
            context_options=self.options,
            **flags,
        )
        return code, out.getvalue() + err.getvalue()

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    def tasks(self, project: str) -> list[tuple[str, str, str]]:
        project_id = self.emulator.project_id(project)
        return sorted((t["id"], t["name"], t["type"]) for t in self.emulator.tasks(project_id))


@asynccontextmanager
async def rehearsal(tmp_path: Path) -> AsyncIterator[Rehearsal]:
    emulator = Emulator(clock=ManualClock())
    clock = emulator.clock  # shared with the client: its waits move the emulator's state machines
    client = QlikClient(TENANT_URL, auth=ApiKeyAuth(DEFAULT_API_KEY), transport=emulator.transport(), clock=clock)
    options = {"clock": clock, "schedule": PollSchedule(), "rng": random.Random(7)}
    settings = make_settings(tmp_path)
    async with client:
        yield Rehearsal(emulator, client, settings, options, tmp_path / "audit.jsonl")


async def test_promote_project_with_yes_makes_prod_a_running_copy_of_dev_bound_to_prod(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        dev_id, prod_id = r.emulator.project_id(CUSTOMER_360), r.emulator.project_id(CUSTOMER_360_PROD)
        dev_bindings_before = r.emulator.bindings(dev_id)
        assert len(r.tasks(CUSTOMER_360_PROD)) == 2

        code, output = await r.run("promote-project.yaml", yes=True)

        assert code == 0, output
        assert r.tasks(CUSTOMER_360_PROD) == r.tasks(CUSTOMER_360)
        bindings = r.emulator.bindings(prod_id)
        assert bindings["platformConnection"] == PROD_SNOWFLAKE
        assert bindings["projectName"] == "Customer 360 (prod)"
        assert bindings["task-type.storage.databaseName"] == "C360_PROD"
        sources = {k: v for k, v in bindings.items() if k.endswith(".sourceConnection")}
        assert sources and all("PROD_SPACE" in value for value in sources.values())
        # The import does not bring DEV's values (the zip's bindings.json is only a reference, qlik.dev
        # export-and-import): a variable the runbook does not set and PROD never had stays unset.
        assert dev_bindings_before["task.sales_mart-sqn7.taskSchema"] == "SALES_MART"
        assert bindings["task.sales_mart-sqn7.taskSchema"] == ""
        assert r.emulator.bindings(dev_id) == dev_bindings_before
        runs = {name: r.emulator.task_run_state(prod_id, task_id) for task_id, name, _ in r.tasks(CUSTOMER_360_PROD)}
        assert runs["ERP LANDING"] == "RUNNING"  # CDC: running steadily
        assert all(state in ("COMPLETED", "RUNNING") for state in runs.values()), runs
        confirmed = {record["tool"]: record["confirmed_by"] for record in r.audit() if record["outcome"] == "executed"}
        assert confirmed["qdi_promote_project"] == "token"
        assert "confirmed with --yes: promote project" in output
        # one call did the promotion: a line per step, and a backup of PROD to restore from
        steps = [line["detail"] for line in r.audit() if line["outcome"] == "step"]
        assert [step.split(" - ")[0] for step in steps][:7] == [
            f"{step}: done" for step in ("backup", "export", "check", "import", "bindings", "validate", "prepare")
        ]
        assert list((tmp_path / "work" / "backups").glob("customer-360-prod-*.zip"))
        assert {record["client"] for record in r.audit()} == {f"qdi-mcp runbook {__version__}"}


async def test_promote_project_starts_the_prod_tasks_in_pipeline_order(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        code, output = await r.run("promote-project.yaml", yes=True)

        assert code == 0, output
        prod_id = r.emulator.project_id(CUSTOMER_360_PROD)
        started = sorted(
            (PIPELINE_STAGES.index(task_type), r.emulator.task_state(prod_id, task_id)["lastRun"]["startTime"])
            for task_id, _, task_type in r.tasks(CUSTOMER_360_PROD)
        )
        # every task ran, and no stage started before the one it reads from had finished starting
        times = [time for _, time in started]
        assert len(started) == 6 and times == sorted(times) and len(set(times)) > 1, started
        runs = [line for line in r.audit() if line["tool"] == "qdi_run_project_and_wait"]
        assert [(line["outcome"], line["final_state"]) for line in runs if line["outcome"] != "started"] == [
            ("executed", "completed")
        ]


async def test_promote_project_without_yes_stops_with_exit_3_and_changes_nothing(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        prod_id = r.emulator.project_id(CUSTOMER_360_PROD)
        bindings_before, tasks_before = r.emulator.bindings(prod_id), r.tasks(CUSTOMER_360_PROD)

        code, output = await r.run("promote-project.yaml")

        assert code == 3
        assert sum(r.emulator.counters.values()) == 0
        assert r.tasks(CUSTOMER_360_PROD) == tasks_before
        assert r.emulator.bindings(prod_id) == bindings_before
        assert "'promote' (step 2, qdi_promote_project)" in output
        assert "run with --yes" in output
        assert not any(record["outcome"] == "executed" for record in r.audit())


async def test_promote_project_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        code, output = await r.run("promote-project.yaml", dry_run=True, json_output=True)

        report = json.loads(output)
        assert code == 0
        assert sum(r.emulator.counters.values()) == 0
        assert set(r.emulator.requests) <= READ_OPERATIONS, r.emulator.requests
        statuses = {step["name"]: step["status"] for step in report["steps"]}
        assert statuses["diff"] == "passed"
        assert statuses["promote"] == "would_call"
        assert statuses["start prod tasks"] == "would_call"  # after a skipped change
        diff = report["steps"][0]["calls"][0]["result"]
        assert diff["summary"].startswith("+4 tasks, 2 changed")
        promote = report["steps"][1]["calls"][0]
        assert promote["arguments"]["allow_recreate"] is True
        assert "destructive" in promote["note"]
        # The diff exports in memory: no file appears in the work folder, and a dry run writes no audit line.
        assert not [path for path in (tmp_path / "work").rglob("*") if path.is_file()]
        assert r.audit() == []


def folder_state(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("example", sorted(path.name for path in EXAMPLES.glob("*.yaml")))
async def test_a_dry_run_of_every_example_leaves_the_work_folder_and_audit_log_unchanged(
    tmp_path: Path, example: str
) -> None:
    async with rehearsal(tmp_path) as r:
        (tmp_path / "work").mkdir()
        (tmp_path / "work" / "kept.zip").write_bytes(b"a file that was there before")
        before = folder_state(tmp_path)

        await r.run(example, dry_run=True)

        assert folder_state(tmp_path) == before
        assert sum(r.emulator.counters.values()) == 0


async def test_a_dry_run_shows_an_export_instead_of_writing_its_zip_and_runs_the_reads_after_it(
    tmp_path: Path,
) -> None:
    runbook = tmp_path / "export-then-read.yaml"
    runbook.write_text(
        textwrap.dedent(
            """\
            name: export-then-read
            vars: {project_id: 6650f0c1a2b3c4d5e6f70001}
            steps:
              - name: export
                tool: qdi_export_project
                args: {project_id: "${vars.project_id}"}
              - name: status
                tool: qdi_get_project_status
                args: {project_id: "${vars.project_id}"}
            """
        ),
        encoding="utf-8",
    )
    async with rehearsal(tmp_path) as r:
        code, output = await r.run_file(runbook, dry_run=True, json_output=True)

        steps = {step["name"]: step for step in json.loads(output)["steps"]}
        assert steps["export"]["status"] == "would_call"
        assert "writes a file into the work folder" in steps["export"]["message"]
        assert steps["status"]["status"] == "passed"  # an export changes nothing in the tenant
        # (The status reads the project's lineage from a MINIMAL export in memory: one export request, no file.)
        assert r.emulator.requests["export_project"] <= 1
        assert not (tmp_path / "work").exists() or not list((tmp_path / "work").rglob("*.zip"))
        assert r.audit() == [] and code == 0


async def test_health_check_on_the_whole_demo_fails_naming_the_dataset_in_error(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        code, output = await r.run("health-check.yaml")

        assert code == 1
        assert "CRM STORAGE" in output and "datasets_in_error" in output
        assert sum(r.emulator.counters.values()) == 0


async def test_a_misspelt_field_in_the_health_check_is_refused_before_any_call(tmp_path: Path) -> None:
    # The reviewer's reproduction: with `not_in`, a field the result does not have used to pass (exit 0).
    text = (EXAMPLES / "health-check.yaml").read_text()
    assert "datasets_in_error: {in: [0, null]}" in text
    path = tmp_path / "health-check.yaml"
    path.write_text(text.replace("datasets_in_error: {in: [0, null]}", "datasets_in_eror: {not_in: [1, 2, 3]}"))
    async with rehearsal(tmp_path) as r:
        code, output = await r.run_file(path)

        assert code == 2, output
        assert "step 2 (project status).expect.tasks.all.datasets_in_eror: no field 'datasets_in_eror'" in output
        assert "did you mean datasets_in_error?" in output
        assert not r.emulator.requests


async def test_an_unknown_operator_is_refused_before_the_write_steps_ahead_of_it(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: write then check
            vars: {project_id: 6650f0c1a2b3c4d5e6f70004}
            steps:
              - name: read bindings
                tool: qdi_get_bindings
                args: {project_id: "${vars.project_id}"}
              - name: write bindings
                tool: qdi_update_bindings
                args: {project_id: "${vars.project_id}", variables: "${steps.read bindings.result.variables}"}
              - name: status
                tool: qdi_get_project_status
                args: {project_id: "${vars.project_id}"}
                expect: {tasks: {all: {state: {neq: FAILED}}}}
            """
        )
    )
    async with rehearsal(tmp_path) as r:
        code, output = await r.run_file(path)

        assert code == 2, output
        assert "step 3 (status).expect.tasks.all.state: unknown operator 'neq'; did you mean ne?" in output
        assert not r.emulator.requests
        assert not r.audit()


async def test_a_field_the_schema_allows_but_the_result_lacks_fails_the_step(tmp_path: Path) -> None:
    # `datasets` comes only with detail=true: `ne` on it must fail, not pass, when it is not there.
    path = tmp_path / "rb.yaml"
    body = """
        name: datasets
        steps:
          - name: status
            tool: qdi_get_project_status
            args: {{project_id: 6650f0c1a2b3c4d5e6f70003}}
            expect: {{tasks: {{all: {{datasets: {matcher}}}}}}}
        """
    async with rehearsal(tmp_path) as r:
        path.write_text(textwrap.dedent(body.format(matcher="{ne: []}")))
        code, output = await r.run_file(path)

        assert code == 1, output
        assert "FAIL" in output and "datasets: missing: no key 'datasets'" in output

        path.write_text(textwrap.dedent(body.format(matcher="{exists: false}")))
        code, output = await r.run_file(path)

        assert code == 0, output


async def test_health_check_passes_for_the_projects_chosen_by_var(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        code, output = await r.run(
            "health-check.yaml",
            var_arguments=("projects=Customer 360 (prod),Orders*,Sales QVD",),
            json_output=True,
        )

        report = json.loads(output)
        assert code == 0, output
        checked = [call["item"] for call in report["steps"][1]["calls"]]
        assert checked == ["Customer 360 (prod)", "Orders replication", "Sales QVD"]


async def test_health_check_with_a_pattern_matching_no_project_fails(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        code, output = await r.run("health-check.yaml", var_arguments=("projects=Nope*",))

        assert code == 1
        assert "for_each has no items" in output


async def test_recover_failed_task_binds_the_connection_prepares_and_starts_sales_qvd(tmp_path: Path) -> None:
    async with rehearsal(tmp_path) as r:
        project_id = r.emulator.project_id(SALES_QVD)
        before = r.emulator.bindings(project_id)
        assert before["task.sales_landing-8mdj.sourceConnection"] == ""

        code, output = await r.run("recover-failed-task.yaml")

        assert code == 0, output
        after = r.emulator.bindings(project_id)
        assert after["task.sales_landing-8mdj.sourceConnection"] == "{{id(connection, DEV_SPACE.MySQL_DEV)}}"
        assert {k: v for k, v in after.items() if "sourceConnection" not in k} == {
            k: v for k, v in before.items() if "sourceConnection" not in k
        }
        for task_id, _, _ in r.tasks(SALES_QVD):
            assert r.emulator.task_readiness(project_id, task_id) != "NOT_RUNNABLE"
            assert r.emulator.task_run_state(project_id, task_id) == "COMPLETED"
