"""The full-text index over stored bodies (tantivy, from PyPI: no server, no network).

One document per message that has a body: its ``message_id``, the body's words (with positions, for
phrases), its participants and instant (filters), and the result row itself (``row``: the search's
output columns as JSON, stored only) — so a search reads nothing but the index: a look-up by id in
the warehouse would scan ``messages`` (no index there, on purpose), ~0.5 s at 1M messages.
``search_indexed`` in the warehouse lists the messages the index holds (with their threads), and
``search_pending_threads`` the threads whose messages changed since (queued by whatever rewrites
them: the messages transform, retention), so :func:`sync` reads only those threads: it adds their new
messages and notices the ones gone. A sync that drops any (a purge, a privacy mode change, a file
reprocessed without some of its messages) rebuilds the index from scratch: tantivy keeps a deleted
document until its segment is merged, and an erased body must not stay in the index, even as words.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import tantivy

from eur_pipeline.compliance.at_rest import make_private_dir, restrict
from eur_pipeline.compliance.privacy import stored_mode
from eur_pipeline.compliance.sql import count_of
from eur_pipeline.warehouse.connection import memory_capped, serial_section, threads_at_most, transaction

log = logging.getLogger(__name__)

TOKENIZER = "eur_words"
FORMAT_VERSION = "2"  # bump when the schema changes: the next sync rebuilds
_VERSION_FILE = "eur-index-version"
# tantivy's indexing memory, shared by its threads (one per core). Its segments are flushed when it
# fills; 40 instead of 64 MB took ~15 MB off the sync's peak for ~0.4 s on 750,704 messages (less made it
# slower and larger: 30 MB, 12.7 s and +60 MB, merging many more segments).
WRITER_HEAP = 40_000_000
_THREADS = pa.dictionary(pa.int32(), pa.string())
BATCH = 10_000
WINDOW = 131_072  # rows of messages per query: the ids found are stashed between two
_NEW_IDS = "_eur_new_ids"
# A rebuild reads every body once, in a plain scan, then inserts every id into search_indexed: DuckDB's
# cache of the blocks it read, then the inserted rows, were a large part of the sync's memory (750,704
# messages at the writers' 128 MB cap: peak 441 MB PSS, +80 MB for the insert; at 64 MB: 421 MB, +20,
# as fast). Bodies of ~30 kB run out of 64 MB; the rebuild then starts again at the writers' cap.
REBUILD_SCAN_MEMORY_LIMIT = "64MB"


def analyzer() -> tantivy.TextAnalyzer:
    """Words as tantivy's default text analyzer cuts them: runs of letters and digits, lower-cased,
    tokens of 40 bytes or more left out. Queries are cut with the same analyzer."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .build()
    )


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("message_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("body", stored=False, tokenizer_name=TOKENIZER, index_option="position")
    builder.add_text_field("participants", stored=False, tokenizer_name="raw")
    builder.add_date_field("sent_at", stored=False, indexed=True, fast=True)
    builder.add_bytes_field("row", stored=True)
    return builder.build()


SCHEMA = schema()


def open_index(path: Path, create: bool = True) -> tantivy.Index | None:
    """The index at ``path`` (created empty when missing and ``create``), its analyzer registered."""
    if not (path / "meta.json").exists():
        if not create:
            return None
        make_private_dir(path)
        index = tantivy.Index(SCHEMA, path=str(path))
    else:
        index = tantivy.Index.open(str(path))
    index.register_tokenizer(TOKENIZER, analyzer())
    return index


@dataclass(frozen=True)
class SyncReport:
    added: int
    removed: int
    documents: int
    rebuilt: bool
    threads: int = 0  # queued threads this sync read (their messages changed since the last one)


def sync(con: duckdb.DuckDBPyConnection, path: Path) -> SyncReport:
    """Bring the index at ``path`` in step with the warehouse's messages (incremental; rebuilt when
    documents must go). Without ``privacy.bodies: keep`` there is no index: it is removed.

    On a lake in the serial section: ``search_indexed`` must match the index, and a rebuild deletes it."""
    with serial_section(con):
        return _sync(con, path)


def _sync(con: duckdb.DuckDBPyConnection, path: Path) -> SyncReport:
    if stored_mode(con) != "keep":
        shutil.rmtree(path, ignore_errors=True)
        with transaction(con):
            removed = _count(con, "DELETE FROM search_indexed")
            con.execute("DELETE FROM search_pending_threads")
        return SyncReport(0, removed, 0, False)
    indexed = _count(con, "SELECT count(*) FROM search_indexed")
    index = open_index(path, create=False)
    current = (path / _VERSION_FILE).exists() and (path / _VERSION_FILE).read_text().strip() == FORMAT_VERSION
    if index is None or not current or index.searcher().num_docs != indexed:
        return _rebuild(con, path, removed=0)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _eur_search_threads AS SELECT DISTINCT thread_id FROM search_pending_threads"
    )
    try:
        threads = _count(con, "SELECT count(*) FROM _eur_search_threads")
        if not threads:
            return SyncReport(0, 0, indexed, False)
        gone, first_row = _queued_changes(con)
        if gone:
            return _rebuild(con, path, removed=gone)
        added = _add_new(con, index, first_row)
    finally:
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    index.reload()
    restrict(path, recursive=True)
    return SyncReport(added, 0, index.searcher().num_docs, False, threads)


