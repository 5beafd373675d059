"""``make bench`` (database part): a database source reading Openfire's ``ofMessageArchive`` from the
local PostgreSQL into the warehouse, against a raw read of the same rows in the same run.

* baseline: ``COPY (SELECT the same columns ... ORDER BY messageID) TO STDOUT`` with psycopg2 into
  memory — the fastest way to get the rows out of PostgreSQL at all (nothing parsed, nothing stored);
* pipeline: ``collect_source`` (list batches, copy each batch out in its snapshot, write the canonical
  file, land it, map the rows to records in SQL, load them with the ledger row and the row ids in one
  DuckDB transaction), then the messages / conversations / billing refresh, timed separately.

Target: the pipeline's collect reads >= 100,000 rows/s. ``BENCH_DB_ROWS`` (default 1,000,000, scaled
by ``BENCH_SCALE``) sets the size; the database is created under a unique name and dropped after.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DDL = ROOT / "eur_pipeline_tests" / "vendors" / "upstream_ddl" / "openfire_monitoring_postgresql.sql"
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ROWS = max(10_000, int(int(os.environ.get("BENCH_DB_ROWS", "1000000")) * SCALE))
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
TARGET_ROWS_PER_SECOND = 100_000

# 1:1 conversations of 20 messages between 2,000 users, plus rooms of 8 members (one row in ten)
FILL = """
INSERT INTO ofConversation (conversationID, room, isExternal, startDate, lastActivity, messageCount)
SELECT c, CASE WHEN c %% 10 = 0 THEN 'room' || c || '@conference.example.com' END, 0,
       1772442000000 + c * 1000, 1772442000000 + c * 1000 + 60000, 20
FROM generate_series(1, %(conversations)s) c;
INSERT INTO ofConParticipant (conversationID, joinedDate, leftDate, bareJID, jidResource, nickname)
SELECT c, 1772442000000 + c * 1000 - 1, NULL, 'user' || ((c * 7 + k) %% 2000) || '@example.com', 'res', 'n' || k
FROM generate_series(10, %(conversations)s, 10) c, generate_series(0, 7) k;
INSERT INTO ofMessageArchive (messageID, conversationID, fromJID, fromJIDResource, toJID, toJIDResource,
                              sentDate, stanza, body, isPMforJID)
SELECT i, (i - 1) / 20 + 1,
       'user' || ((((i - 1) / 20 + 1) * 7 + i %% 2) %% 2000) || '@example.com', 'laptop',
       CASE WHEN ((i - 1) / 20 + 1) %% 10 = 0 THEN 'room' || ((i - 1) / 20 + 1) || '@conference.example.com'
            ELSE 'user' || ((((i - 1) / 20 + 1) * 7 + (i + 1) %% 2) %% 2000) || '@example.com' END, 'phone',
       1772442000000 + ((i - 1) / 20 + 1) * 1000 + (i %% 20) * 2000, NULL,
       'message number ' || i || ' with a body of typical length for a chat line', NULL
FROM generate_series(1, %(rows)s) i;
ANALYZE;
"""
COLUMNS = "messageID, conversationID, fromJID, fromJIDResource, toJID, toJIDResource, sentDate, body, isPMforJID"


def _connect(dbname: str):  # type: ignore[no-untyped-def]
    import psycopg2

    con = psycopg2.connect(dbname=dbname, connect_timeout=5, **PG)
    con.autocommit = True
    return con


def baseline(dbname: str) -> tuple[float, int]:
    con = _connect(dbname)
    try:
        with con.cursor() as cur:
            out = io.BytesIO()
            started = time.perf_counter()
            cur.copy_expert(
                f"COPY (SELECT {COLUMNS} FROM ofMessageArchive WHERE messageID IS NOT NULL ORDER BY messageID) "
                "TO STDOUT WITH (FORMAT csv, HEADER true)",
                out,
            )
            return time.perf_counter() - started, out.getvalue().count(b"\n") - 1
    finally:
        con.close()


def pipeline(dbname: str, work: Path) -> dict[str, float]:
    from eur_pipeline.billing.compute import refresh_billing
    from eur_pipeline.config import load_config
    from eur_pipeline.pipeline.collect import collect_source
    from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
    from eur_pipeline.warehouse.migrations import open_warehouse

    raw = {
        "warehouse": "./warehouse.duckdb",
        "landing_dir": "./landing",
        "sources": [
            {
                "name": "openfire-bench",
                "kind": "openfire",
                "dsn": f"postgresql://postgres@127.0.0.1:5432/{dbname}",
                "max_batches": 10_000,
            }
        ],
    }
    (work / "eur.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(work / "eur.yaml")
    con = open_warehouse(config.warehouse)
    try:
        started = time.perf_counter()
        report = collect_source(con, config, config.sources[0])
        collect = time.perf_counter() - started
        assert report.error is None, report.error
        loaded = con.execute("SELECT count(*) FROM source_rows").fetchone()[0]  # type: ignore[index]
        records = con.execute("SELECT count(*) FROM message_records").fetchone()[0]  # type: ignore[index]
        started = time.perf_counter()
        refresh_messages(con)
        refresh_conversations(con)
        refresh_billing(con, config)
        downstream = time.perf_counter() - started
    finally:
        con.close()
    return {
        "collect": collect,
        "rows": loaded,
        "records": records,
        "downstream": downstream,
        "batches": len(report.files),
    }


def main() -> None:
    name = f"eur_bench_openfire_{uuid.uuid4().hex[:8]}"
    admin = _connect("postgres")
    work = Path(tempfile.mkdtemp(prefix="eur-bench-db-"))
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        db = _connect(name)
        with db.cursor() as cur:
            cur.execute(DDL.read_text(encoding="utf-8"))
            started = time.perf_counter()
            cur.execute(FILL, {"rows": ROWS, "conversations": (ROWS + 19) // 20})
            print(
                f"database source bench: {ROWS:,} ofMessageArchive rows written in {time.perf_counter() - started:.1f}s"
            )
        db.close()
        base_s, base_rows = baseline(name)
        result = pipeline(name, work)
        base_rate = base_rows / base_s
        rate = result["rows"] / result["collect"]
        print(f"  baseline  raw COPY of the same rows: {base_rows:,} rows in {base_s:.2f}s = {base_rate:,.0f} rows/s")
        print(
            f"  pipeline  collect (openfire source → warehouse): {result['rows']:,} rows → "
            f"{result['records']:,} records "
            f"in {result['batches']} batches, {result['collect']:.2f}s = {rate:,.0f} rows/s "
            f"({rate / base_rate:.2f}x the raw COPY; target >= {TARGET_ROWS_PER_SECOND:,} rows/s: "
            f"{'met' if rate >= TARGET_ROWS_PER_SECOND else 'NOT met'})"
        )
        print(f"  downstream messages + conversations + billing refresh: {result['downstream']:.2f}s")
        load = os.getloadavg()
        print(f"  machine load average during the run: {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
        shutil.rmtree(work, ignore_errors=True) if not os.environ.get("BENCH_KEEP") else print(work)


if __name__ == "__main__":
    main()
