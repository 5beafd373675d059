"""Rewrite the warehouse file with its live data only.

DuckDB reuses, but never clears, the blocks an UPDATE or DELETE frees: a body erased by a purge or a
privacy mode change stays readable in the file (and in any copy or backup of it) until the file is
rewritten. :func:`compact_warehouse` copies the database into a fresh file and swaps it in; the
compliance code calls it after every erasure, with no connection open.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from eur_pipeline.compliance.at_rest import restrict
from eur_pipeline.compliance.sql import first_row
from eur_pipeline.sources.base import fsync_dir
from eur_pipeline.warehouse.connection import WRITER_MEMORY_LIMIT


def compact_warehouse(path: Path) -> int:
    """Copy ``path`` into ``<path>.compact``, then rename it over ``path``; returns the bytes saved."""
    fresh = path.with_name(path.name + ".compact")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    before = path.stat().st_size
    con = duckdb.connect(str(fresh))
    try:
        con.execute("SET memory_limit = ?", [WRITER_MEMORY_LIMIT])
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS eur_compact_source (READ_ONLY)")
        row = first_row(con.execute("SELECT current_database()"))
        assert row is not None
        con.execute(f'COPY FROM DATABASE eur_compact_source TO "{row[0]}"')
        con.execute("DETACH eur_compact_source")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        fresh.unlink(missing_ok=True)
        raise
    con.close()
    with open(fresh, "rb+") as handle:
        os.fsync(handle.fileno())
    restrict(fresh)
    os.replace(fresh, path)
    fsync_dir(path.parent)
    return before - path.stat().st_size
