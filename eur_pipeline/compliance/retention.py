"""Retention: erase bodies, remove records and landing backups older than eur.yaml's ``retention``.

What never changes: ``conversations`` and ``billing``. Records and messages go a whole thread at a
time, once the thread's last message is older than ``records_days`` (and it is not queued for a
transform), so no transform ever refolds a thread from part of its history; the thread is written to
``purged_threads`` and billing keeps its stored contributions. What a legal hold in force covers is
exempt (its messages, their records and the files holding them). Every purge is audited with its counts.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.at_rest import restrict
from eur_pipeline.compliance.privacy import extra_expression
from eur_pipeline.compliance.search_index import SyncReport, queue_threads, sync
from eur_pipeline.compliance.settings import RetentionConfig
from eur_pipeline.compliance.sql import count_of
from eur_pipeline.config import EurConfig
from eur_pipeline.warehouse.connection import serial_section, transaction

log = logging.getLogger(__name__)

_NOT_HELD_RECORD = "(r.file_id, r.record_no) NOT IN (SELECT (file_id, record_no) FROM _held_records)"
_THREAD_OF_RECORD = "coalesce(r.thread_id, thread_key(NULL, r.sender, r.recipient))"


@dataclass
class PurgeReport:
    """What one purge removed (counts only: this goes to audit_log and to Dagster metadata)."""

    bodies_cutoff: datetime | None = None
    records_cutoff: datetime | None = None
    landing_cutoff: datetime | None = None
    message_bodies_erased: int = 0
    record_bodies_erased: int = 0
    rejected_raw_erased: int = 0
    threads_purged: int = 0
    records_removed: int = 0
    messages_removed: int = 0
    rejected_removed: int = 0
    landing_files_removed: int = 0
    held_messages: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def erased_anything(self) -> bool:
        return any(
            (self.message_bodies_erased, self.record_bodies_erased, self.rejected_raw_erased,
             self.records_removed, self.messages_removed, self.rejected_removed)
        )  # fmt: skip

    def counts(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "warnings"}


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days else None


def purge(
    con: duckdb.DuckDBPyConnection,
    retention: RetentionConfig,
    now: datetime | None = None,
    actor: str | None = None,
) -> PurgeReport:
    """Apply ``retention`` as of ``now`` (default: the current time) in one transaction, audited."""
    now = now or datetime.now(UTC)
    report = PurgeReport(
        bodies_cutoff=_cutoff(now, retention.bodies_days),
        records_cutoff=_cutoff(now, retention.records_days),
        landing_cutoff=_cutoff(now, retention.landing_days),
    )
    with serial_section(con), transaction(con):  # deletes and rewrites rows: one lake writer at a time
        con.execute("CREATE OR REPLACE TEMP TABLE _held AS SELECT DISTINCT message_id, thread_id FROM held_messages")
        con.execute("CREATE OR REPLACE TEMP TABLE _held_records AS SELECT file_id, record_no FROM held_records")
        con.execute("CREATE OR REPLACE TEMP TABLE _held_files AS SELECT DISTINCT file_id FROM _held_records")
        report.held_messages = _count(con, "SELECT count(*) FROM _held")
        if report.bodies_cutoff:
            _erase_bodies(con, report.bodies_cutoff, report)
        if report.records_cutoff:
            _remove_records(con, report.records_cutoff, now, report)
        if report.landing_cutoff:
            _remove_landing(con, report.landing_cutoff, report)
        audit.record(con, "purge", {**report.counts(), "retention": retention.model_dump()}, actor)
        for table in ("_held", "_held_records", "_held_files"):
            con.execute(f"DROP TABLE {table}")
    return report


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    return count_of(con.execute(sql, params or []))


def _erase_bodies(con: duckdb.DuckDBPyConnection, cutoff: datetime, report: PurgeReport) -> None:
    erased = "sent_at < ? AND body IS NOT NULL AND message_id NOT IN (SELECT message_id FROM _held)"
    queue_threads(con, f"SELECT thread_id FROM messages WHERE {erased}", [cutoff])  # their documents go
    report.message_bodies_erased = _count(con, f"UPDATE messages SET body = NULL WHERE {erased}", [cutoff])
    report.record_bodies_erased = _count(
        con,
        f"UPDATE message_records r SET body = NULL, extra = {extra_expression('drop')} "
        f"WHERE sent_at < ? AND body IS NOT NULL AND {_NOT_HELD_RECORD}",
        [cutoff],
    )
    # a refused element's text holds its body: erased with the bodies of its file's time
    report.rejected_raw_erased = _count(
        con,
        """UPDATE rejected_records SET raw = NULL
           WHERE raw IS NOT NULL AND file_id NOT IN (SELECT file_id FROM _held_files)
             AND file_id IN (SELECT file_id FROM archive_files WHERE collected_at < ?)""",
        [cutoff],
    )


def _remove_records(con: duckdb.DuckDBPyConnection, cutoff: datetime, now: datetime, report: PurgeReport) -> None:
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _purge_threads AS
           SELECT thread_id FROM conversations
           WHERE ended_at < ?
             AND thread_id NOT IN (SELECT thread_id FROM _held WHERE thread_id IS NOT NULL)
             AND thread_id NOT IN (SELECT thread_id FROM pending_threads)""",
        [cutoff],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _purge_records AS
            SELECT r.file_id, count(*) AS n FROM message_records r
            WHERE {_THREAD_OF_RECORD} IN (SELECT thread_id FROM _purge_threads) GROUP BY ALL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _purge_rejects AS
           SELECT file_id, count(*) AS n FROM rejected_records
           WHERE file_id NOT IN (SELECT file_id FROM _held_files)
             AND file_id IN (SELECT file_id FROM archive_files WHERE collected_at < ?)
           GROUP BY ALL""",
        [cutoff],
    )
    report.records_removed = _count(
        con,
        f"DELETE FROM message_records r WHERE {_THREAD_OF_RECORD} IN (SELECT thread_id FROM _purge_threads)",
    )
    report.messages_removed = _count(
        con, "DELETE FROM messages WHERE thread_id IN (SELECT thread_id FROM _purge_threads)"
    )
    queue_threads(con, "SELECT thread_id FROM _purge_threads")
    report.rejected_removed = _count(
        con, "DELETE FROM rejected_records WHERE file_id IN (SELECT file_id FROM _purge_rejects)"
    )
    con.execute(
        """INSERT INTO purged_file_rows
           SELECT file_id, coalesce(r.n, 0), coalesce(j.n, 0)
           FROM _purge_records r FULL JOIN _purge_rejects j USING (file_id)"""
    )
    report.threads_purged = _count(
        con,
        "INSERT INTO purged_threads SELECT thread_id, ? FROM _purge_threads "
        "WHERE thread_id NOT IN (SELECT thread_id FROM purged_threads)",
        [now],
    )
    for table in ("_purge_threads", "_purge_records", "_purge_rejects"):
        con.execute(f"DROP TABLE {table}")


def _remove_landing(con: duckdb.DuckDBPyConnection, cutoff: datetime, report: PurgeReport) -> None:
    """Landing backups collected before ``cutoff``, except the files holding held messages. A file
    already gone (a purge killed before its commit) counts as removed."""
    rows = con.execute(
        """SELECT file_id, landing_path FROM archive_files
           WHERE collected_at < ? AND landing_path IS NOT NULL AND landing_path <> ''
             AND file_id NOT IN (SELECT file_id FROM _held_files)
           ORDER BY file_id""",
        [cutoff],
    ).fetchall()
    for file_id, landing_path in rows:
        try:
            Path(landing_path).unlink(missing_ok=True)
        except OSError as exc:
            report.warnings.append(f"landing backup of file {file_id} not removed: {exc.strerror}")
            continue
        con.execute("UPDATE archive_files SET landing_path = NULL WHERE file_id = ?", [file_id])
        report.landing_files_removed += 1


def apply_retention(
    con: duckdb.DuckDBPyConnection, config: EurConfig, now: datetime | None = None, actor: str | None = None
) -> tuple[PurgeReport, SyncReport]:
    """``eur-pipeline purge`` and the daily schedule: purge, then bring the search index in step (an
    erased body leaves the index at once), and make sure landing backups are owner-only."""
    report = purge(con, config.retention, now=now, actor=actor)
    synced = sync(con, config.resolved_search_index)
    restrict(config.landing_dir, recursive=True)
    return report, synced
