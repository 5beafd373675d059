"""Helpers for the fault tests: the real sshd / relay fixtures (re-exported from the SFTP tests), the
collector as a killable subprocess, an in-process run of the core, and warehouse snapshots.

Every wait is bounded; every child process is killed (whole process group) in ``finally``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.config import EurConfig
from eur_pipeline.config.loader import load_config
from eur_pipeline.demo.generate import GenerateSpec, generate
from eur_pipeline.pipeline.backups import MANIFEST
from eur_pipeline.pipeline.collect import SourceReport, collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.warehouse.connection import connect, warehouse_exists
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline.warehouse.target import LakeConfig
from eur_pipeline_tests.sources.conftest import (  # noqa: F401  (fixtures re-exported for this folder)
    KEY_PASSPHRASE,
    Sshd,
    TcpRelay,
    embedded_sftp,
    remote_dir,
    sshd,
    tcp_relay,
    write_remote,
)

SOURCE = "archiver"  # one source name for every variant, so snapshots compare across sources
SITE = "Corporation 1/Avaya IM"
CONTRACT_TABLES = ("archive_files", "message_records", "rejected_records", "messages", "conversations", "billing")
FILE_AGE_SECONDS = 3600


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_inputs(folder: Path, seed: int = 7, conversations: int = 60, days: int = 2, files_per_day: int = 3) -> dict:
    """Generated archives in ``folder`` (mtime an hour ago); returns name → sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = GenerateSpec(conversations=conversations, users=12, days=days, seed=seed, files_per_day=files_per_day)
    paths = generate(folder, spec)
    then = time.time() - FILE_AGE_SECONDS
    for i, path in enumerate(sorted(paths)):
        os.utime(path, (then + i, then + i))
    return {p.name: sha256_of(p.read_bytes()) for p in paths}


def write_config(base: Path, source: dict[str, Any], warehouse: Any = None, **top: Any) -> Path:
    """An eur.yaml in ``base`` with one source (named SOURCE) and a warehouse (default: a DuckDB file
    beside it; or a ``warehouse:`` value such as the ``warehouse_value`` fixture's lake) + landing."""
    raw = {
        "warehouse": warehouse or str(base / "wh.duckdb"),
        "landing_dir": str(base / "landing"),
        "sources": [{"name": SOURCE, "site": SITE, "min_age_seconds": 0, **source}],
        **top,
    }
    path = base / "eur.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def local_source(folder: Path, on_success: str = "delete") -> dict[str, Any]:
    return {"kind": "local", "path": str(folder), "on_success": on_success}


def sftp_source(server: Sshd, remote_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "sftp",
        "host": "127.0.0.1",
        "port": server.port,
        "username": server.username,
        "private_key": str(server.keys["ed25519"]),
        "known_hosts": str(server.known_hosts),
        "remote_path": str(remote_path),
        "timeout_seconds": 5,
        "connect_retries": 2,
        "retry_max_seconds": 5,
        "on_success": "delete",
        **extra,
    }


# ---------------------------------------------------------------------------------------------
# The collector as a subprocess


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    killed: bool = False
    lines_seen: list[str] = field(default_factory=list)


def run_cli(
    config: Path,
    *,
    fault: str | None = None,
    timeout: float = 180,
    kill_when: Callable[[list[str]], bool] | None = None,
    kill_delay: float = 0.0,
    env: dict[str, str] | None = None,
    verbose: bool = False,
) -> CliRun:
    """``eur-pipeline run --config`` in its own process group. ``fault`` sets EUR_FAULT_INJECT;
    ``kill_when(stderr_lines)`` SIGKILLs the group (after ``kill_delay``) once it returns True."""
    child_env = {k: v for k, v in os.environ.items() if k != "EUR_FAULT_INJECT"}
    child_env.update(env or {})
    child_env.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    if fault:
        child_env["EUR_FAULT_INJECT"] = fault
    # per-file lines (which kill_when watches) are logged only at debug level (-v)
    flags = ["-v"] if verbose or kill_when else []
    cmd = [sys.executable, "-m", "eur_pipeline.cli", *flags, "run", "--config", str(config)]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env, start_new_session=True, text=True
    )
    lines: list[str] = []
    out_chunks: list[str] = []
    killed = False

    def drain_stdout() -> None:
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    reader = threading.Thread(target=drain_stdout, daemon=True)
    reader.start()
    try:
        assert proc.stderr is not None
        deadline = started + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.2)
            if ready:
                line = proc.stderr.readline()
                if not line:
                    break
                lines.append(line)
                if kill_when is not None and not killed and kill_when(lines):
                    if kill_delay:
                        time.sleep(kill_delay)
                    _kill_group(proc)
                    killed = True
            elif proc.poll() is not None:
                break
        else:
            _kill_group(proc)
            pytest.fail(f"eur-pipeline run did not finish within {timeout:.0f}s; stderr tail: {''.join(lines[-5:])}")
        proc.wait(timeout=30)
    finally:
        _kill_group(proc)
        reader.join(timeout=10)
    assert proc.stderr is not None
    rest = proc.stderr.read() or ""
    lines += rest.splitlines(keepends=True)
    return CliRun(proc.returncode, "".join(out_chunks), "".join(lines), time.monotonic() - started, killed, lines)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


