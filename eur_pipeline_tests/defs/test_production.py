"""The production instance end to end: the repo's dagster.yaml on this machine's PostgreSQL, a real
``dagster-daemon`` and ``dagster-webserver``, a fresh database per test session (dropped after).

1. Drop an archive: the sensor, the queued run coordinator and the run bring it to ``billing`` with no
   other action (prints the drop-to-billing latency).
2. Launch a materialization through the webserver's GraphQL API, see it succeed, read the checks.
3. Hold the DuckDB warehouse open from another process while a run starts: the run waits, says why
   in its log, and succeeds once the lock is released, with nothing lost.

PostgreSQL missing: the tests fail when ``CI`` is set, else skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from eur_pipeline_tests.conftest import CORPUS, archive_text, chat, drop
from eur_pipeline_tests.defs.conftest import instance_env
from eur_pipeline_tests.defs.processes import LOCATION, dagster_services, graphql, stop, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Deployment:
    root: Path
    home: Path
    incoming: Path
    warehouse: Path
    graphql_url: str
    instance: dg.DagsterInstance

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return graphql(self.graphql_url, query, variables)

    def run_status(self, run_id: str) -> str:
        run = self.instance.get_run_by_id(run_id)
        return run.status.value if run else "UNKNOWN"

    def run_logs(self, run_id: str) -> list[str]:
        return [e.user_message for e in self.instance.all_logs(run_id)]

    def describe(self) -> str:
        """Runs and the daemon's last lines, for a timeout message."""
        runs = [f"{r.run_id[:8]} {r.status.value} {dict(r.tags)}" for r in self.instance.get_runs(limit=10)]
        daemon = (self.root / "daemon.log").read_text(errors="replace").splitlines()[-15:]
        return "\nruns:\n" + "\n".join(runs) + "\ndaemon log:\n" + "\n".join(daemon)


