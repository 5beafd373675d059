"""The ledger: ``archive_files`` (one row per distinct content) and ``file_sightings`` (each time a
source listed a file we took in). Every SQL statement on those two tables lives here, so the
exactly-once rules (identity by sha256, completion only after commit) are stated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from eur_pipeline.names import ledger_name
from eur_pipeline.sources.base import RemoteFile
from eur_pipeline.warehouse.lake import serial_section


@dataclass(frozen=True)
class FileIdentity:
    """What the ledger knows about a collected file before it is parsed."""

    source: str
    name: str
    size_bytes: int
    sha256: str
    remote_mtime: float
    format: str
    landing_path: str
    collected_at: datetime

    @property
    def file_id(self) -> str:
        return file_id_of(self.sha256)


@dataclass(frozen=True)
class CollectedFile:
    """A file a source listed once and the ledger row of its content (for re-runs of gone files)."""

    name: str
    file_id: str
    status: str
    record_count: int
    landing_path: str | None

    def describe(self) -> str:
        return (
            f"file_id {self.file_id}, {self.status}, {self.record_count} records, "
            f"backup {self.landing_path or '(none)'}"
        )


def file_id_of(sha256: str) -> str:
    """A short, stable id: the same content always gets the same id, across re-runs and machines."""
    return sha256[:16]


def ledger_status(con: duckdb.DuckDBPyConnection, sha256: str) -> str | None:
    """'parsed' / 'quarantined' when this content is already in the ledger, else None."""
    row = con.execute("SELECT status FROM archive_files WHERE sha256 = ?", [sha256]).fetchone()
    return row[0] if row else None


def insert_file(
    con: duckdb.DuckDBPyConnection, ident: FileIdentity, status: str, error: str | None, records: int, rejects: int
) -> None:
    """The ledger row of one file, written in the same transaction as its records."""
    con.execute(
        """INSERT INTO archive_files (file_id, source, name, size_bytes, sha256, status, error, record_count,
                                      rejected_count, format, landing_path, collected_at, parsed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            ident.file_id,
            ident.source,
            ident.name,
            ident.size_bytes,
            ident.sha256,
            status,
            error,
            records,
            rejects,
            ident.format,
            ident.landing_path,
            ident.collected_at,
            datetime.now(UTC),
        ],
    )


def forget_file(con: duckdb.DuckDBPyConnection, file_id: str) -> None:
    """Remove a file's ledger row, records and rejects (reprocess, inside the caller's transaction),
    queueing the threads its records touched so the derived tables are refreshed without them."""
    con.execute(
        """INSERT INTO pending_threads
           SELECT DISTINCT thread_key(thread_id, sender, recipient) AS thread_id, 'messages'
           FROM message_records WHERE file_id = ?
           EXCEPT SELECT thread_id, stage FROM pending_threads WHERE stage = 'messages'""",
        [file_id],
    )
    for table in ("message_records", "rejected_records", "archive_files"):
        con.execute(f"DELETE FROM {table} WHERE file_id = ?", [file_id])


def file_identities(
    con: duckdb.DuckDBPyConnection, file_id: str | None = None, quarantined: bool = False
) -> list[FileIdentity]:
    """The ledger's identity of one file (``file_id``) or of every quarantined one, oldest first
    (remote mtime from its latest sighting; 0 when it has none)."""
    where, params = ("a.status = 'quarantined'", []) if quarantined else ("a.file_id = ?", [file_id])
    rows = con.execute(
        f"""SELECT a.source, a.name, a.size_bytes, a.sha256,
                   coalesce((SELECT max(s.remote_mtime) FROM file_sightings s WHERE s.sha256 = a.sha256), 0),
                   a.format, coalesce(a.landing_path, ''), a.collected_at
            FROM archive_files a WHERE {where} ORDER BY a.collected_at""",
        params,
    ).fetchall()
    return [
        FileIdentity(src, name, size, sha, float(mtime), fmt, path, at)
        for src, name, size, sha, mtime, fmt, path, at in rows
    ]


