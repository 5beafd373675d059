"""Materialization metadata: row counts, column schema and short markdown previews, read from DuckDB."""

from __future__ import annotations

import re
from typing import Any

import dagster as dg
import duckdb


def table_schema(con: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name=n, type=t) for n, t in rows])


# Columns that hold message text, search text or hold reasons: Dagster shows and keeps metadata
# (its UI has no login), so a preview shows only their length, whatever query asked for them.
PRIVATE_COLUMNS = frozenset({"body", "raw", "detail", "reason", "query", "extra"})


def markdown_table(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> str:
    """A small query result as a markdown table (values shortened so previews stay readable)."""
    cursor = con.execute(query, params or [])
    headers = [d[0] for d in cursor.description]
    private = [h.lower() in PRIVATE_COLUMNS for h in headers]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in cursor.fetchall():
        cells = (_private_cell(v) if p else _cell(v) for v, p in zip(row, private, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _private_cell(value: Any) -> str:
    return "NULL" if value is None else f"({len(str(value))} chars)"


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, preview_sql: str | None = None) -> dict[str, Any]:
    """The standard metadata for a warehouse table: row count, schema and a preview."""
    count = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    preview = preview_sql or f"SELECT * FROM {table} LIMIT 5"
    return {
        "dagster/row_count": int(count[0]) if count else 0,
        "dagster/column_schema": table_schema(con, table),
        "preview": dg.MetadataValue.md(markdown_table(con, preview)),
    }


def markdown_rows(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Rows already in memory as a markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) if rows else "none"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")[:100]


def plain_text(doc: str | None, fallback: str = "") -> str:
    """A docstring's first paragraph as the UI should show it: no reST markup, no hard line breaks."""
    first = (doc or fallback).strip().split("\n\n")[0]
    first = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", first)  # :func:`x` -> x
    return " ".join(first.replace("``", "").split())
