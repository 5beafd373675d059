"""Lake upkeep: every load and refresh commits a snapshot and a few small Parquet (or inlined) files.

- ``compact``: inlined rows are flushed to Parquet and adjacent small files merged
  (``ducklake_flush_inlined_data``, ``ducklake_merge_adjacent_files``);
- ``expire``: snapshots older than the time-travel window are expired and the files only they
  used are deleted once no reader can still be scanning them (``ducklake_expire_snapshots``,
  ``ducklake_cleanup_old_files``).

- ``erase_history``: after a privacy erasure (purge, body-mode change), the files and inlined rows
  that still hold the old values are rewritten and every older snapshot expired and deleted at once
  (the lake's counterpart of rewriting a DuckDB file, ``compliance.compact``).

All run in the serial section (a merge rewrites files that a transform might be deleting from).
On a DuckDB file both are a ``CHECKPOINT``: the file has no small files or snapshots to speak of.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from eur_pipeline.warehouse.lake import LAKE_ALIAS, lake_conninfo, serial_section

_METADATA = f"__ducklake_metadata_{LAKE_ALIAS}"


@dataclass(frozen=True)
class LakeShape:
    """What maintenance is about: live data files, inlined rows, and snapshots kept."""

    data_files: int
    inlined_rows: int
    snapshots: int


@dataclass(frozen=True)
class MaintenanceReport:
    before: LakeShape
    after: LakeShape
    detail: dict[str, int]

    def summary(self) -> str:
        b, a = self.before, self.after
        return (
            f"data files {b.data_files} -> {a.data_files}, inlined rows {b.inlined_rows} -> {a.inlined_rows}, "
            f"snapshots {b.snapshots} -> {a.snapshots}"
        )


def lake_shape(con: duckdb.DuckDBPyConnection) -> LakeShape:
    files = con.execute(f"SELECT count(*) FROM {_METADATA}.ducklake_data_file WHERE end_snapshot IS NULL").fetchall()
    snapshots = con.execute(f"SELECT count(*) FROM {_METADATA}.ducklake_snapshot").fetchall()
    inlined = 0
    for (table,) in con.execute(f"SELECT table_name FROM {_METADATA}.ducklake_inlined_data_tables").fetchall():
        inlined += con.execute(f'SELECT count(*) FROM {_METADATA}."{table}" WHERE end_snapshot IS NULL').fetchall()[0][
            0
        ]
    return LakeShape(int(files[0][0]), int(inlined), int(snapshots[0][0]))


def compact(con: duckdb.DuckDBPyConnection) -> MaintenanceReport | None:
    """Flush inlined rows and merge small files; None on a DuckDB file (checkpointed instead)."""
    if lake_conninfo(con) is None:
        con.execute("CHECKPOINT")
        return None
    with serial_section(con):
        before = lake_shape(con)
        flushed = con.execute(f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')").fetchall()
        merged = con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE_ALIAS}')").fetchall()
        after = lake_shape(con)
    return MaintenanceReport(before, after, {"tables_flushed": len(flushed), "merges": len(merged)})


def expire(
    con: duckdb.DuckDBPyConnection, keep_days: float = 7.0, file_grace_hours: float = 24.0
) -> MaintenanceReport | None:
    """Expire snapshots older than ``keep_days`` (time travel reaches that far back) and delete the
    files that were scheduled for deletion more than ``file_grace_hours`` ago (a reader's query can
    still be scanning a just-replaced file). None on a DuckDB file."""
    if lake_conninfo(con) is None:
        con.execute("CHECKPOINT")
        return None
    with serial_section(con):
        before = lake_shape(con)
        expired = con.execute(
            f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => now() - to_seconds(?::DOUBLE))",
            [keep_days * 86400],
        ).fetchall()
        removed = con.execute(
            f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', older_than => now() - to_seconds(?::DOUBLE))",
            [file_grace_hours * 3600],
        ).fetchall()
        after = lake_shape(con)
    return MaintenanceReport(before, after, {"snapshots_expired": len(expired), "files_deleted": len(removed)})


def erase_history(con: duckdb.DuckDBPyConnection) -> None:
    """Make an erasure final on a lake: inlined rows flushed, every data file with deleted rows
    rewritten, all snapshots but the current one expired and their files deleted now (no time travel
    back to the erased values). A reader scanning a deleted file at that instant fails its query."""
    with serial_section(con):
        con.execute(f"CALL ducklake_flush_inlined_data('{LAKE_ALIAS}')").fetchall()
        con.execute(f"CALL ducklake_rewrite_data_files('{LAKE_ALIAS}', delete_threshold => 0)").fetchall()
        con.execute(f"CALL ducklake_expire_snapshots('{LAKE_ALIAS}', older_than => now())").fetchall()
        con.execute(f"CALL ducklake_cleanup_old_files('{LAKE_ALIAS}', cleanup_all => true)").fetchall()
