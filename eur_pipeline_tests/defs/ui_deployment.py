"""A real Dagster deployment for the browser tests: ``dagster-webserver`` and ``dagster-daemon`` on a
temporary SQLite DAGSTER_HOME, a temporary eur.yaml with a local drop folder (and one source whose
folder is missing), on a free loopback port. Every wait is bounded; processes are stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

BIN = Path(sys.executable).parent
LOCATION = "eur_pipeline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, predicate: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@dataclass
class UiDeployment:
    root: Path
    url: str
    incoming: Path
    config: Path
    instance: dg.DagsterInstance

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            data = json.loads(response.read())
        assert "errors" not in data, data
        return data["data"]

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
    (root / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "eur_pipeline.definitions",
                            "location_name": LOCATION,
                            "working_directory": str(root),
                        }
                    }
                ]
            }
        )
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "EUR_CONFIG": str(config)}
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    saved_home = os.environ.get("DAGSTER_HOME")
    try:
        for name, cmd in (
            ("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]),
            ("webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]),
        ):
            log = open(root / f"{name}.log", "wb")  # noqa: SIM115 - closed in finally
            logs.append(log)
            procs.append(
                subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
        url = f"http://127.0.0.1:{port}"

        def loaded() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                    pass
            except OSError:
                return False
            return True

        wait_for("the webserver", loaded, 300)
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get() as instance:
            deployment = UiDeployment(root, url, incoming, config, instance)
            wait_for(
                "the code location",
                lambda: (
                    "Sensor"
                    in json.dumps(
                        deployment.graphql(
                            """query { sensorsOrError(repositorySelector: {repositoryName: "__repository__",
                           repositoryLocationName: "eur_pipeline"}) { __typename } }"""
                        )
                        .get("sensorsOrError", {})
                        .get("__typename", "")
                    )
                ),
                300,
                every=1.0,
            )
            yield deployment
    finally:
        for proc in procs:
            _stop(proc)
        for log in logs:
            log.close()
        if saved_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved_home
