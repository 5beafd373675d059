"""Load one archive file: ledger row, records, rejects and the transform work queue in ONE transaction.

The transaction only appends (no UPDATE, DELETE or ON CONFLICT), so on a lake loads of different
files commit side by side; the content claim (``connection.content_claim``) keeps two writers
from loading the same content.

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
from eur_pipeline.warehouse.connection import content_claim, transaction
from eur_pipeline.warehouse.ledger import FileIdentity, insert_file, ledger_status, record_sighting

# thread_id is stored as its thread key (trimmed, '' as NULL): transforms then match it as stored.
_RECORD_COLUMNS = (
    "record_no, direction, sent_at, nullif(trim(thread_id), ''), sender, sender_resource, recipient, "
    "recipient_resource, body, extra"
)


@dataclass(frozen=True)
class LoadOutcome:
    file_id: str
    status: str  # 'parsed' | 'quarantined' | 'duplicate' (another writer loaded it first)
    record_count: int
    rejected_count: int
    error: str | None


def load_archive(
    con: duckdb.DuckDBPyConnection,
    ident: FileIdentity,
    parse: Callable[[ParseResult], Iterator[pa.RecordBatch]],
    on_batch: Callable[[int], None] | None = None,
) -> LoadOutcome:
    """Parse and load one file atomically; a file-level problem becomes a quarantined ledger row.

    Under the content claim: when another writer committed the same content meanwhile, nothing is
    loaded and the outcome is 'duplicate'."""
    with content_claim(con, ident.sha256):
        if ledger_status(con, ident.sha256) is not None:
            return LoadOutcome(ident.file_id, "duplicate", 0, 0, None)
        return _load_claimed(con, ident, parse, on_batch)


def _load_claimed(
    con: duckdb.DuckDBPyConnection,
    ident: FileIdentity,
    parse: Callable[[ParseResult], Iterator[pa.RecordBatch]],
    on_batch: Callable[[int], None] | None,
) -> LoadOutcome:
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
                   SELECT DISTINCT thread_key(thread_id, sender, recipient) AS thread_id, 'messages'
                   FROM message_records WHERE file_id = ?
                   EXCEPT SELECT thread_id, stage FROM pending_threads WHERE stage = 'messages'""",
                [ident.file_id],
            )
            record_sighting(con, ident)
        return LoadOutcome(ident.file_id, "parsed", loaded, rejects.num_rows, None)
    except QuarantineError as exc:
        with transaction(con):
            insert_file(con, ident, "quarantined", str(exc), 0, 0)
            record_sighting(con, ident)
        return LoadOutcome(ident.file_id, "quarantined", 0, 0, str(exc))
