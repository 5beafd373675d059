"""The record-format protocol and the Arrow schemas every format produces.

A format turns one local archive file into Arrow record batches of ``MESSAGE_RECORD_SCHEMA``
(streamed, bounded memory) plus record-level rejects; a file-level problem raises
``QuarantineError`` with a one-sentence reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import pyarrow as pa


def use_system_allocator() -> None:
    """Arrow's buffers from the C library's malloc instead of pyarrow's bundled mimalloc, which kept
    the pages of freed batches: a whole run of the bench's 578 MB archive peaked at 530 MB instead of
    506, in the same time. Set when this module is first imported (every process that makes or loads
    batches imports it); ``ARROW_DEFAULT_MEMORY_POOL``, when set, still decides."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())


use_system_allocator()

MESSAGE_RECORD_SCHEMA = pa.schema(
    [
        pa.field("record_no", pa.int64(), nullable=False),
        pa.field("direction", pa.string()),
        pa.field("sent_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("thread_id", pa.string()),
        pa.field("sender", pa.string(), nullable=False),
        pa.field("sender_resource", pa.string()),
        pa.field("recipient", pa.string(), nullable=False),
        pa.field("recipient_resource", pa.string()),
        pa.field("body", pa.string()),
        pa.field("extra", pa.string()),
    ]
)

# A batch may carry one more column after the record columns: the body's hex sha256, computed where
# the batch was made (a database batch's mapping, on the read-ahead thread) so the loader's single
# writing thread does not hash every body again.
DIGEST_COLUMN = "body_sha256"

REJECT_SCHEMA = pa.schema(
    [
        pa.field("record_no", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ]
)


@dataclass
class ParseResult:
    """Filled while ``RecordFormat.parse`` streams: rejects are few, so they are kept in memory."""

    rejects: list[dict[str, object]] = field(default_factory=list)
    record_count: int = 0
    records_seen: int = 0  # record elements read, rejects included: numbers the next part of a split file

    def reject_table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rejects, schema=REJECT_SCHEMA)


@runtime_checkable
class RecordFormat(Protocol):
    name: ClassVar[str]

    def parse(self, path: Path, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        """Yield record batches; append rejects to ``result``; raise QuarantineError for a bad file."""


@runtime_checkable
class SplittableFormat(Protocol):
    """A format whose plain (uncompressed) files can be cut at a record boundary and parsed in parts,
    in parallel processes. Optional: ``pipeline/parse_worker.py`` parses other formats whole."""

    def split_point(self, path: Path, fraction: float) -> int | None:
        """A byte offset at or after ``fraction`` of the file where a record starts, or None when
        the file cannot be cut (compressed, unusual document head, no record after that point).
        Only a candidate: the caller checks it by parsing, and parses whole if the cut was wrong."""

    def parse_range(
        self, path: Path, start: int, end: int, result: ParseResult, batch_size: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """Parse bytes ``[start, end)`` of ``path`` as a document of its own (records numbered from 1)."""
