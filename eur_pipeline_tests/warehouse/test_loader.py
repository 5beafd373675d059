"""One transaction per file: a quarantine mid-stream leaves nothing of the file behind."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.base import DIGEST_COLUMN, MESSAGE_RECORD_SCHEMA, ParseResult
from eur_pipeline.warehouse.ledger import FileIdentity
from eur_pipeline.warehouse.loader import load_archive

IDENT = FileIdentity(
    source="s",
    name="f.xml",
    size_bytes=10,
    sha256="ab" * 32,
    remote_mtime=1.0,
    format="avaya_presence_xml",
    landing_path="/x",
    collected_at=datetime(2024, 1, 1, tzinfo=UTC),
)


def one_batch(n: int) -> pa.RecordBatch:
    rows = [
        {
            "record_no": i,
            "direction": "IN",
            "sent_at": datetime(2024, 1, 1, tzinfo=UTC),
            "thread_id": "t",
            "sender": "a@b",
            "sender_resource": None,
            "recipient": "c@d",
            "recipient_resource": None,
            "body": "x",
            "extra": None,
        }
        for i in range(1, n + 1)
    ]
    return pa.RecordBatch.from_pylist(rows, schema=MESSAGE_RECORD_SCHEMA)


def test_quarantine_after_a_loaded_batch_rolls_the_file_back(warehouse: duckdb.DuckDBPyConnection) -> None:
    def parse(result: ParseResult) -> Iterator[pa.RecordBatch]:
        yield one_batch(1000)
        raise QuarantineError("not well-formed XML (truncated or corrupt) at line 9000")

    outcome = load_archive(warehouse, IDENT, parse)
    assert outcome.status == "quarantined"
    assert warehouse.execute("SELECT count(*) FROM message_records").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM pending_threads").fetchone() == (0,)
    assert warehouse.execute("SELECT status, record_count, error FROM archive_files").fetchone() == (
        "quarantined",
        0,
        "not well-formed XML (truncated or corrupt) at line 9000",
    )


def test_loaded_file_queues_its_threads(warehouse: duckdb.DuckDBPyConnection) -> None:
    outcome = load_archive(warehouse, IDENT, lambda result: iter([one_batch(3)]))
    assert (outcome.status, outcome.record_count) == ("parsed", 3)
    assert warehouse.execute("SELECT * FROM pending_threads").fetchall() == [("t", "messages")]
    assert warehouse.execute("SELECT file_id FROM archive_files").fetchone() == (IDENT.sha256[:16],)


def test_a_batch_carrying_its_digest_is_stored_as_if_the_loader_had_hashed_it(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    plain = one_batch(3)
    digests = pa.array([hashlib.sha256(b"x").hexdigest()] * 3)
    digested = pa.RecordBatch.from_arrays(
        [*plain.columns, digests], schema=MESSAGE_RECORD_SCHEMA.append(pa.field(DIGEST_COLUMN, pa.string()))
    )
    other = dataclasses.replace(IDENT, name="g.xml", sha256="cd" * 32)
    assert load_archive(warehouse, IDENT, lambda result: iter([plain])).status == "parsed"
    assert load_archive(warehouse, other, lambda result: iter([digested])).status == "parsed"
    stored = warehouse.execute("SELECT DISTINCT body_sha256 FROM message_records").fetchall()
    assert stored == [(hashlib.sha256(b"x").hexdigest(),)]
