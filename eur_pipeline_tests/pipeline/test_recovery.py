"""reprocess and rebuild: the way back from an older parser's quarantine and from a lost warehouse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from eur_pipeline.config.loader import load_config
from eur_pipeline.definitions import build_definitions
from eur_pipeline.errors import EurError, QuarantineError
from eur_pipeline.pipeline import recovery
from eur_pipeline.pipeline.backups import MANIFEST
from eur_pipeline.warehouse.ledger import FileIdentity
from eur_pipeline.warehouse.loader import load_archive
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.conftest import CORPUS
from eur_pipeline_tests.reliability.conftest import core_run, local_source, make_inputs, write_config

# compared column by column; parsed_at is when a parse ran, so it is the one column left out
NOT_COMPARED = {"schema_version", "eur_settings", "audit_log", "file_sightings"}


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def content(path: Path) -> dict[str, list[str]]:
    """Every table of a warehouse by content, order-independent (archive_files without parsed_at)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in tables(con):
            if table in NOT_COMPARED:
                continue
            sql = f"SELECT * EXCLUDE (parsed_at) FROM {table}" if table == "archive_files" else f"SELECT * FROM {table}"
            out[table] = sorted(map(repr, con.execute(sql).fetchall()))
        sightings = "SELECT source, name, size_bytes, remote_mtime, sha256 FROM file_sightings"
        out["file_sightings"] = sorted(map(repr, con.execute(sightings).fetchall()))
        return out
    finally:
        con.close()


def audit_rows(path: Path) -> list[tuple[str, dict]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute('SELECT action, detail FROM audit_log ORDER BY "at"').fetchall()
        return [(a, json.loads(d)) for a, d in rows]
    finally:
        con.close()


@pytest.fixture
def collected(tmp_path: Path) -> Path:
    """A source of generated archives plus a quarantined file, a file with rejected records and the
    same content under a second name, collected (and deleted at the source) into a warehouse."""
    incoming = tmp_path / "in"
    make_inputs(incoming, conversations=40, files_per_day=2)
    shutil.copy(CORPUS / "hostile" / "not_xml.xml", incoming / "broken.xml")
    first = sorted(incoming.glob("*.xml"))[0]
    shutil.copy(first, incoming / "copy_of_first.xml")
    config = write_config(tmp_path, local_source(incoming, on_success="delete"))
    core_run(load_config(config))
    assert not list(incoming.glob("*.xml"))  # all collected, the originals are gone
    return config


def test_rebuild_from_the_landing_backups_alone_equals_the_original_in_every_table(
    collected: Path, tmp_path: Path
) -> None:
    config = load_config(collected)
    original = content(config.warehouse)
    assert original["archive_files"] and original["messages"] and original["billing"]
    assert any("'quarantined'" in row for row in original["archive_files"])
    config.warehouse.rename(tmp_path / "lost.duckdb")  # the warehouse is gone: only landing_dir is left
    into = tmp_path / "rebuilt.duckdb"
    report = recovery.rebuild(config, into, actor="tester")
    assert not report.failed and report.count("duplicate") == 0  # the copy is one content: one backup
    rebuilt = content(into)
    assert rebuilt.keys() == original.keys()
    for table in original:
        assert rebuilt[table] == original[table], table
    ((action, detail),) = audit_rows(into)
    assert action == "rebuild" and detail["files"] == len(original["archive_files"]) and detail["failed"] == 0
    with pytest.raises(EurError, match="already exists"):
        recovery.rebuild(config, into)


def test_rebuild_reads_backups_without_a_manifest_line_from_their_path(collected: Path, tmp_path: Path) -> None:
    config = load_config(collected)
    (config.landing_dir / MANIFEST).unlink()  # e.g. backups kept by an earlier version
    into = tmp_path / "rebuilt.duckdb"
    recovery.rebuild(config, into)
    ours, theirs = content(config.warehouse), content(into)
    for table in ("message_records", "rejected_records", "messages", "conversations", "billing"):
        assert theirs[table] == ours[table], table


def _quarantine_as_an_old_parser_would(config_path: Path, tmp_path: Path) -> str:
    """Collect the seed sample, but with a parser that (wrongly) refuses it: the file is quarantined."""
    config = load_config(config_path)
    landed = config.landing_dir / "archiver" / "seed.xml"
    landed.parent.mkdir(parents=True)
    shutil.copy(CORPUS / "seed_sample.xml", landed)
    sha = recovery.sha256_of(landed)
    ident = FileIdentity(
        "archiver", "seed.xml", landed.stat().st_size, sha, 1.0e9, "avaya_presence_xml", str(landed), _now()
    )

    def old_parser(result: object):
        raise QuarantineError("unsupported timestamp (old parser)")
        yield  # pragma: no cover

    con = open_warehouse(config.warehouse)
    try:
        assert load_archive(con, ident, old_parser).status == "quarantined"
    finally:
        con.close()
    return ident.file_id


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 12, 1, tzinfo=UTC)


