"""Incremental SQL transforms: each consumes its stage of ``pending_threads`` in chunks of threads,
one transaction per chunk, so a crash leaves the rest of the queue intact and the next run redoes
exactly the unfinished threads."""

from __future__ import annotations

import logging

import duckdb

from eur_pipeline.faults import fault_point
from eur_pipeline.warehouse.connection import transaction
from eur_pipeline.warehouse.sql_files import read_sql

log = logging.getLogger(__name__)


def _pending(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    row = con.execute("SELECT count(*) FROM pending_threads WHERE stage = ?", [stage]).fetchone()
    return int(row[0]) if row else 0


# The per-thread list aggregates cannot spill to disk, so the threads of one transaction are bounded:
# memory stays flat under the writer's DuckDB cap whatever the size of the file that queued them.
# Threads differ in size (a room with 100,000 messages is one thread), so a chunk that still runs out
# of memory is rolled back and retried with half as many threads, down to one.
THREADS_PER_CHUNK = 25_000


def _run_stage(con: duckdb.DuckDBPyConnection, stage: str, sql_file: str) -> int:
    """Run a transform over the threads queued at ``stage``; returns how many threads it refreshed."""
    sql = read_sql(sql_file)
    refreshed = 0
    chunk = THREADS_PER_CHUNK
    while touched := _pending(con, stage):
        try:
            with transaction(con):
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE _touched AS "
                    "SELECT thread_id FROM pending_threads WHERE stage = ? LIMIT ?",
                    [stage, chunk],
                )
                con.execute(sql)
                fault_point(f"transform:{stage}")
        except duckdb.OutOfMemoryException:
            if chunk == 1:
                raise
            chunk = max(1, chunk // 2)
            log.info("%s: a chunk ran out of memory; retrying with %s threads per chunk", stage, f"{chunk:,}")
            continue
        refreshed += min(touched, chunk)
    return refreshed


def refresh_messages(con: duckdb.DuckDBPyConnection) -> int:
    return _run_stage(con, "messages", "transform_messages.sql")


def refresh_conversations(con: duckdb.DuckDBPyConnection) -> int:
    return _run_stage(con, "conversations", "transform_conversations.sql")
