"""Schema versioning: ``sql/NNN_*.sql`` applied in order, each once, each in its own transaction;
then every ``sql/views_*.sql`` (CREATE OR REPLACE VIEW) so views always match the code."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from eur_pipeline.warehouse.connection import connect, transaction
from eur_pipeline.warehouse.sql_files import SQL_DIR

_MIGRATION = re.compile(r"^(\d{3})_[\w-]+\.sql$")


def migration_files(sql_dir: Path = SQL_DIR) -> list[tuple[int, Path]]:
    found = []
    for path in sql_dir.iterdir():
        match = _MIGRATION.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number in {sql_dir}")
    return found


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> int:
    """Upgrade in place to the newest schema; returns the version now in force."""
    current = schema_version(con)
    for version, path in migration_files(sql_dir):
        if version <= current:
            continue
        with transaction(con):
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
        current = version
    for path in sorted(sql_dir.glob("views_*.sql")):
        with transaction(con):
            con.execute(path.read_text(encoding="utf-8"))
    return current


def open_warehouse(path: Path, **kwargs: object) -> duckdb.DuckDBPyConnection:
    """A migrated read-write connection (waits for a lock held by another process)."""
    con = connect(path, **kwargs)  # type: ignore[arg-type]
    migrate(con)
    return con
