"""The DuckLake warehouse on the real local PostgreSQL: offline extensions, secrets, analysts reading
while runs write, two writers meeting the same content, and copying a DuckDB-file warehouse in."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from eur_pipeline.cli import main
from eur_pipeline.config.loader import load_config
from eur_pipeline.demo.generate import GenerateSpec, generate
from eur_pipeline.errors import ConfigError
from eur_pipeline.pipeline.integrity import check_integrity
from eur_pipeline.warehouse.connection import connect
from eur_pipeline.warehouse.lake import LakeUnavailableError, extension_file, load_extensions
from eur_pipeline.warehouse.target import LakeConfig
from eur_pipeline_tests.backends import lake_database, lake_spec

pytestmark = pytest.mark.postgres

CONTRACT_TABLES = ["archive_files", "message_records", "rejected_records", "messages", "conversations", "billing"]


def write_config(base: Path, warehouse: object, sources: list[dict]) -> Path:
    raw = {"warehouse": warehouse, "landing_dir": str(base / "landing"), "sources": sources}
    path = base / "eur.yaml"
    base.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def folder_source(name: str, folder: Path) -> dict:
    return {"name": name, "kind": "local", "path": str(folder), "min_age_seconds": 0, "on_success": "keep"}


def run(config: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "eur_pipeline.cli", "run", "--config", str(config)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return out


def rows(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    exclude = " EXCLUDE (collected_at, parsed_at)" if table == "archive_files" else ""
    return sorted(map(repr, con.execute(f"SELECT *{exclude} FROM {table}").fetchall()))


def analyst(spec: dict) -> duckdb.DuckDBPyConnection:
    """What the README tells an analyst to type: their own DuckDB, the lake attached read-only."""
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    load_extensions(con)
    con.execute(f"ATTACH 'ducklake:{spec['ducklake']}' AS lake (READ_ONLY)")
    con.execute("SET TimeZone = 'UTC'")
    return con


# ------------------------------------------------------------------------------------------ setup


def test_missing_extension_is_a_one_line_error() -> None:
    with pytest.raises(LakeUnavailableError) as info:
        extension_file("duckdb_extension_ducklake", "ducklake", version="0.0.1")
    message = str(info.value)
    assert "\n" not in message and "duckdb-extension-ducklake==0.0.1" in message
    with pytest.raises(LakeUnavailableError, match="pip install 'no-such-wheel=="):
        extension_file("no_such_wheel", "ducklake")


def test_extensions_load_from_the_installed_wheels_without_network() -> None:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    load_extensions(con)
    loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
    assert loaded["ducklake"] and loaded["postgres_scanner"]


def test_password_is_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EUR_LAKE_PW", "s3cret-pw")
    path = write_config(
        tmp_path,
        {
            "ducklake": "postgres:dbname=eur_no_such_db host=127.0.0.1 user=nobody password=${EUR_LAKE_PW}",
            "data_path": "./lake",
        },
        [],
    )
    config = load_config(path)
    assert isinstance(config.warehouse, LakeConfig) and config.warehouse.data_path == f"{tmp_path}/lake/"
    assert "s3cret-pw" in config.warehouse.conninfo
    for shown in (str(config.warehouse), repr(config.warehouse), repr(config)):
        assert "s3cret-pw" not in shown and "password=**********" in shown
    with pytest.raises(ConfigError) as info:
        connect(config.warehouse)
    assert "s3cret-pw" not in str(info.value) and "\n" not in str(info.value)


def test_a_lake_must_name_a_postgres_catalog(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"ducklake": "sqlite:lake.db", "data_path": "./lake"}, [])
    with pytest.raises(ConfigError, match=r"warehouse.*PostgreSQL catalog"):
        load_config(path)


# ------------------------------------------------------------------------------------------ concurrency


def _inputs(folder: Path, seed: int, conversations: int = 60, files_per_day: int = 3, days: int = 2) -> list[Path]:
    spec = GenerateSpec(conversations=conversations, users=12, days=days, seed=seed, files_per_day=files_per_day)
    return generate(folder, spec)


def test_two_writers_meeting_the_same_files_load_each_content_once(tmp_path: Path) -> None:
    """Two runs in parallel on one lake, each its own source; half their files are the same bytes
    under other names. Every content is loaded exactly once, and the lake reconciles."""
    left, right = tmp_path / "left", tmp_path / "right"
    own_left = _inputs(left, seed=1)
    own_right = _inputs(right, seed=2)
    shared = _inputs(tmp_path / "shared", seed=3)
    for i, path in enumerate(shared):
        shutil.copyfile(path, left / f"L-{i}-{path.name}")
        shutil.copyfile(path, right / f"R-{i}-{path.name}")
    contents = {hashlib.sha256(p.read_bytes()).hexdigest() for p in [*own_left, *own_right, *shared]}
    with lake_database() as db:
        spec = lake_spec(db, str(tmp_path / "lake") + "/")
        a = write_config(tmp_path / "a", spec, [folder_source("left", left)])
        b = write_config(tmp_path / "b", spec, [folder_source("right", right)])
        first, second = run(a), run(b)
        finish(first)
        finish(second)
        con = connect(load_config(a).warehouse, read_only=True)
        try:
            ledger = con.execute("SELECT sha256 FROM archive_files").fetchall()
            assert len(ledger) == len(contents) and {r[0] for r in ledger} == contents
            per_file = con.execute(
                "SELECT count(*) FROM (SELECT file_id, record_no FROM message_records GROUP BY ALL HAVING count(*) > 1)"
            ).fetchall()
            assert per_file == [(0,)]
            assert con.execute("SELECT count(*) - count(DISTINCT message_id) FROM messages").fetchall() == [(0,)]
            assert con.execute("SELECT count(*) - count(DISTINCT thread_id) FROM conversations").fetchall() == [(0,)]
            billed = con.execute("SELECT count(*) - count(DISTINCT (period, user_jid)) FROM billing").fetchall()
            assert billed == [(0,)]
            assert check_integrity(con) == []
        finally:
            con.close()


def test_analysts_read_whole_snapshots_while_a_run_writes(tmp_path: Path) -> None:
    """An analyst's read-only session stays open through a whole run: the run never waits for it, and
    every query sees a whole commit (records of a file all or none; billing totals before or after)."""
    incoming = tmp_path / "in"
    _inputs(incoming, seed=5, conversations=3000, files_per_day=1)
    with lake_database() as db:
        spec = lake_spec(db, str(tmp_path / "lake") + "/")
        config = write_config(tmp_path, spec, [folder_source("drop", incoming)])
        empty = run(config)  # creates the lake (nothing to collect yet is not possible: files exist)
        finish(empty)
        reader = analyst(spec)
        base = reader.execute("SELECT count(*), coalesce(sum(messages_sent), 0) FROM lake.billing").fetchall()[0]
        before = reader.execute("SELECT count(*) FROM lake.message_records").fetchall()[0][0]
        # a second batch of files arrives while the analyst's session is open
        more = _inputs(tmp_path / "more", seed=6, conversations=3000, files_per_day=1, days=1)  # one file
        for path in more:
            shutil.copyfile(path, incoming / f"more-{path.name}")
        seen: list[tuple[int, object]] = []
        latencies: list[float] = []
        writer = run(config)
        started = time.monotonic()
        while writer.poll() is None and time.monotonic() - started < 300:
            t0 = time.monotonic()
            reader.execute("BEGIN TRANSACTION")
            records = reader.execute("SELECT count(*) FROM lake.message_records").fetchall()[0][0]
            total = reader.execute("SELECT coalesce(sum(messages_sent), 0) FROM lake.billing").fetchall()[0][0]
            reader.execute("COMMIT")
            latencies.append(time.monotonic() - t0)
            seen.append((records, total))
            time.sleep(0.05)
        finish(writer)
        after = reader.execute("SELECT count(*) FROM lake.message_records").fetchall()[0][0]
        final_total = reader.execute("SELECT coalesce(sum(messages_sent), 0) FROM lake.billing").fetchall()[0][0]
        reader.close()
    assert after > before and final_total > base[1]
    assert len(seen) >= 3, "the reader should have queried several times during the run"
    assert {r for r, _ in seen} <= {before, after}, "a reader saw part of a file's records"
    assert {t for _, t in seen} <= {base[1], final_total}, "a reader saw billing half-updated"
    assert max(latencies) < 10, f"a reader waited {max(latencies):.1f} s"


# ------------------------------------------------------------------------------------------ copy


def test_copy_a_file_warehouse_into_a_lake_gives_equal_tables(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    incoming = tmp_path / "in"
    _inputs(incoming, seed=9)
    (incoming / "broken.xml").write_text("<messages><message>", encoding="utf-8")  # a quarantined row too
    source = write_config(tmp_path / "file", str(tmp_path / "file" / "wh.duckdb"), [folder_source("drop", incoming)])
    finish(run(source))
    with lake_database() as db:
        destination = write_config(tmp_path / "lake", lake_spec(db, str(tmp_path / "lake" / "data") + "/"), [])
        assert main(["warehouse", "copy", "--config", str(source), "--to", str(destination)]) == 0
        assert "copied" in capsys.readouterr().out
        file_con = connect(load_config(source).warehouse, read_only=True)
        lake_con = connect(load_config(destination).warehouse, read_only=True)
        try:
            for table in [*CONTRACT_TABLES, "file_sightings", "pending_threads", "billing_thread_periods"]:
                assert rows(lake_con, table) == rows(file_con, table), table
            assert rows(lake_con, "billing_by_department") == rows(file_con, "billing_by_department")
            assert check_integrity(lake_con) == []
        finally:
            file_con.close()
            lake_con.close()
        # a second copy would merge two warehouses: refused, nothing changed
        assert main(["warehouse", "copy", "--config", str(source), "--to", str(destination)]) == 2
        assert "already holds" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ maintenance


def test_maintenance_jobs_merge_small_files_and_expire_snapshots_leaving_tables_equal(tmp_path: Path) -> None:
    from eur_pipeline.defs.maintenance import eur_lake_compaction, eur_lake_snapshot_expiry
    from eur_pipeline.defs.resources import EurResource
    from eur_pipeline.warehouse.maintenance import lake_shape

    incoming = tmp_path / "in"
    _inputs(incoming, seed=4, conversations=40, files_per_day=6)
    with lake_database() as db:
        config = write_config(tmp_path, lake_spec(db, str(tmp_path / "lake") + "/"), [folder_source("drop", incoming)])
        finish(run(config))
        target = load_config(config).warehouse
        con = connect(target, read_only=True)
        before = {t: rows(con, t) for t in CONTRACT_TABLES}
        shape = lake_shape(con)
        con.close()
        resources = {"eur": EurResource(config_path=str(config))}
        assert eur_lake_compaction.execute_in_process(resources=resources).success
        con = connect(target)
        # expiry keeps a week by default: expire everything but the current snapshot here
        from eur_pipeline.warehouse.maintenance import expire

        report = expire(con, keep_days=0, file_grace_hours=0)
        con.close()
        assert eur_lake_snapshot_expiry.execute_in_process(resources=resources).success
        con = connect(target, read_only=True)
        try:
            after = lake_shape(con)
            assert {t: rows(con, t) for t in CONTRACT_TABLES} == before
        finally:
            con.close()
    assert report is not None and report.after.snapshots == 1 < shape.snapshots
    assert after.inlined_rows == 0 and after.data_files < shape.data_files + 10
    merged = list((tmp_path / "lake").rglob("*.parquet"))
    assert len(merged) == after.data_files + _delete_files(merged)


def _delete_files(paths: list[Path]) -> int:
    return sum(1 for p in paths if "delete" in p.name)
