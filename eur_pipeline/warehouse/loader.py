"""Load one archive file: ledger row, records, rejects and the transform work queue in ONE transaction.

The transaction only appends (no UPDATE, DELETE or ON CONFLICT), so on a lake loads of different
files commit side by side; the content claim (``connection.content_claim``) keeps two writers
from loading the same content. A reprocess (``replace``), which removes the file's earlier rows,
runs in the lake's serial section.

Records arrive as Arrow batches (or tables of a few) and are inserted a batch at a time (never row
by row). If the format raises ``QuarantineError`` mid-stream, everything from the file is rolled
back and only a quarantined ledger row is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from eur_pipeline.compliance.privacy import body_expression, extra_expression, stored_mode
from eur_pipeline.compliance.settings import BodyMode
from eur_pipeline.errors import QuarantineError
from eur_pipeline.faults import fault_point
from eur_pipeline.formats.base import DIGEST_COLUMN, ParseResult
from eur_pipeline.warehouse.connection import content_claim, transaction
from eur_pipeline.warehouse.lake import serial_section, upstream_claim
from eur_pipeline.warehouse.ledger import FileIdentity, forget_file, insert_file, ledger_status, record_sighting


def _record_columns(mode: BodyMode, batch: pa.RecordBatch | pa.Table) -> str:
    """The batch's columns as stored: thread_id as its thread key (trimmed, '' as NULL, so transforms
    match it as stored), the body as the privacy mode says, and the digest messages fold on (the
    batch's own when it carries one)."""
    digest = DIGEST_COLUMN if DIGEST_COLUMN in batch.schema.names else "sha256(body)"
    return (
        "record_no, direction, sent_at, nullif(trim(thread_id), ''), sender, sender_resource, recipient, "
        f"recipient_resource, {body_expression(mode)}, {extra_expression(mode)}, {digest}"
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
    parse: Callable[[ParseResult], Iterator[pa.RecordBatch | pa.Table]],
    on_batch: Callable[[int], None] | None = None,
    on_commit: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None,
    replace: bool = False,
) -> LoadOutcome:
    """Parse and load one file atomically; a file-level problem becomes a quarantined ledger row.

    ``on_commit`` (the unit's own bookkeeping, e.g. a database batch's row ids) runs inside the same
    transaction either way. ``replace`` (reprocess): the file's earlier rows are removed in the same
    transaction, so the tables end as if this parse had been the first; its sightings stay as they are.

    Under the content claim: when another writer committed the same content meanwhile, nothing is
    loaded and the outcome is 'duplicate'. A reprocess (it deletes rows) runs in a lake's serial
    section; a format whose records carry upstream ids loads under its format's claim, so two lake
    writers never both take one upstream id."""
    with content_claim(con, ident.sha256):
        if not replace and ledger_status(con, ident.sha256) is not None:
            return LoadOutcome(ident.file_id, "duplicate", 0, 0, None)
        with (
            serial_section(con) if replace else contextlib.nullcontext(),
            upstream_claim(con, ident.format) if carries_upstream_ids(ident.format) else contextlib.nullcontext(),
        ):
            return _load_claimed(con, ident, parse, on_batch, on_commit, replace)


def _load_claimed(
    con: duckdb.DuckDBPyConnection,
    ident: FileIdentity,
    parse: Callable[[ParseResult], Iterator[pa.RecordBatch | pa.Table]],
    on_batch: Callable[[int], None] | None,
    on_commit: Callable[[duckdb.DuckDBPyConnection, str], None] | None,
    replace: bool,
) -> LoadOutcome:
    result = ParseResult()
    mode = stored_mode(con)
    try:
        with transaction(con):
            if replace:
                forget_file(con, ident.file_id)
            loaded = 0
            upstream = carries_upstream_ids(ident.format)
            for batch in parse(result):
                columns = _record_columns(mode, batch)
                # Read through DuckDB's replacement scan of the local ``batch``: a ``register``ed view
                # keeps its Arrow batch alive until COMMIT (memory grew with the file size).
                if upstream:
                    loaded += insert_new_upstream(con, ident, columns, batch)
                else:
                    con.execute(f"INSERT INTO message_records SELECT ?, {columns} FROM batch", [ident.file_id])
                    loaded += batch.num_rows
                # queued from the batch itself (a superset where upstream ids dropped records: harmless),
                # not by reading the file's rows back out of a table that grows with every load
                con.execute(
                    "INSERT INTO pending_threads SELECT DISTINCT thread_key(thread_id, sender, recipient), 'messages' "
                    "FROM batch EXCEPT SELECT thread_id, stage FROM pending_threads WHERE stage = 'messages'"
                )
                fault_point("mid_load")
                if on_batch:
                    on_batch(loaded)
            rejects = result.reject_table()
            if rejects.num_rows:
                con.register("_eur_rejects", rejects)
                con.execute(
                    f"INSERT INTO rejected_records SELECT ?, record_no, reason, {body_expression(mode, 'raw')} "
                    "FROM _eur_rejects",
                    [ident.file_id],
                )
                con.unregister("_eur_rejects")
            insert_file(con, ident, "parsed", None, loaded, rejects.num_rows)
            if not replace:
                record_sighting(con, ident)
            if on_commit:
                on_commit(con, ident.file_id)
        return LoadOutcome(ident.file_id, "parsed", loaded, rejects.num_rows, None)
    except QuarantineError as exc:
        with transaction(con):
            if replace:
                forget_file(con, ident.file_id)
            insert_file(con, ident, "quarantined", str(exc), 0, 0)
            if not replace:
                record_sighting(con, ident)
            if on_commit:
                on_commit(con, ident.file_id)
        return LoadOutcome(ident.file_id, "quarantined", 0, 0, str(exc))


def carries_upstream_ids(format_name: str) -> bool:
    """Does this format's records carry ``extra.upstream_id`` (a format class with ``upstream_ids = True``)?"""
    from eur_pipeline.formats.registry import format_class

    return bool(getattr(format_class(format_name), "upstream_ids", False))


def insert_new_upstream(
    con: duckdb.DuckDBPyConnection, ident: FileIdentity, columns: str, batch: pa.RecordBatch | pa.Table
) -> int:
    """Insert the batch's records except those whose upstream id an earlier file loaded (a message the
    upstream system exported again counts once); remember the new ids. Returns the records inserted."""
    params = {"file": ident.file_id, "format": ident.format}
    seen_elsewhere = (
        "EXISTS (SELECT 1 FROM upstream_ids u WHERE u.format = $format AND u.file_id <> $file "
        "AND u.upstream_id = (batch.extra->>'upstream_id'))"
    )
    row = con.execute(
        f"INSERT INTO message_records SELECT $file, {columns} FROM batch WHERE NOT {seen_elsewhere}", params
    ).fetchone()
    con.execute(
        "INSERT INTO upstream_ids SELECT DISTINCT $format, (extra->>'upstream_id'), $file FROM batch "
        "WHERE (extra->>'upstream_id') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM upstream_ids u "
        "WHERE u.format = $format AND u.upstream_id = (batch.extra->>'upstream_id'))",
        params,
    )
    return int(row[0]) if row else 0
