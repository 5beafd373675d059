"""Incremental SQL transforms: each consumes its stage of ``pending_threads`` in one transaction,
so a crash leaves the queue intact and the next run redoes exactly the unfinished threads."""

from __future__ import annotations

import duckdb

from eur_pipeline.faults import fault_point
from eur_pipeline.warehouse.connection import transaction
from eur_pipeline.warehouse.sql_files import read_sql


def _pending(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    row = con.execute("SELECT count(*) FROM pending_threads WHERE stage = ?", [stage]).fetchone()
    return int(row[0]) if row else 0


def _run_stage(con: duckdb.DuckDBPyConnection, stage: str, sql_file: str) -> int:
    """Run a transform over the threads queued at ``stage``; returns how many threads it refreshed."""
    touched = _pending(con, stage)
    if touched:
        with transaction(con):
            con.execute(read_sql(sql_file))
            fault_point(f"transform:{stage}")
    return touched


def refresh_messages(con: duckdb.DuckDBPyConnection) -> int:
    return _run_stage(con, "messages", "transform_messages.sql")


def refresh_conversations(con: duckdb.DuckDBPyConnection) -> int:
    return _run_stage(con, "conversations", "transform_conversations.sql")
