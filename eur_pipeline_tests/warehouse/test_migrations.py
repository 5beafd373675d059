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


def test_row_ids_a_database_source_loaded_become_ranges_and_read_back_the_same(tmp_path: Path) -> None:
    """012: a warehouse holding one row per upstream id (007) keeps them as ranges of consecutive
    ids per batch; ``source_rows`` reads back every id, and the watermark is unchanged."""
    from eur_pipeline.sources.ledger_view import SourceLedger

    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for path in SQL_DIR.glob("*.sql"):
        if path.name != "views_sources.sql" and (not path.name[:3].isdigit() or int(path.name[:3]) < 12):
            shutil.copy(path, sql_dir)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert migrate(con, sql_dir) == max(int(p.name[:3]) for p in sql_dir.glob("0*.sql"))  # before 012
    held = [("of", i, "batch-a") for i in [1, 2, 3, 5, 6, 9]] + [("of", 4, "batch-b"), ("ej", 7, "batch-c")]
    con.executemany("INSERT INTO source_rows VALUES (?, ?, ?)", held)
    shutil.copy(SQL_DIR / "012_source_row_ranges.sql", sql_dir)
    shutil.copy(SQL_DIR / "views_sources.sql", sql_dir)
    assert migrate(con, sql_dir) == 12
    assert con.execute("SELECT * FROM source_row_ranges ORDER BY source, first_id").fetchall() == [
        ("ej", 7, 7, "batch-c"),
        ("of", 1, 3, "batch-a"),
        ("of", 4, 4, "batch-b"),
        ("of", 5, 6, "batch-a"),
        ("of", 9, 9, "batch-a"),
    ]
    assert sorted(con.execute("SELECT * FROM source_rows").fetchall()) == sorted(held)
    ledger = SourceLedger(con, "of")
    assert ledger.high_id() == 9
    assert ledger.held_ids(4) == {5, 6, 9}
