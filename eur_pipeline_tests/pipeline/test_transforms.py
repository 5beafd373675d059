"""Incremental transforms under the writer's memory cap: a chunk of threads too large for it is
retried with fewer threads instead of failing the run."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from eur_pipeline.pipeline import transforms
from eur_pipeline.warehouse.migrations import migrate

THREADS, PER_THREAD = 32, 10_000  # 320,000 records: far more than 30 MB of list aggregates at once


def _queued_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    migrate(con)
    con.execute(
        f"""INSERT INTO message_records
        SELECT 'f', i, 'OUT', TIMESTAMPTZ '2026-03-01 09:00:00+00' + INTERVAL (i) SECOND, 't' || (i % {THREADS}),
               'u' || (i % 97) || '@example.com', NULL, 'v' || (i % 89) || '@example.com', NULL,
               repeat('x', 40) || i, NULL, sha256(i::VARCHAR)
        FROM range({THREADS * PER_THREAD}) r(i)"""
    )
    con.execute("INSERT INTO pending_threads SELECT DISTINCT thread_id, 'messages' FROM message_records")
    return con


def test_a_chunk_that_runs_out_of_memory_is_retried_with_fewer_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(transforms, "THREADS_PER_CHUNK", THREADS)  # every thread in one chunk at first
    con = _queued_warehouse(tmp_path / "w.duckdb")
    con.execute("SET memory_limit = '30MB'")
    con.execute("SET threads = 1")
    with caplog.at_level(logging.INFO, logger="eur_pipeline.pipeline.transforms"):
        assert transforms.refresh_messages(con) == THREADS
    assert "retrying with 16 threads per chunk" in caplog.text
    assert con.execute("SELECT count(*), count(DISTINCT thread_id) FROM messages").fetchone() == (
        THREADS * PER_THREAD,
        THREADS,
    )
    assert con.execute("SELECT stage, count(*) FROM pending_threads GROUP BY ALL").fetchall() == [
        ("conversations", THREADS)
    ]