def record_sighting(con: duckdb.DuckDBPyConnection, ident: FileIdentity) -> None:
    """Remember that this (source, name, size, mtime) was taken in, as this content, not yet completed.

    Appended (file_sightings is a log, migration 011): the newest row of a key is the one in force, and
    a load only appends, so on a lake loads of different files commit side by side."""
    con.execute(
        """INSERT INTO file_sightings (source, name, size_bytes, remote_mtime, sha256, seen_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [ident.source, ident.name, ident.size_bytes, ident.remote_mtime, ident.sha256, ident.collected_at],
    )


def known_sighting(con: duckdb.DuckDBPyConnection, source: str, remote: RemoteFile) -> tuple[str, bool] | None:
    """(sha256, completed) when this exact (name, size, mtime) was already taken in."""
    row = con.execute(
        """SELECT sha256, completed_at IS NOT NULL FROM file_sightings
           WHERE source = ? AND name = ? AND size_bytes = ? AND remote_mtime = ?
           ORDER BY seen_at DESC LIMIT 1""",
        [source, ledger_name(remote.name), remote.size, remote.mtime],
    ).fetchone()
    return (row[0], bool(row[1])) if row else None


def mark_completed(con: duckdb.DuckDBPyConnection, source: str, remote: RemoteFile) -> None:
    """The remote delete/move of this sighting succeeded (it is not retried again)."""
    with serial_section(con):  # an UPDATE rewrites rows: one lake writer at a time
        con.execute(
            """UPDATE file_sightings SET completed_at = ?
               WHERE source = ? AND name = ? AND size_bytes = ? AND remote_mtime = ?""",
            [datetime.now(UTC), source, ledger_name(remote.name), remote.size, remote.mtime],
        )


def collected_files(con: duckdb.DuckDBPyConnection, source: str) -> list[CollectedFile]:
    """Every name this source ever delivered, oldest sighting first, with its content's ledger row."""
    rows = con.execute(
        """SELECT s.name, a.file_id, a.status, a.record_count, a.landing_path
           FROM file_sightings s JOIN archive_files a USING (sha256)
           WHERE s.source = ? ORDER BY s.seen_at""",
        [source],
    ).fetchall()
    return [CollectedFile(*row) for row in rows]


def quarantined_since(con: duckdb.DuckDBPyConnection, since: datetime) -> tuple[list[tuple[str, str, str]], int]:
    """(source, name, reason) of the files quarantined since ``since``, newest first, and the count ever."""
    rows = con.execute(
        "SELECT source, name, error FROM archive_files WHERE status = 'quarantined' AND collected_at >= ? "
        "ORDER BY collected_at DESC",
        [since],
    ).fetchall()
    total = con.execute("SELECT count(*) FROM archive_files WHERE status = 'quarantined'").fetchall()[0][0]
    return rows, int(total)


def rejected_share_over(
    con: duckdb.DuckDBPyConnection, since: datetime, threshold: float
) -> tuple[list[tuple[str, str, int, int, float]], float]:
    """Parsed files collected since ``since`` that rejected more than ``threshold`` of their records
    (source, name, rejected, seen, share), and the share over all of them."""
    rows = con.execute(
        """SELECT source, name, rejected_count, record_count + rejected_count AS seen,
                  round(rejected_count / (record_count + rejected_count), 4) AS share
           FROM archive_files
           WHERE status = 'parsed' AND collected_at >= ? AND rejected_count > 0
             AND rejected_count / (record_count + rejected_count) > ?
           ORDER BY share DESC""",
        [since, threshold],
    ).fetchall()
    overall = con.execute(
        "SELECT coalesce(sum(rejected_count) / nullif(sum(record_count + rejected_count), 0), 0) "
        "FROM archive_files WHERE status = 'parsed' AND collected_at >= ?",
        [since],
    ).fetchall()[0][0]
    return rows, float(overall)


def last_sighting(con: duckdb.DuckDBPyConnection, source: str) -> datetime | None:
    """When this source last delivered a file (None: never)."""
    return con.execute("SELECT max(seen_at) FROM file_sightings WHERE source = ?", [source]).fetchall()[0][0]
