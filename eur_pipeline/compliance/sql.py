"""Small helpers for reading one row: results are always consumed whole (DuckDB refuses to register
a relation on a connection that still has an unfinished result)."""

from __future__ import annotations

from typing import Any

import duckdb


def first_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    rows = cursor.fetchall()
    return rows[0] if rows else None


def count_of(cursor: duckdb.DuckDBPyConnection) -> int:
    """The first value of the first row as an int (a count, or the row count a DML statement returns)."""
    row = first_row(cursor)
    return int(row[0]) if row and row[0] is not None else 0
