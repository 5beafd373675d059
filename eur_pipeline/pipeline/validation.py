"""Validate ``conversations`` against the pandera ``ConversationSchema``, a bounded chunk at a time.

Validated lazily (pandera's ``lazy=True``) so every failing row is reported, never silently dropped.
Rows stream from DuckDB in thread order, ``CHUNK_ROWS`` at a time, so the check's memory does not
grow with the number of conversations a file touched; rows of one thread_id are never split across
chunks, so the schema's uniqueness rule stays exact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eur_pipeline.warehouse.connection import reading_cursor

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 20_000


def validate_conversations(frame: pd.DataFrame) -> pd.DataFrame:
    """The failure cases (empty when valid): one row per failed check and offending row."""
    import pandas as pd
    import pandera.pandas as pandera

    from eur_pipeline.pipeline.conversation_schema import ConversationSchema

    try:
        ConversationSchema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        return exc.failure_cases
    return pd.DataFrame()


def check_conversations(con: duckdb.DuckDBPyConnection, chunk_rows: int = CHUNK_ROWS) -> tuple[int, pd.DataFrame]:
    """(rows checked, failure cases) for the conversations this run refreshed (still queued for billing)."""
    import pandas as pd

    checked, failures = 0, []
    # A cursor of its own: streams committed rows whatever unfinished result the caller left on ``con``.
    with reading_cursor(con) as cursor:
        reader = cursor.sql(
            "SELECT * FROM conversations "
            "WHERE thread_id IN (SELECT thread_id FROM pending_threads WHERE stage = 'billing') ORDER BY thread_id"
        ).to_arrow_reader(chunk_rows)
        for chunk in _whole_threads(reader):
            checked += chunk.num_rows
            failures.append(validate_conversations(chunk.to_pandas()))
    found = [f for f in failures if len(f)]
    return checked, pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def _whole_threads(reader: pa.RecordBatchReader) -> Iterator[pa.Table]:
    """The reader's batches (sorted by thread_id) re-cut so that no thread_id spans two tables."""
    held: pa.Table | None = None  # the last thread_id's rows, which may continue in the next batch
    for batch in reader:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        table = table if held is None else pa.concat_tables([held, table])
        cut = pc.index(table.column("thread_id"), table.column("thread_id")[-1]).as_py()
        if cut:
            yield table.slice(0, cut)
        held = table.slice(cut)
    if held is not None and held.num_rows:
        yield held
