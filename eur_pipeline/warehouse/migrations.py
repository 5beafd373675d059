"""Schema versioning: ``sql/NNN_*.sql`` applied in order, each once, each in its own transaction;
then every ``sql/views_*.sql`` (CREATE OR REPLACE VIEW / MACRO), re-run only when their text changed
(digest kept in ``eur_settings``), so opening an up-to-date warehouse costs two small queries."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb

from eur_pipeline.warehouse.connection import connect, transaction
from eur_pipeline.warehouse.sql_files import sql_dir

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


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _views(folder: Path) -> tuple[list[str], str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("views_*.sql"))]
    return texts, hashlib.sha256("\0".join(texts).encode()).hexdigest()


def migrate(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> int:
    """Upgrade in place to the newest schema and views; returns the version now in force."""
    folder = folder or sql_dir()
    current = schema_version(con)
    # every migration not yet applied, in order: one numbered below the newest applied (e.g. written on
    # a branch merged later) still runs once
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_version").fetchall()}
    for version, path in migration_files(folder):
        if version in applied:
            continue
        with transaction(con):
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
        current = max(current, version)
    texts, digest = _views(folder)
    if not texts:
        return current
    stored = con.execute("SELECT value FROM eur_settings WHERE key = ?", [_VIEWS_KEY]).fetchall()
    if not stored or stored[0][0] != digest:
        with transaction(con):
            for text in texts:
                con.execute(text)
            con.execute(
                "INSERT INTO eur_settings VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                [_VIEWS_KEY, digest],
            )
    return current


def open_warehouse(path: Path, **kwargs: object) -> duckdb.DuckDBPyConnection:
    """A migrated read-write connection (waits for a lock held by another process)."""
    con = connect(path, **kwargs)  # type: ignore[arg-type]
    migrate(con)
    return con
