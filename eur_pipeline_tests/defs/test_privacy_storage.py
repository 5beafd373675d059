"""Nothing private reaches Dagster: the pipeline (and the retention purge job) run through a real
Dagster instance — a SQLite DAGSTER_HOME in every privacy mode, and the PostgreSQL-backed instance —
with a marker body in a loaded message, in a refused record and in a quarantined file; then the whole
instance storage (every file under DAGSTER_HOME / every table of the database) and the process's log
output are scanned for the marker. The warehouse itself holds it (keep mode), so the scan can fail."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from eur_pipeline.definitions import PIPELINE_JOB, build_definitions
from eur_pipeline_tests.conftest import archive_text, chat, drop
from eur_pipeline_tests.defs.conftest import PG

MARKER = "Zq7-PRIVATE-marker-body-4411"
A, B, C = "56208@presence.example.com", "56207@presence.example.com", "56209@presence.example.com"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _setup(root: Path, mode: str) -> Path:
    incoming = root / "incoming"
    incoming.mkdir()
    now = datetime.now(UTC).replace(microsecond=0)  # recent: the purge's bodies_days 1 keeps this body
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = chat("T-1", stamp, A, [B, C], f"hello {MARKER} there") + chat("T-1", stamp, B, [A], "plain reply")
    refused = f'<message direction="IN"><sender>{A}</sender><recipient>{B}</recipient><body>{MARKER}</body></message>'
    drop(incoming, "good.xml", archive_text(records).replace("</messages>", refused + "\n</messages>"))
    drop(incoming, "truncated.xml", f"<messages><message><body><![CDATA[{MARKER} and more")
    config = {
        "warehouse": "./data/warehouse.duckdb",
        "landing_dir": "./data/landing",
        "privacy": {"bodies": mode},
        "retention": {"bodies_days": 1, "records_days": 0, "landing_days": 0},
        "sources": [{"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0}],
    }
    path = root / "eur.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run_everything(config_path: Path, instance: dg.DagsterInstance) -> None:
    defs = build_definitions(str(config_path))
    result = defs.resolve_job_def(PIPELINE_JOB.name).execute_in_process(instance=instance, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    events = instance.all_logs(result.run_id)
    kinds = {e.dagster_event.event_type_value for e in events if e.dagster_event}
    assert {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"} <= kinds
    materialized = {
        e.dagster_event.asset_key.to_user_string()  # type: ignore[union-attr]
        for e in events
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert {"message_records", "messages", "search_index", "billing"} <= materialized
    purge = defs.resolve_job_def("eur_purge_job").execute_in_process(instance=instance, raise_on_error=False)
    assert purge.success


def _warehouse_has_marker(root: Path) -> bool:
    import duckdb

    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return bool(con.execute("SELECT count(*) FROM messages WHERE contains(body, ?)", [MARKER]).fetchone()[0])
    finally:
        con.close()


def _files_with_marker(folder: Path) -> list[str]:
    needles = (MARKER.encode(), MARKER.lower().encode(), MARKER.encode().hex().encode())
    found = []
    for dirpath, _, files in os.walk(folder):
        for name in files:
            data = (Path(dirpath) / name).read_bytes()
            if any(n in data or n in data.lower() for n in needles):
                found.append(str(Path(dirpath) / name))
    return found


@pytest.mark.parametrize("mode", ["keep", "hash", "drop"])
def test_sqlite_instance_storage_holds_no_body(mode: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    config_path = _setup(tmp_path, mode)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _run_everything(config_path, instance)
    assert any(p.suffix == ".db" for p in home.rglob("*")), "the instance stored nothing on disk"
    assert _files_with_marker(home) == []
    out, err = capfd.readouterr()
    assert MARKER not in out and MARKER not in err
    assert _warehouse_has_marker(tmp_path) is (mode == "keep")


def _pg_rows_with_marker(dbname: str) -> dict[str, int]:
    import psycopg2

    con = psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)
    found: dict[str, int] = {}
    scanned = 0
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
            )
            tables: list[Any] = cur.fetchall()
            for schema, table in tables:
                cur.execute(f'SELECT t::text FROM "{schema}"."{table}" t')
                rows = [r[0] for r in cur.fetchall()]
                scanned += len(rows)
                hits = sum(1 for r in rows if MARKER.lower() in r.lower() or MARKER.encode().hex() in r)
                if hits:
                    found[f"{schema}.{table}"] = hits
    finally:
        con.close()
    assert scanned > 50, "the instance stored almost nothing: the scan proves nothing"
    return found


@pytest.mark.postgres
def test_postgres_instance_storage_holds_no_body(
    pg_database: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = _setup(tmp_path, "keep")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")  # the production instance's own file
    for key, value in {"HOST": PG["host"], "PORT": str(PG["port"]), "USER": PG["user"], "PASSWORD": "",
                       "DB": pg_database}.items():  # fmt: skip
        monkeypatch.setenv(f"DAGSTER_PG_{key}", value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _run_everything(config_path, instance)
    assert _pg_rows_with_marker(pg_database) == {}
    assert _files_with_marker(home) == []
    out, err = capfd.readouterr()
    assert MARKER not in out and MARKER not in err
    assert _warehouse_has_marker(tmp_path)
