"""The full-text index over stored bodies (tantivy, from PyPI: no server, no network).

One document per message that has a body: its ``message_id``, the body's words (with positions, for
phrases), its participants and instant (filters), and the result row itself (``row``: the search's
output columns as JSON, stored only) — so a search reads nothing but the index: a look-up by id in
the warehouse would scan ``messages`` (no index there, on purpose), ~0.5 s at 1M messages.
``search_indexed`` in the warehouse lists the messages the index holds, so :func:`sync` adds exactly
the new ones and drops the ones whose body is gone. A sync that drops any (every purge and privacy
mode change syncs) rebuilds the index from scratch: tantivy keeps a deleted document until its
segment is merged, and an erased body must not stay in the index, even as words.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import tantivy

from eur_pipeline.compliance.at_rest import make_private_dir, restrict
from eur_pipeline.compliance.privacy import stored_mode
from eur_pipeline.compliance.sql import count_of
from eur_pipeline.warehouse.connection import serial_section, transaction

TOKENIZER = "eur_words"
FORMAT_VERSION = "2"  # bump when the schema changes: the next sync rebuilds
_VERSION_FILE = "eur-index-version"
WRITER_HEAP = 64_000_000
BATCH = 10_000


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
        return SyncReport(0, removed, 0, False)
    gone = _count(
        con,
        "SELECT count(*) FROM search_indexed s ANTI JOIN "
        "(SELECT message_id FROM messages WHERE body IS NOT NULL) m USING (message_id)",
    )
    indexed = _count(con, "SELECT count(*) FROM search_indexed")
    index = open_index(path, create=False)
    current = (path / _VERSION_FILE).exists() and (path / _VERSION_FILE).read_text().strip() == FORMAT_VERSION
    if gone or index is None or not current or index.searcher().num_docs != indexed:
        return _rebuild(con, path, removed=gone)
    added = _add_new(con, index)
    index.reload()
    restrict(path, recursive=True)
    return SyncReport(added, 0, index.searcher().num_docs, False)


def _rebuild(con: duckdb.DuckDBPyConnection, path: Path, removed: int) -> SyncReport:
    """A fresh index beside the old one, then swapped in; ``search_indexed`` refilled to match."""
    fresh = path.with_name(path.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    index = open_index(fresh)
    assert index is not None
    (fresh / _VERSION_FILE).write_text(FORMAT_VERSION + "\n")
    with transaction(con):
        con.execute("DELETE FROM search_indexed")
    added = _add_new(con, index)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    fresh.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    restrict(path, recursive=True)
    reopened = open_index(path, create=False)
    return SyncReport(added, removed, reopened.searcher().num_docs if reopened else 0, True)


def _new_messages(con: duckdb.DuckDBPyConnection) -> Iterator[list[tuple]]:
    """Batches of (message_id, thread_id, sent_at, sender, recipients, body), one per message with a
    body the index lacks; instants as naive UTC timestamps (they convert several times faster).

    The messages the index lacks are found by their ids alone, into a temporary table, before any
    body is read, and the rows are matched against that table with DuckDB's build-side swap off:
    otherwise it may build its hash table on the messages, bodies included (a 4.7M-message lake, a
    rebuild of 750,704 and 4.5M new messages in a 4.9M-message file all ran out of the writers'
    128 MB cap). An empty ``search_indexed`` (a rebuild, the first sync) needs no join at all. The
    columns are plain: documents built as JSON inside DuckDB held each body four times per vector
    and ran out of the cap on 13 kB bodies."""
    scope = ""
    if _count(con, "SELECT count(*) FROM search_indexed"):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _eur_unindexed AS SELECT n.message_id FROM messages n "
            "ANTI JOIN search_indexed USING (message_id) WHERE n.body IS NOT NULL"
        )
        scope = "AND m.message_id IN (SELECT message_id FROM _eur_unindexed)"
    (disabled,) = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0]
    con.execute("SET disabled_optimizers = ?", [",".join(filter(None, [disabled, "build_side_probe_side"]))])
    try:
        cursor = con.execute(
            f"""SELECT m.message_id, m.thread_id, m.sent_at AT TIME ZONE 'UTC', m.sender, m.recipients, m.body
               FROM messages m WHERE m.body IS NOT NULL {scope}"""
        )
        while rows := cursor.fetchmany(BATCH):
            yield rows
    finally:
        con.execute("SET disabled_optimizers = ?", [disabled])
        con.execute("DROP TABLE IF EXISTS _eur_unindexed")


def _add_new(con: duckdb.DuckDBPyConnection, index: tantivy.Index) -> int:
    """Index the messages not yet in ``search_indexed``; the index commits first, then the warehouse
    (after a crash between the two the document counts differ, and the next sync rebuilds)."""
    writer = index.writer(heap_size=WRITER_HEAP)
    ids: list[pa.Array] = []  # in Arrow: a Python string per id held 80 MB per million messages
    add, dumps = writer.add_document, json.dumps
    for rows in _new_messages(con):
        for message_id, thread_id, sent_at, sender, recipients, body in rows:
            row = dumps([message_id, thread_id, sent_at.isoformat(), sender, recipients, body], ensure_ascii=False)
            add(
                tantivy.Document(
                    message_id=message_id,
                    body=body,
                    participants=[sender, *recipients],
                    sent_at=sent_at,
                    row=row.encode(),
                )
            )
        ids.append(pa.array([message[0] for message in rows], pa.string()))
    writer.commit()
    writer.wait_merging_threads()
    indexed = pa.table({"message_id": pa.chunked_array(ids, pa.string())})
    if indexed.num_rows:
        with transaction(con):
            con.register("_eur_indexed", indexed)
            con.execute("INSERT INTO search_indexed SELECT message_id FROM _eur_indexed")
            con.unregister("_eur_indexed")
    return indexed.num_rows


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return count_of(con.execute(sql))


def stored_row(document: tantivy.Document) -> tuple:
    """A hit's result row: (message_id, thread_id, sent_at (UTC), sender, recipients, body)."""
    message_id, thread_id, sent_at, sender, recipients, body = json.loads(document["row"][0])
    return message_id, thread_id, datetime.fromisoformat(sent_at).replace(tzinfo=UTC), sender, recipients, body
