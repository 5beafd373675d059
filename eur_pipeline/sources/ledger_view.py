"""What the warehouse already holds from one source, for sources that list incrementally.

A database source lists "the rows after the ones already loaded": it asks this view for its
watermark (the highest row id committed) and for the ids it holds near it (the re-read window).
The ids are written by the batch's ``on_commit`` in the ledger transaction, so a killed run leaves
neither a ledger row nor ids behind, and the next run lists the same rows again.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa


class SourceLedger:
    """Read view of ``source_row_ranges`` for one source, plus the writer its batches commit with."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str) -> None:
        self.con = con
        self.source = source

    def high_id(self) -> int | None:
        row = self.con.execute("SELECT max(last_id) FROM source_row_ranges WHERE source = ?", [self.source]).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def held_ids(self, above: int) -> set[int]:
        """The row ids already loaded that are greater than ``above`` (the re-read window)."""
        rows = self.con.execute(
            "SELECT unnest(generate_series(greatest(first_id, $above + 1), last_id)) FROM source_row_ranges "
            "WHERE source = $source AND last_id > $above",
            {"source": self.source, "above": above},
        ).fetchall()
        return {int(r[0]) for r in rows}


def record_rows(source: str, ids: pa.Array) -> Callable[[duckdb.DuckDBPyConnection, str], None]:
    """An ``on_commit`` that stores a batch's row ids under its file_id (inside the ledger transaction),
    as ranges of consecutive ids."""
    table = pa.table({"row_id": ids.cast(pa.int64())})

    def write(con: duckdb.DuckDBPyConnection, file_id: str) -> None:
        con.register("_eur_source_rows", table)
        try:
            con.execute(
                """INSERT INTO source_row_ranges
                   SELECT $source, min(row_id), max(row_id), $file
                   FROM (SELECT row_id, row_id - row_number() OVER (ORDER BY row_id) AS island
                         FROM (SELECT DISTINCT row_id FROM _eur_source_rows))
                   GROUP BY island""",
                {"source": source, "file": file_id},
            )
        finally:
            con.unregister("_eur_source_rows")

    return write
