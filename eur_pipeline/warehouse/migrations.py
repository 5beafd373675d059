"""Schema versioning: ``sql/NNN_*.sql`` applied in order, each once, each in its own transaction;
then every ``sql/views_*.sql`` (CREATE OR REPLACE VIEW) so views always match the code.

The same files serve both warehouses: on a lake their key and CHECK clauses are dropped
(``lake.portable_ddl``) and the whole upgrade runs in the lake's serial section, so two writers
starting at once apply each migration once."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb

from eur_pipeline.warehouse.connection import connect, serial_section, transaction
from eur_pipeline.warehouse.lake import lake_conninfo, portable_ddl
from eur_pipeline.warehouse.settings import set_setting
from eur_pipeline.warehouse.sql_files import SQL_DIR
from eur_pipeline.warehouse.target import WarehouseTarget

_MIGRATION = re.compile(r"^(\d{3})_[\w-]+\.sql$")
_VIEWS_KEY = "views.fingerprint"


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


def _ddl(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    return portable_ddl(sql) if lake_conninfo(con) else sql


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        _ddl(con, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def ensure_views(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> None:
    """(Re)create the ``views_*.sql`` objects when their text changed since they were last created
    (a lake would otherwise gain a snapshot per view on every connection)."""
    texts = [_ddl(con, path.read_text(encoding="utf-8")) for path in sorted(sql_dir.glob("views_*.sql"))]
    fingerprint = _views_fingerprint(con, sql_dir)
    with serial_section(con):
        stored = _stored_fingerprint(con)
        if stored == [(fingerprint,)]:
            return
        with transaction(con):
            for text in texts:
                con.execute(text)
            if _stored_fingerprint(con) is not None:  # eur_settings exists (a test's own sql_dir may lack it)
                set_setting(con, _VIEWS_KEY, fingerprint)


def _stored_fingerprint(con: duckdb.DuckDBPyConnection) -> list[tuple[str]] | None:
    """The views' stored fingerprint rows; None when there is no eur_settings table yet."""
    try:
        return con.execute("SELECT value FROM eur_settings WHERE key = ?", [_VIEWS_KEY]).fetchall()
    except duckdb.Error:
        return None


def _views_fingerprint(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> str:
    texts = [_ddl(con, path.read_text(encoding="utf-8")) for path in sorted(sql_dir.glob("views_*.sql"))]
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def _up_to_date(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> int | None:
    """The version in force when nothing is to do (newest migration, views unchanged), else None:
    a writer opening a lake then never waits for another writer's serial section."""
    try:
        row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    except duckdb.Error:  # no table yet (DuckDB may even try a Python object of that name)
        return None
    files = migration_files(sql_dir)
    newest = files[-1][0] if files else 0
    if not row or int(row[0]) != newest:
        return None
    return newest if _stored_fingerprint(con) == [(_views_fingerprint(con, sql_dir),)] else None


def migrate(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> int:
    """Upgrade in place to the newest schema; returns the version now in force."""
    current = _up_to_date(con, sql_dir)
    if current is not None:
        return current
    with serial_section(con):
        current = schema_version(con)
        for version, path in migration_files(sql_dir):
            if version <= current:
                continue
            with transaction(con):
                con.execute(_ddl(con, path.read_text(encoding="utf-8")))
                con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            current = version
        ensure_views(con, sql_dir)
    return current


def open_warehouse(path: WarehouseTarget, **kwargs: object) -> duckdb.DuckDBPyConnection:
    """A migrated read-write connection (waits for a lock held by another process)."""
    con = connect(path, **kwargs)  # type: ignore[arg-type]
    migrate(con)
    return con
