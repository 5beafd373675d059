"""``eur-pipeline warehouse copy --to CONFIG``: move a DuckDB-file warehouse into a lake (or another file).

The destination is migrated to the same schema first, then every table of the source is copied into
it in ONE transaction (all or nothing); the views and macros are the destination's own. Refused
when the destination already holds collected files, so nothing is ever merged by accident. The
landing backups are not moved: ``archive_files.landing_path`` keeps pointing at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eur_pipeline.errors import UsageError
from eur_pipeline.warehouse.connection import serial_section, transaction, warehouse_exists
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline.warehouse.target import WarehouseTarget

_SOURCE = "eur_copy_source"
# the destination keeps its own: its schema history, and the fingerprint of the views it created
_KEEP = {"schema_version": None, "eur_settings": "key <> 'views.fingerprint'"}


@dataclass(frozen=True)
class CopyReport:
    tables: dict[str, int]  # table -> rows copied

    def summary(self) -> str:
        rows = sum(self.tables.values())
        return f"copied {len(self.tables)} tables, {rows:,} rows: " + ", ".join(
            f"{name} {count:,}" for name, count in sorted(self.tables.items())
        )


def copy_warehouse(source: WarehouseTarget, destination: WarehouseTarget) -> CopyReport:
    """Copy every table of the DuckDB-file warehouse ``source`` into ``destination`` (migrated, empty)."""
    if not isinstance(source, Path):
        raise UsageError(f"warehouse copy reads a DuckDB-file warehouse; the source is {source}")
    if not warehouse_exists(source):
        raise UsageError(f"warehouse {source} does not exist")
    if source == destination:
        raise UsageError(f"warehouse copy: source and destination are both {source}")
    open_warehouse(source).close()  # the source at the newest schema too, so the tables match
    con = open_warehouse(destination)
    try:
        with serial_section(con):
            held = con.execute("SELECT count(*) FROM archive_files").fetchall()[0][0]
            if held:
                raise UsageError(
                    f"warehouse copy: {destination} already holds {held} collected files; copy into an empty one"
                )
            con.execute(f"ATTACH '{str(source).replace(chr(39), chr(39) * 2)}' AS {_SOURCE} (READ_ONLY)")
            try:
                tables = [
                    row[0]
                    for row in con.execute(
                        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
                        "ORDER BY table_name",
                        [_SOURCE],
                    ).fetchall()
                ]
                copied: dict[str, int] = {}
                with transaction(con):
                    for table in tables:
                        if table in _KEEP and _KEEP[table] is None:
                            continue
                        keep = _KEEP.get(table)
                        con.execute(f'DELETE FROM "{table}"' + (f" WHERE {keep}" if keep else ""))
                        where = f" WHERE {keep}" if keep else ""
                        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM {_SOURCE}.main."{table}"{where}')
                        copied[table] = con.execute(f'SELECT count(*) FROM {_SOURCE}.main."{table}"{where}').fetchall()[
                            0
                        ][0]
            finally:
                con.execute(f"DETACH {_SOURCE}")
    finally:
        con.close()
    return CopyReport(copied)