# ---------------------------------------------------------------------------------------------
# The core without Dagster (for in-process fault runs)


def core_run(config: EurConfig) -> list[SourceReport]:
    """What one `eur-pipeline run` does, in-process: collect every source, then the transforms."""
    con = open_warehouse(config.warehouse, wait_seconds=30)
    try:
        reports = [collect_source(con, config, s) for s in config.sources]
        refresh_messages(con)
        refresh_conversations(con)
        refresh_billing(con, config)
        return reports
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Snapshots and invariants


def read_only(warehouse: Path | LakeConfig) -> duckdb.DuckDBPyConnection:
    return connect(warehouse, read_only=True, wait_seconds=30)


def snapshot(config_path: Path) -> dict[str, list[str]]:
    """Every contract table by content, order-independent. Collection timestamps are left out;
    landing_path is made relative to landing_dir (so two folders compare)."""
    config = load_config(config_path)
    landing = str(config.landing_dir)
    con = read_only(config.warehouse)
    try:
        out: dict[str, list[str]] = {}
        for table in CONTRACT_TABLES:
            if table == "archive_files":
                sql = (
                    "SELECT * EXCLUDE (collected_at, parsed_at, landing_path), "
                    f"replace(landing_path, '{landing}', '<landing>') AS landing_path FROM archive_files"
                )
            else:
                sql = f"SELECT * FROM {table}"
            out[table] = sorted(map(repr, con.execute(sql).fetchall()))
        out["pending_threads"] = sorted(map(repr, con.execute("SELECT * FROM pending_threads").fetchall()))
        return out
    finally:
        con.close()


def loaded_hashes(warehouse: Path | LakeConfig) -> set[str]:
    """sha256 of every file committed to the ledger (empty when the warehouse does not exist yet)."""
    if not warehouse_exists(warehouse):
        return set()
    con = read_only(warehouse)
    try:
        return {r[0] for r in con.execute("SELECT sha256 FROM archive_files").fetchall()}
    except duckdb.CatalogException:
        return set()  # killed before the first migration committed
    finally:
        con.close()


def assert_nothing_gone_without_data(folder: Path, inputs: dict[str, str], warehouse: Path | LakeConfig) -> None:
    """Every input no longer at the source has its content committed in the ledger."""
    present = {p.name for p in folder.iterdir() if p.is_file()}
    gone = {name: sha for name, sha in inputs.items() if name not in present}
    missing = {name for name, sha in gone.items() if sha not in loaded_hashes(warehouse)}
    assert not missing, f"deleted at the source but not in the warehouse: {sorted(missing)}"


def landing_files(landing: Path) -> list[str]:
    """Backup copies (relative paths), excluding the staging folder and the backups' manifest."""
    if not landing.exists():
        return []
    return sorted(
        str(p.relative_to(landing))
        for p in landing.rglob("*")
        if p.is_file() and ".incoming" not in p.parts and p.name != MANIFEST
    )


def staging_leftovers(landing: Path) -> list[str]:
    incoming = landing / ".incoming"
    return sorted(str(p.relative_to(incoming)) for p in incoming.rglob("*") if p.is_file()) if incoming.exists() else []


@pytest.fixture(scope="session")
def clean_reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], dict[str, list[str]]]:
    """Snapshot of a clean, uninterrupted `eur-pipeline run` over ``make_inputs(seed=...)``, cached per seed."""
    cache: dict[int, dict[str, list[str]]] = {}

    def get(seed: int = 7, **spec: Any) -> dict[str, list[str]]:
        key = hash((seed, tuple(sorted(spec.items()))))
        if key not in cache:
            base = tmp_path_factory.mktemp(f"reference{seed}")
            make_inputs(base / "in", seed=seed, **spec)
            config = write_config(base, local_source(base / "in"))
            result = run_cli(config)
            assert result.returncode == 0, result.stderr[-2000:]
            cache[key] = snapshot(config)
        return cache[key]

    return get


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path / "landing", ignore_errors=True)
