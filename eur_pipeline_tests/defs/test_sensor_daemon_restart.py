"""The sensor under a real ``dagster-daemon`` (PostgreSQL instance) that is killed mid-way and started
again: every file is collected exactly once, including the ones dropped while it was down, one
that arrives late with a five-day-old mtime, and a burst sharing one whole-second mtime.

PostgreSQL missing: the test fails when ``CI`` is set, else skips (as the production tests).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from eur_pipeline.defs.partitions import REQUESTED
from eur_pipeline_tests.conftest import archive_text, chat, drop
from eur_pipeline_tests.defs.conftest import instance_env
from eur_pipeline_tests.defs.processes import BIN, stop, wait_for
from eur_pipeline_tests.defs.test_production import REPO

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _archive(n: int) -> str:
    return archive_text(chat(f"T{n:04d}", "2026-11-02T10:00:00Z", f"u{n}@x", [f"v{n}@x"], "hello"))


class Daemon:
    def __init__(self, root: Path) -> None:
        self.root, self.proc = root, None

    def start(self) -> None:
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=self.root,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL, as a host crash would: no clean shutdown of the tick in progress."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def tail(self) -> str:
        return "\n" + "\n".join((self.root / "daemon.log").read_text(errors="replace").splitlines()[-20:])


@pytest.fixture
def deployment(pg_database: str, tmp_path: Path) -> Iterator[tuple[Path, Daemon, dg.DagsterInstance]]:
    root = tmp_path
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    (root / "incoming").mkdir()
    source = {"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0, "on_success": "keep"}
    (root / "eur.yaml").write_text(yaml.safe_dump({"warehouse": "./wh.duckdb", "sources": [source]}))
    workspace = {"python_module": {"module_name": "eur_pipeline.definitions", "working_directory": str(root)}}
    (root / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [workspace]}))
    env = instance_env(home, pg_database, root / "eur.yaml")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    daemon = Daemon(root)
    try:
        with dg.DagsterInstance.get() as instance:
            yield root, daemon, instance
    finally:
        if daemon.proc is not None:
            stop(daemon.proc)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _loaded(warehouse: Path) -> list[str]:
    """Names in the ledger (empty while the warehouse is missing or a run holds its lock)."""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return []
    try:
        return [r[0] for r in con.execute("SELECT name FROM archive_files").fetchall()]
    except duckdb.Error:
        return []
    finally:
        con.close()


def test_a_daemon_killed_mid_way_and_restarted_misses_nothing_and_loads_nothing_twice(
    deployment: tuple[Path, Daemon, dg.DagsterInstance],
) -> None:
    root, daemon, instance = deployment
    incoming, warehouse = root / "incoming", root / "wh.duckdb"
    first = [f"IMArchive_a{i}.xml" for i in range(3)]
    for i, name in enumerate(first):
        drop(incoming, name, _archive(i))
    daemon.start()
    wait_for("the first files", lambda: sorted(_loaded(warehouse)) == first, timeout=240, explain=daemon.tail)

    # more files, seen by the sensor but not yet requested when the daemon dies
    second = [f"IMArchive_b{i}.xml" for i in range(3)]
    for i, name in enumerate(second, start=10):
        drop(incoming, name, _archive(i))
    time.sleep(20)  # about one tick: they are settling in the cursor
    daemon.kill()
    # while it is down: a late upload with a preserved, five-day-old mtime, and a one-second burst
    late = drop(incoming, "IMArchive_late.xml", _archive(50))
    old = time.time() - 5 * 86_400
    os.utime(late, (old, old))
    burst = [f"IMArchive_burst{i}.xml" for i in range(5)]
    stamp = float(int(time.time()) - 30)
    for i, name in enumerate(burst, start=60):
        os.utime(drop(incoming, name, _archive(i)), (stamp, stamp))
    daemon.start()
    everything = sorted([*first, *second, "IMArchive_late.xml", *burst])
    wait_for("every file", lambda: sorted(_loaded(warehouse)) == everything, timeout=300, explain=daemon.tail)
    time.sleep(35)  # two more ticks: nothing is requested again
    names = _loaded(warehouse)
    assert sorted(names) == everything and len(names) == len(set(names))  # each exactly once
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": "ingest_drop"}))
    failed = [r.run_id for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
    assert not failed, daemon.tail()
    requested = set(instance.get_dynamic_partitions(REQUESTED.name))
    assert len(requested) == len(everything)  # the sensor's memory: one stamp per listed file
