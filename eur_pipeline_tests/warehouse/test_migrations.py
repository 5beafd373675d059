"""Schema versioning: a fresh warehouse gets every migration; an old one upgrades in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from eur_pipeline.warehouse.migrations import migrate, migration_files
from eur_pipeline.warehouse.sql_files import SQL_DIR


def test_fresh_warehouse_gets_every_migration(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    version = migrate(con)
    assert version == migration_files()[-1][0]
    assert migrate(con) == version  # idempotent
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"archive_files", "message_records", "rejected_records", "messages", "conversations", "billing"} <= tables


def test_existing_warehouse_upgrades_in_place_keeping_data(tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    shutil.copy(SQL_DIR / "001_init.sql", sql_dir)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert migrate(con, sql_dir) == 1
    con.execute("INSERT INTO pending_threads VALUES ('t', 'messages')")
    (sql_dir / "002_add_note.sql").write_text("ALTER TABLE archive_files ADD COLUMN note VARCHAR;")
    assert migrate(con, sql_dir) == 2
    assert con.execute("SELECT count(*) FROM pending_threads").fetchone() == (1,)
    assert "note" in {r[0] for r in con.execute("DESCRIBE archive_files").fetchall()}


def test_a_migration_numbered_below_the_newest_applied_still_runs_once(tmp_path: Path) -> None:
    """Two branches each add a migration (005 and 006); a warehouse that got 006 first still gets 005."""
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    shutil.copy(SQL_DIR / "001_init.sql", sql_dir)
    (sql_dir / "006_audit.sql").write_text("CREATE TABLE later (x INTEGER);")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert migrate(con, sql_dir) == 6
    (sql_dir / "005_other_branch.sql").write_text("CREATE TABLE earlier (x INTEGER);")
    assert migrate(con, sql_dir) == 6 and migrate(con, sql_dir) == 6
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"earlier", "later"} <= tables
    assert [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()] == [1, 5, 6]