def test_reprocess_parses_a_quarantined_file_again_exactly_once(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config_path = write_config(tmp_path, local_source(tmp_path / "in"))
    file_id = _quarantine_as_an_old_parser_would(config_path, tmp_path)
    config = load_config(config_path)
    con = open_warehouse(config.warehouse)
    try:
        report = recovery.reprocess(con, config, quarantined=True, actor="tester")
        assert [(f[0], f[2]) for f in report.files] == [(file_id, "parsed")]
        once = con.execute(
            "SELECT status, error, record_count, (SELECT count(*) FROM messages), (SELECT count(*) FROM billing) "
            "FROM archive_files"
        ).fetchall()
        assert once == [("parsed", None, 4, 2, 2)]  # the seed sample: 4 records, 2 messages, 2 users billed
        again = recovery.reprocess(con, config, file_ids=[file_id])
        assert [f[2] for f in again.files] == ["parsed"]
        assert not recovery.reprocess(con, config, quarantined=True).files  # nothing quarantined any more
    finally:
        con.close()
    # tables as if it had parsed right the first time: compare with a plain collection of the same file
    fresh = tmp_path / "fresh"
    (fresh / "in").mkdir(parents=True)
    shutil.copy(CORPUS / "seed_sample.xml", fresh / "in" / "seed.xml")
    fresh_config = write_config(fresh, local_source(fresh / "in", on_success="keep"))
    core_run(load_config(fresh_config))
    ours, theirs = content(config.warehouse), content(load_config(fresh_config).warehouse)
    for table in ("message_records", "rejected_records", "messages", "conversations", "billing", "pending_threads"):
        assert ours[table] == theirs[table], table
    assert [a for a, _ in audit_rows(config.warehouse)] == ["reprocess", "reprocess"]
    assert audit_rows(config.warehouse)[0][1] == {
        "file_id": file_id,
        "source": "archiver",
        "status": "parsed",
        "records": 4,
    }


def test_reprocess_refuses_an_unknown_id_and_a_changed_backup(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config_path = write_config(tmp_path, local_source(tmp_path / "in"))
    file_id = _quarantine_as_an_old_parser_would(config_path, tmp_path)
    config = load_config(config_path)
    (config.landing_dir / "archiver" / "seed.xml").write_text("<messages/>")  # the backup was altered
    con = open_warehouse(config.warehouse)
    try:
        with pytest.raises(EurError, match="no collected file with file_id 'nope'"):
            recovery.reprocess(con, config, file_ids=["nope"])
        (result,) = recovery.reprocess(con, config, file_ids=[file_id]).files
        assert result[2] == "failed" and "no longer has the collected content" in result[3]
        assert con.execute("SELECT status FROM archive_files").fetchall() == [("quarantined",)]  # untouched
    finally:
        con.close()


def test_both_are_dagster_jobs_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config_path = write_config(tmp_path, local_source(tmp_path / "in"))
    _quarantine_as_an_old_parser_would(config_path, tmp_path)
    defs = build_definitions(str(config_path))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("reprocess_quarantined").execute_in_process(instance=instance)
        assert result.success
        into = tmp_path / "copy.duckdb"
        rebuilt = defs.resolve_job_def("rebuild_warehouse").execute_in_process(
            instance=instance, run_config={"ops": {"rebuild_from_landing": {"config": {"into": str(into)}}}}
        )
        assert rebuilt.success
        default = defs.resolve_job_def("rebuild_warehouse").execute_in_process(instance=instance)
        assert default.success and list(tmp_path.glob("rebuilt-*.duckdb"))
    config = load_config(config_path)
    assert content(into)["messages"] == content(config.warehouse)["messages"] != []
