"""Incremental SQL transforms: each consumes its stage of ``pending_threads`` in chunks of threads,
one transaction per chunk, so a crash leaves the rest of the queue intact and the next run redoes
exactly the unfinished threads. On a lake the stages run in its serial section: two writers never
refresh the same thread at once (which DuckLake would let both commit)."""

from __future__ import annotations

import logging

import duckdb

from eur_pipeline.faults import fault_point
from eur_pipeline.warehouse.connection import serial_section, transaction
from eur_pipeline.warehouse.sql_files import read_sql

log = logging.getLogger(__name__)

# The per-thread list aggregates cannot spill to disk, so the threads of one transaction are bounded:
# memory stays flat under the writer's DuckDB cap whatever the size of the file that queued them.
# 10,000: DuckDB 1.5.5 (pinned for the lake's extension wheels) needs more memory for them than 2.0 did:
# 25,000 threads of the large bench archive ran out of the 128 MB writer cap in the conversations stage.
# Threads differ in size too (a room with 100,000 messages is one thread), so a chunk that still runs
# out of memory is rolled back and retried with half as many threads, down to one.
THREADS_PER_CHUNK = 10_000

# The stage's queue as it stands, numbered in the order it was queued (its first row in the table):
# chunks are then ranges of positions instead of a DISTINCT ... LIMIT over the queue each time, and
# the next stage sees the threads in the same chunks, whose rows the previous stage wrote together.
_SNAPSHOT = """CREATE OR REPLACE TEMP TABLE _queue AS
    SELECT thread_id, row_number() OVER (ORDER BY min(rowid)) - 1 AS pos
    FROM pending_threads WHERE stage = ? GROUP BY thread_id"""


def _snapshot(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    """Number the threads queued at ``stage`` into ``_queue``; returns how many there are."""
    con.execute(_SNAPSHOT, [stage])
    row = con.execute("SELECT count(*) FROM _queue").fetchone()
    return int(row[0]) if row else 0


def _run_stage(con: duckdb.DuckDBPyConnection, stage: str, sql_file: str) -> int:
    """Run a transform over the threads queued at ``stage``; returns how many threads it refreshed.
    Threads queued meanwhile (another writer's load, on a lake) are taken by a further pass."""
    sql = read_sql(sql_file)
    refreshed = 0
    chunk = THREADS_PER_CHUNK
    with serial_section(con):
        try:
            while queued := _snapshot(con, stage):
                done = 0
                while done < queued:
                    try:
                        _refresh_chunk(con, stage, sql, done, chunk)
                    except duckdb.OutOfMemoryException:
                        if chunk == 1:
                            raise
                        chunk = max(1, chunk // 2)
                        log.info(
                            "%s: a chunk ran out of memory; retrying with %s threads per chunk", stage, f"{chunk:,}"
                        )
                        continue
                    done = min(queued, done + chunk)
                refreshed += queued
        finally:
            con.execute("DROP TABLE IF EXISTS _queue")
    return refreshed


def _refresh_chunk(con: duckdb.DuckDBPyConnection, stage: str, sql: str, start: int, chunk: int) -> None:
    with transaction(con):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _touched AS SELECT thread_id FROM _queue WHERE pos >= ? AND pos < ?",
            [start, start + chunk],
        )
        con.execute(sql)
        fault_point(f"transform:{stage}")


def refresh_messages(con: duckdb.DuckDBPyConnection) -> int:
    return _run_stage(con, "messages", "transform_messages.sql")


def refresh_conversations(con: duckdb.DuckDBPyConnection) -> int:
    return _run_stage(con, "conversations", "transform_conversations.sql")