def _queued_changes(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """How many indexed messages of the queued threads are gone (or lost their body), and the first
    row of ``messages`` holding one of those threads; their unindexed messages go to _eur_unindexed.

    The messages transform rewrites a thread's messages at the end of the table, so after a load the
    queued threads' messages are its last rows: read from that first row on, DuckDB skips the rest
    of the table (5.3M messages: 0.004 s instead of 0.27 s for their ids) and reads no other body.
    (After a purge the first row may be early: the same queries, over more of the table.)"""
    (first_row,) = con.execute(f"SELECT coalesce(min(rowid), 0) FROM messages WHERE {_QUEUED}").fetchall()[0]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _eur_current AS SELECT message_id FROM messages
            WHERE rowid >= $first AND body IS NOT NULL AND {_QUEUED}""",
        {"first": first_row},
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _eur_held AS SELECT message_id FROM search_indexed WHERE {_QUEUED}")
    gone = _count(con, "SELECT count(*) FROM _eur_held ANTI JOIN _eur_current USING (message_id)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _eur_unindexed AS "
        "SELECT message_id FROM _eur_current ANTI JOIN _eur_held USING (message_id)"
    )
    return gone, int(first_row)


_TEMP_TABLES = ("_eur_search_threads", "_eur_current", "_eur_held", "_eur_unindexed")


# the threads this sync reads: the queue as it stood when the sync began (in the serial section)
_QUEUED = "thread_id IN (SELECT thread_id FROM _eur_search_threads)"


def queue_threads(con: duckdb.DuckDBPyConnection, threads_sql: str, params: list[object] | None = None) -> None:
    """Queue the threads ``threads_sql`` selects for the next sync (their messages changed)."""
    con.execute(
        f"INSERT INTO search_pending_threads SELECT DISTINCT thread_id FROM ({threads_sql}) "
        "WHERE thread_id IS NOT NULL EXCEPT SELECT thread_id FROM search_pending_threads",
        params or [],
    )


def _rebuild(con: duckdb.DuckDBPyConnection, path: Path, removed: int) -> SyncReport:
    """A fresh index beside the old one, then swapped in; ``search_indexed`` refilled to match and
    the queue emptied (every thread was read)."""
    fresh = path.with_name(path.name + ".new")
    with transaction(con):
        con.execute("DELETE FROM search_indexed")
    for cap in (REBUILD_SCAN_MEMORY_LIMIT, None):
        shutil.rmtree(fresh, ignore_errors=True)
        index = open_index(fresh)
        assert index is not None
        (fresh / _VERSION_FILE).write_text(FORMAT_VERSION + "\n")
        try:
            added = _add_new(con, index, None, scan_cap=cap)
            break
        except duckdb.OutOfMemoryException:
            if cap is None:
                raise
            log.info("search index: the rebuild ran out of its %s scan cap (long bodies); rebuilding without it", cap)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    fresh.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    restrict(path, recursive=True)
    reopened = open_index(path, create=False)
    return SyncReport(added, removed, reopened.searcher().num_docs if reopened else 0, True)


def _windows(con: duckdb.DuckDBPyConnection, first_row: int | None) -> Iterator[tuple[int, int]]:
    """Row ranges of ``messages`` to read, ``WINDOW`` rows each, from ``first_row`` (or the first) to
    the last row as the sync began (messages change only in the serial section, which it holds)."""
    (last_row,) = con.execute("SELECT coalesce(max(rowid), -1) FROM messages").fetchall()[0]
    for lo in range(first_row or 0, int(last_row) + 1, WINDOW):
        yield lo, lo + WINDOW - 1


def _new_messages(
    con: duckdb.DuckDBPyConnection, first_row: int | None, window: tuple[int, int]
) -> Iterator[list[tuple]]:
    """Batches of (message_id, thread_id, sent_at, sender, recipients, body), one per message with a
    body the index lacks, in rows ``window``: those of _eur_unindexed (see _queued_changes), or all of
    them (``first_row`` None: a rebuild, ``search_indexed`` empty, so no join at all); instants as
    naive UTC timestamps (they convert several times faster).

    The messages the index lacks are found by their ids alone, into a temporary table, before any
    body is read, and the rows are matched against that table with DuckDB's build-side swap off:
    otherwise it may build its hash table on the messages, bodies included (a 4.7M-message lake, a
    rebuild of 750,704 and 4.5M new messages in a 4.9M-message file all ran out of the writers'
    128 MB cap). The columns are plain: documents built as JSON inside DuckDB held each body four
    times per vector and ran out of the cap on 13 kB bodies."""
    scope = "" if first_row is None else "AND m.message_id IN (SELECT message_id FROM _eur_unindexed)"
    (disabled,) = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0]
    con.execute("SET disabled_optimizers = ?", [",".join(filter(None, [disabled, "build_side_probe_side"]))])
    try:
        cursor = con.execute(
            f"""SELECT m.message_id, m.thread_id, m.sent_at AT TIME ZONE 'UTC', m.sender, m.recipients, m.body
               FROM messages m WHERE m.rowid BETWEEN $lo AND $hi AND m.body IS NOT NULL {scope}""",
            {"lo": window[0], "hi": window[1]},
        )
        while rows := cursor.fetchmany(BATCH):
            yield rows
    finally:
        con.execute("SET disabled_optimizers = ?", [disabled])


def _document(
    message_id: str, thread_id: str, sent_at: datetime, sender: str, recipients: list[str], body: str
) -> tantivy.Document:
    """One message's document. Field by field: ``Document(**fields)`` took 3x as long (9 vs 3 µs)."""
    document = tantivy.Document()
    document.add_text("message_id", message_id)
    document.add_text("body", body)
    document.add_text("participants", sender)
    for recipient in recipients:
        document.add_text("participants", recipient)
    document.add_date("sent_at", sent_at)
    # orjson: 10x json.dumps, once a quarter of the sync's time
    document.add_bytes("row", orjson.dumps([message_id, thread_id, sent_at, sender, recipients, body]))
    return document


def _add_new(
    con: duckdb.DuckDBPyConnection, index: tantivy.Index, first_row: int | None, scan_cap: str | None = None
) -> int:
    """Index the messages not yet in ``search_indexed``; the index commits first, then the warehouse
    (after a crash between the two the document counts differ, and the next sync rebuilds).
    ``scan_cap``: DuckDB's memory limit while the rows are read and their ids inserted (the writers'
    own when None). They are read on one DuckDB thread: building the documents, not the scan, is what
    takes the time, and each scanning thread holds its own vectors of bodies (a run's peak: ~20 MB less)."""
    writer = index.writer(heap_size=WRITER_HEAP)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_NEW_IDS} (message_id VARCHAR, thread_id VARCHAR)")
    try:
        with threads_at_most(con, 1), memory_capped(con, scan_cap) if scan_cap else contextlib.nullcontext():
            try:
                _index_new(con, writer, first_row)
            except BaseException:
                writer.rollback()  # nothing of a failed sync stays in the index
                raise
            writer.commit()
            writer.wait_merging_threads()
            del writer  # its memory goes before the warehouse transaction
            with transaction(con):
                added = _count(con, f"INSERT INTO search_indexed SELECT message_id, thread_id FROM {_NEW_IDS}")
                con.execute("DELETE FROM search_pending_threads" + ("" if first_row is None else f" WHERE {_QUEUED}"))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_NEW_IDS}")
    return added


