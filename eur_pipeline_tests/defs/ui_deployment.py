"""A real Dagster deployment for the browser tests: ``dagster-webserver`` and ``dagster-daemon`` on a
temporary SQLite DAGSTER_HOME, a temporary eur.yaml with a local drop folder (and one source whose
folder is missing), on a free loopback port. Every wait is bounded; processes are stopped by pid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from eur_pipeline_tests.defs.processes import LOCATION, dagster_services, graphql, wait_for


@dataclass
class UiDeployment:
    root: Path
    url: str
    incoming: Path
    config: Path
    instance: dg.DagsterInstance

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return graphql(f"{self.url}/graphql", query, variables)

    def runs(self, job: str | None = None) -> list[dg.DagsterRun]:
        runs = self.instance.get_runs(limit=50)
        return [r for r in runs if job is None or r.job_name == job]

    def wait_for_run(self, run_id: str, timeout: float = 240) -> dg.DagsterRun:
        def finished() -> dg.DagsterRun | None:
            run = self.instance.get_run_by_id(run_id)
            return run if run and run.is_finished else None

        return wait_for(f"run {run_id} to finish", finished, timeout, every=1.0)

    def run_logs(self, run_id: str) -> str:
        return "\n".join(e.user_message for e in self.instance.all_logs(run_id))

    def sensors_loaded(self) -> bool:
        data = self.graphql(
            """query { sensorsOrError(repositorySelector: {repositoryName: "__repository__",
                 repositoryLocationName: "eur_pipeline"}) { __typename } }"""
        )
        return data["sensorsOrError"]["__typename"] == "Sensors"

    def tick_statuses(self, sensor: str) -> list[str]:
        """The sensor's recent ticks, newest first: SUCCESS / SKIPPED / FAILURE / STARTED."""
        data = self.graphql(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                 ... on Sensor { sensorState { ticks(limit: 50) { status } } } } }""",
            {"s": {"repositoryName": "__repository__", "repositoryLocationName": LOCATION, "sensorName": sensor}},
        )
        return [t["status"] for t in data["sensorOrError"]["sensorState"]["ticks"]]

    def stop_sensor(self, name: str) -> None:
        """Stop a sensor (so a test decides when files are collected)."""
        data = self.graphql(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                 ... on Sensor { sensorState { id } } } }""",
            {"s": {"repositoryName": "__repository__", "repositoryLocationName": LOCATION, "sensorName": name}},
        )
        state_id = data["sensorOrError"]["sensorState"]["id"]
        self.graphql(
            "mutation($id: String) { stopSensor(id: $id) { __typename } }",
            {"id": state_id},
        )


def start_deployment(root: Path) -> Iterator[UiDeployment]:
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({"concurrency": {"pools": {"default_limit": 1}}, "telemetry": {"enabled": False}})
    )
    incoming = root / "incoming"
    incoming.mkdir()
    config = root / "eur.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouse": "./data/warehouse.duckdb",
                "landing_dir": "./data/landing",
                "timezone": "Europe/Paris",
                "sources": [
                    {"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0}
                    | {"on_success": "move", "move_to": "collected"},
                    {"name": "lost", "kind": "local", "path": "./no-such-folder"},
                ],
            },
            sort_keys=False,
        )
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "EUR_CONFIG": str(config)}
    saved_home = os.environ.get("DAGSTER_HOME")
    try:
        with dagster_services(root, env) as url:
            os.environ["DAGSTER_HOME"] = str(home)
            with dg.DagsterInstance.get() as instance:
                deployment = UiDeployment(root, url, incoming, config, instance)
                wait_for("the code location's sensors", deployment.sensors_loaded, 300)
                yield deployment
    finally:
        if saved_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved_home