@pytest.fixture(scope="module")
def deployment(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deploy")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    incoming = root / "incoming"
    incoming.mkdir()
    (root / "eur.yaml").write_text(
        yaml.safe_dump(
            {
                "warehouse": "./data/warehouse.duckdb",
                "landing_dir": "./data/landing",
                "sources": [
                    {
                        "name": "drop",
                        "kind": "local",
                        "path": "./incoming",
                        "min_age_seconds": 0,
                        "on_success": "move",
                        "move_to": "collected",
                        "freshness_hours": 24,
                    }
                ],
            }
        )
    )
    env_vars = instance_env(home, pg_database, root / "eur.yaml")
    saved = {k: os.environ.get(k) for k in env_vars}
    os.environ.update(env_vars)
    try:
        with dagster_services(root, os.environ.copy(), timeout=120) as url, dg.DagsterInstance.get() as instance:
            yield Deployment(root, home, incoming, root / "data" / "warehouse.duckdb", f"{url}/graphql", instance)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _warehouse_count(path: Path, sql: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def _idle(deployment: Deployment) -> None:
    """Wait until no run is queued or in progress (a run still in its checks holds the pool)."""
    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
    busy.append(dg.DagsterRunStatus.STARTED)
    wait_for(
        "every run to finish",
        lambda: not deployment.instance.get_runs(dg.RunsFilter(statuses=busy)),
        timeout=180,
        explain=deployment.describe,
    )


def test_a_dropped_archive_reaches_billing_through_the_daemon(deployment: Deployment) -> None:
    started = time.time()
    drop(deployment.incoming, "IMArchive_seed.xml", CORPUS / "seed_sample.xml")

    def billed() -> float | None:
        event = deployment.instance.get_latest_materialization_event(dg.AssetKey("billing"))
        return event.timestamp if event and event.timestamp >= started else None

    finished = wait_for("a billing materialization", billed, timeout=180, explain=deployment.describe)
    latency = finished - started
    _idle(deployment)
    runs = deployment.instance.get_runs()
    for run in runs:
        record = deployment.instance.get_run_record_by_id(run.run_id)
        stats = deployment.instance.get_run_stats(run.run_id)
        assert record is not None
        print(
            f"run {run.run_id[:8]} created +{record.create_timestamp.timestamp() - started:.1f} s, "
            f"started +{(stats.start_time or 0) - started:.1f} s, ended +{(stats.end_time or 0) - started:.1f} s"
        )
    print(f"\ndrop-to-billing latency through dagster-daemon: {latency:.1f} s ({len(runs)} run(s))")
    assert _warehouse_count(deployment.warehouse, "SELECT count(*) FROM billing") == 2
    assert _warehouse_count(deployment.warehouse, "SELECT sum(messages_sent) FROM billing") == 2
    assert not (deployment.incoming / "IMArchive_seed.xml").exists()  # moved after the commit
    sensor_runs = [r for r in runs if r.tags.get("dagster/sensor_name") == "ingest_drop"]
    assert sensor_runs and sensor_runs[0].run_config["ops"]["ingest"]["config"]["keys"] == ["drop:IMArchive_seed.xml"]


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

CHECKS = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks { name blocking executionForLatestMaterialization { status evaluation { success severity } } }
        }
      }
    }
  }
}"""


def _launch(deployment: Deployment, run_config: dict[str, Any] | None = None) -> str:
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": "eur_pipeline_job",
        },
        "runConfigData": run_config or {},
    }
    result = deployment.graphql(LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _finished(deployment: Deployment, run_id: str) -> str | None:
    status = deployment.run_status(run_id)
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


def test_graphql_launches_a_materialization_and_reads_the_checks(deployment: Deployment) -> None:
    run_id = _launch(deployment)
    assert wait_for("the launched run", lambda: _finished(deployment, run_id), timeout=180) == "SUCCESS"
    _idle(deployment)
    checks: dict[str, dict[str, Any]] = {}
    for path in (["archive_files"], ["message_records"], ["conversations"], ["billing"]):
        node = deployment.graphql(CHECKS, {"path": path})["assetNodeOrError"]
        for check in node["assetChecksOrError"]["checks"]:
            checks[check["name"]] = check
    assert {"conversations_schema", "billing_reconciles", "rejected_share", "freshness_drop"} <= set(checks)
    assert checks["conversations_schema"]["blocking"]
    for name in (
        "conversations_schema",
        "billing_reconciles",
        "ledger_matches_loaded_rows",
        "messages_match_conversations",
        "freshness_drop",
    ):
        execution = checks[name]["executionForLatestMaterialization"]
        assert execution and execution["status"] == "SUCCEEDED" and execution["evaluation"]["success"], name


def test_a_locked_warehouse_makes_the_run_wait_then_succeed(deployment: Deployment) -> None:
    records_before = _warehouse_count(deployment.warehouse, "SELECT count(*) FROM message_records")
    body = chat("lock-1", "2026-10-05T09:00:00Z", "20001@presence.example.com", ["20002@presence.example.com"], "x")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.read()",
            str(deployment.warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        drop(deployment.incoming, "IMArchive_locked.xml", archive_text(body))
        run_id = _launch(deployment, {"ops": {"ingest": {"config": {"sources": ["drop"]}}}})

        def waiting() -> bool:
            return any("is locked by" in m for m in deployment.run_logs(run_id))

        wait_for("the run to report the locked warehouse", waiting, timeout=120, explain=deployment.describe)
        assert deployment.run_status(run_id) == "STARTED"
        assert holder.stdin is not None
        holder.stdin.close()  # the analyst closes the SQL session
        holder.wait(timeout=30)
    finally:
        stop(holder)
    assert wait_for("the waiting run", lambda: _finished(deployment, run_id), timeout=180) == "SUCCESS"
    _idle(deployment)
    assert _warehouse_count(deployment.warehouse, "SELECT count(*) FROM message_records") == records_before + 2
    assert (
        _warehouse_count(deployment.warehouse, "SELECT count(*) FROM archive_files WHERE name = 'IMArchive_locked.xml'")
        == 1
    )
    assert _warehouse_count(deployment.warehouse, "SELECT sum(messages_sent) FROM billing") == 3