def _index_new(con: duckdb.DuckDBPyConnection, writer: tantivy.IndexWriter, first_row: int | None) -> None:
    """Add the documents of :func:`_new_messages`, window by window; their ids go to ``_NEW_IDS``
    after each window (no other statement can run while a window's rows are read). DuckDB spills
    that table under its cap, where ids held in Python until the end grew with the backlog (Arrow,
    ~45 MB per million messages)."""
    add = writer.add_document
    for window in _windows(con, first_row):
        ids: list[pa.Array] = []
        threads: list[pa.Array] = []
        for rows in _new_messages(con, first_row, window):
            for row in rows:
                add(_document(*row))
            ids.append(pa.array([message[0] for message in rows], pa.string()))
            threads.append(pa.array([message[1] for message in rows], pa.string()).dictionary_encode())
        if ids:
            found = pa.table(  # noqa: F841 — read by DuckDB's replacement scan
                {"message_id": pa.chunked_array(ids, pa.string()), "thread_id": pa.chunked_array(threads, _THREADS)}
            )
            con.execute(f"INSERT INTO {_NEW_IDS} SELECT message_id, thread_id FROM found")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return count_of(con.execute(sql))


def stored_row(document: tantivy.Document) -> tuple:
    """A hit's result row: (message_id, thread_id, sent_at (UTC), sender, recipients, body)."""
    message_id, thread_id, sent_at, sender, recipients, body = orjson.loads(document["row"][0])
    return message_id, thread_id, datetime.fromisoformat(sent_at).replace(tzinfo=UTC), sender, recipients, body
