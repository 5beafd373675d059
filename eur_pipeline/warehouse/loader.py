"""Load one archive file: ledger row, records, rejects and the transform work queue in ONE transaction.

Records arrive as Arrow batches and are inserted a batch at a time (never row by row). If the
format raises ``QuarantineError`` mid-stream, everything from the file is rolled back and only a
quarantined ledger row is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from eur_pipeline.errors import QuarantineError
from eur_pipeline.faults import fault_point
from eur_pipeline.formats.base import ParseResult
from eur_pipeline.warehouse.connection import transaction
from eur_pipeline.warehouse.ledger import FileIdentity, insert_file, record_sighting

# thread_id is stored as its thread key (trimmed, '' as NULL): transforms then match it as stored.
_RECORD_COLUMNS = (
    "record_no, direction, sent_at, nullif(trim(thread_id), ''), sender, sender_resource, recipient, "
    "recipient_resource, body, extra"
)


@dataclass(frozen=True)
class LoadOutcome:
    file_id: str
    status: str  # 'parsed' | 'quarantined'
    record_count: int
    rejected_count: int
    error: str | None


def load_archive(
    con: duckdb.DuckDBPyConnection,
    ident: FileIdentity,
    parse: Callable[[ParseResult], Iterator[pa.RecordBatch]],
    on_batch: Callable[[int], None] | None = None,
    on_commit: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None,
) -> LoadOutcome:
    """Parse and load one file atomically; a file-level problem becomes a quarantined ledger row.
    ``on_commit`` (the unit's own bookkeeping) runs inside the same transaction either way."""
    result = ParseResult()
    try:
        with transaction(con):
            loaded = 0
            for batch in parse(result):
                # Read through DuckDB's replacement scan of the local ``batch``: a ``register``ed view
                # keeps its Arrow batch alive until COMMIT (memory grew with the file size).
                con.execute(f"INSERT INTO message_records SELECT ?, {_RECORD_COLUMNS} FROM batch", [ident.file_id])
                loaded += batch.num_rows
                fault_point("mid_load")
                if on_batch:
                    on_batch(loaded)
            loaded -= drop_reexported(con, ident)
            rejects = result.reject_table()
            if rejects.num_rows:
                con.register("_eur_rejects", rejects)
                con.execute(
                    "INSERT INTO rejected_records SELECT ?, record_no, reason, raw FROM _eur_rejects",
                    [ident.file_id],
                )
                con.unregister("_eur_rejects")
            insert_file(con, ident, "parsed", None, loaded, rejects.num_rows)
            con.execute(
                """INSERT INTO pending_threads
                   SELECT DISTINCT thread_key(thread_id, sender, recipient), 'messages'
                   FROM message_records WHERE file_id = ? ON CONFLICT DO NOTHING""",
                [ident.file_id],
            )
            record_sighting(con, ident)
            if on_commit:
                on_commit(con, ident.file_id)
        return LoadOutcome(ident.file_id, "parsed", loaded, rejects.num_rows, None)
    except QuarantineError as exc:
        with transaction(con):
            insert_file(con, ident, "quarantined", str(exc), 0, 0)
            record_sighting(con, ident)
            if on_commit:
                on_commit(con, ident.file_id)
        return LoadOutcome(ident.file_id, "quarantined", 0, 0, str(exc))


def drop_reexported(con: duckdb.DuckDBPyConnection, ident: FileIdentity) -> int:
    """For formats whose records carry an upstream id (``extra.upstream_id``, e.g. a Mattermost post
    that every edit or reaction exports again): remove this file's records of ids an earlier file
    of the same format already loaded, so an upstream message counts once. Returns how many."""
    from eur_pipeline.formats.registry import format_class

    if not getattr(format_class(ident.format), "upstream_ids", False):
        return 0
    row = con.execute(
        """DELETE FROM message_records WHERE file_id = $file AND extra->>'upstream_id' IN (
               SELECT extra->>'upstream_id' FROM message_records
               WHERE file_id IN (SELECT file_id FROM archive_files WHERE format = $format AND file_id <> $file)
                 AND extra->>'upstream_id' IS NOT NULL)""",
        {"file": ident.file_id, "format": ident.format},
    ).fetchone()
    return int(row[0]) if row else 0
