"""Schema versioning: ``sql/NNN_*.sql`` applied in order, each once, each in its own transaction;
then every ``sql/views_*.sql`` (CREATE OR REPLACE VIEW / MACRO), re-run only when their text changed
(digest kept in ``eur_settings``), so opening an up-to-date warehouse costs two small queries.

The same files serve both warehouses: on a lake their key and CHECK clauses are dropped
(``lake.portable_ddl``) and an upgrade runs in the lake's serial section, so two writers starting
at once apply each migration once; an up-to-date lake is opened without taking it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb

from eur_pipeline.warehouse.connection import connect, serial_section, transaction
from eur_pipeline.warehouse.lake import create_reserved_column_tables, lake_conninfo, portable_ddl
from eur_pipeline.warehouse.settings import set_setting
from eur_pipeline.warehouse.sql_files import sql_dir
from eur_pipeline.warehouse.target import WarehouseTarget

_MIGRATION = re.compile(r"^(\d{3})_[\w-]+\.sql$")
_VIEWS_KEY = "views.sha256"


def migration_files(folder: Path | None = None) -> list[tuple[int, Path]]:
    folder = folder or sql_dir()
    found = []
    for path in folder.iterdir():
        match = _MIGRATION.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number in {folder}")
    return found


def _ddl(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    return portable_ddl(sql) if lake_conninfo(con) else sql


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        _ddl(con, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _views(con: duckdb.DuckDBPyConnection, folder: Path) -> tuple[list[str], str]:
    texts = [_ddl(con, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("views_*.sql"))]
    return texts, hashlib.sha256("\0".join(texts).encode()).hexdigest()


def _stored_digest(con: duckdb.DuckDBPyConnection) -> list[tuple[str]] | None:
    """The views' stored digest rows; None when there is no eur_settings table yet."""
    try:
        return con.execute("SELECT value FROM eur_settings WHERE key = ?", [_VIEWS_KEY]).fetchall()
    except duckdb.Error:  # no table yet (DuckDB may even try a Python object of that name)
        return None


def _applied(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {int(r[0]) for r in con.execute("SELECT version FROM schema_version").fetchall()}


def _up_to_date(con: duckdb.DuckDBPyConnection, folder: Path) -> int | None:
    """The version in force when there is nothing to do (every migration applied, views unchanged), else None."""
    try:
        applied = _applied(con)
    except duckdb.Error:
        return None
    files = migration_files(folder)
    if any(version not in applied for version, _ in files):
        return None
    current = max(applied, default=0)
    texts, digest = _views(con, folder)
    return current if not texts or _stored_digest(con) == [(digest,)] else None


def ensure_views(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> None:
    """(Re)create the ``views_*.sql`` objects when their text changed since they were last created."""
    folder = folder or sql_dir()
    texts, digest = _views(con, folder)
    if not texts:
        return
    with serial_section(con):
        if _stored_digest(con) == [(digest,)]:
            return
        with transaction(con):
            for text in texts:
                con.execute(text)
            if _stored_digest(con) is not None:  # eur_settings exists (a test's own folder may lack it)
                set_setting(con, _VIEWS_KEY, digest)


def migrate(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> int:
    """Upgrade in place to the newest schema and views; returns the version now in force."""
    folder = folder or sql_dir()
    current = _up_to_date(con, folder)
    if current is not None:
        return current
    with serial_section(con):
        current = schema_version(con)
        # every migration not yet applied, in order: one numbered below the newest applied (e.g. written
        # on a branch merged later) still runs once
        applied = _applied(con)
        for version, path in migration_files(folder):
            if version in applied:
                continue
            ddl = _ddl(con, path.read_text(encoding="utf-8"))
            create_reserved_column_tables(con, ddl)  # a lake's tables with a row_id column
            with transaction(con):
                con.execute(ddl)
                con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            current = max(current, version)
        ensure_views(con, folder)
    return current


def open_warehouse(path: WarehouseTarget, **kwargs: object) -> duckdb.DuckDBPyConnection:
    """A migrated read-write connection (waits for a lock held by another process)."""
    con = connect(path, **kwargs)  # type: ignore[arg-type]
    migrate(con)
    return con
