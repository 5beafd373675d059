"""The collector end to end on a local drop folder: data rules, quarantine, idempotence, completion."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.warehouse.connection import connect
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.conftest import archive_text, chat, drop

TABLES = ["archive_files", "message_records", "rejected_records", "messages", "conversations"]
A, B, C = "56208@presence.bvwdev.com", "56207@presence.bvwdev.com", "56209@presence.bvwdev.com"


def run_once(config: EurConfig) -> list:
    """Collect every source and refresh the SQL transforms, like one pipeline run."""
    con = open_warehouse(config.warehouse)
    try:
        reports = [collect_source(con, config, s) for s in config.sources]
        refresh_messages(con)
        refresh_conversations(con)
        return reports
    finally:
        con.close()


def snapshot(config: EurConfig) -> dict[str, list]:
    """Every contract table's content (minus collection timestamps), order-independent."""
    con = connect(config.warehouse, read_only=True)
    try:
        out = {}
        for table in TABLES:
            exclude = " EXCLUDE (collected_at, parsed_at)" if table == "archive_files" else ""
            out[table] = sorted(map(repr, con.execute(f"SELECT *{exclude} FROM {table}").fetchall()))
        return out
    finally:
        con.close()


def query(config: EurConfig, sql: str) -> list[tuple]:
    con = connect(config.warehouse, read_only=True)
    try:
        con.execute("SET TimeZone='UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def config(make_config: Callable[..., EurConfig]) -> EurConfig:
    return make_config()


@pytest.fixture
def incoming(config: EurConfig) -> Path:
    return Path(config.sources[0].options["path"])


def test_seed_sample_gives_two_messages_and_one_conversation(
    config: EurConfig, incoming: Path, seed_sample: Path
) -> None:
    drop(incoming, "seed.xml", seed_sample)
    [report] = run_once(config)
    assert report.count("parsed") == 1 and report.records == 4
    assert query(config, "SELECT count(*) FROM message_records") == [(4,)]
    msgs = query(config, "SELECT sender, recipients, recipient_count, body FROM messages ORDER BY sent_at")
    assert msgs == [(A, [B], 1, "hi from 56208"), (B, [A], 1, "ok")]
    [conv] = query(
        config,
        "SELECT strftime(started_at, '%H:%M:%S'), strftime(ended_at, '%H:%M:%S'), duration_seconds, message_count, "
        "participant_count, participants, initiator, is_multiparty FROM conversations",
    )
    assert conv == ("14:57:28", "14:57:37", 9.0, 2, 2, sorted([A, B]), A, False)
    assert (Path(config.landing_dir) / "drop" / "seed.xml").read_bytes() == seed_sample.read_bytes()


def test_three_party_invite_thread(config: EurConfig, incoming: Path) -> None:
    records = chat("T3", "2024-01-05T10:00:00Z", A, [B], "hi")
    records += chat("T3", "2024-01-05T10:01:00Z", A, [B, C], "inviting C")
    records += chat("T3", "2024-01-05T10:02:00Z", C, [A, B], "hello both")
    drop(incoming, "three.xml", archive_text(records))
    run_once(config)
    assert query(config, "SELECT count(*) FROM messages") == [(3,)]
    assert query(config, "SELECT recipients FROM messages WHERE sender = ? ".replace("?", f"'{C}'")) == [
        (sorted([A, B]),)
    ]
    [conv] = query(config, "SELECT participant_count, participants, initiator, is_multiparty FROM conversations")
    assert conv == (3, sorted([A, B, C]), A, True)


def test_bad_files_are_quarantined_and_the_rest_loads(config: EurConfig, incoming: Path, seed_sample: Path) -> None:
    drop(incoming, "good.xml", seed_sample)
    drop(incoming, "truncated.xml", seed_sample.read_text()[:500])
    drop(incoming, "wrong-root.xml", "<archive/>")
    drop(incoming, "xxe.xml", '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><messages>&x;</messages>')
    [report] = run_once(config)
    assert report.count("parsed") == 1 and report.count("quarantined") == 3
    rows = query(config, "SELECT name, status, error, record_count FROM archive_files ORDER BY name")
    by_name = {r[0]: r for r in rows}
    assert by_name["good.xml"][1:] == ("parsed", None, 4)
    assert "truncated" in by_name["truncated.xml"][2]
    assert "root element is <archive>" in by_name["wrong-root.xml"][2]
    assert "DTD" in by_name["xxe.xml"][2]
    assert query(config, "SELECT count(DISTINCT file_id) FROM message_records") == [(1,)]
    for name in ("truncated.xml", "wrong-root.xml", "xxe.xml"):  # the backup keeps quarantined files too
        assert (Path(config.landing_dir) / "drop" / name).exists()


def test_record_rejects_are_stored_with_reasons(config: EurConfig, incoming: Path) -> None:
    text = archive_text(chat("T", "2024-01-05T10:00:00Z", A, [B], "ok"))
    text = text.replace("</messages>", "<message><sender>x@y</sender><recipient>z@y</recipient></message></messages>")
    drop(incoming, "partial.xml", text)
    run_once(config)
    assert query(config, "SELECT record_no, reason FROM rejected_records") == [(3, "missing <timestamp>")]
    assert query(config, "SELECT record_count, rejected_count FROM archive_files") == [(2, 1)]


def test_rerun_and_resent_content_change_nothing(config: EurConfig, incoming: Path, seed_sample: Path) -> None:
    drop(incoming, "seed.xml", seed_sample)
    run_once(config)
    before = snapshot(config)
    [again] = run_once(config)
    assert again.count("skipped") == 1 and again.records == 0
    drop(incoming, "seed-copy-renamed.xml", seed_sample)
    [resent] = run_once(config)
    assert resent.count("duplicate") == 1
    assert snapshot(config) == before


def test_continued_thread_updates_its_conversation(config: EurConfig, incoming: Path) -> None:
    drop(incoming, "part1.xml", archive_text(chat("TC", "2024-01-05T10:00:00Z", A, [B], "start")))
    run_once(config)
    assert query(config, "SELECT message_count, ended_at FROM conversations")[0][0] == 1
    drop(incoming, "part2.xml", archive_text(chat("TC", "2024-01-05T11:30:00Z", B, [A], "later")))
    run_once(config)
    [(count, duration, initiator)] = query(
        config, "SELECT message_count, duration_seconds, initiator FROM conversations"
    )
    assert (count, duration, initiator) == (2, 5400.0, A)


def test_same_name_new_content_loads_and_keeps_both_backups(config: EurConfig, incoming: Path) -> None:
    first = drop(incoming, "daily.xml", archive_text(chat("T1", "2024-01-05T10:00:00Z", A, [B], "one")))
    run_once(config)
    drop(incoming, "daily.xml", archive_text(chat("T2", "2024-01-06T10:00:00Z", A, [B], "two, longer")))
    os.utime(first, (first.stat().st_atime, first.stat().st_mtime - 100))
    [report] = run_once(config)
    assert report.count("parsed") == 1
    assert query(config, "SELECT count(*) FROM archive_files") == [(2,)]
    assert len(list((Path(config.landing_dir) / "drop").glob("daily.xml*"))) == 2


@pytest.mark.parametrize("on_success", ["delete", "move", "keep"])
def test_remote_completion(make_config: Callable[..., EurConfig], on_success: str, seed_sample: Path) -> None:
    config = make_config(source={"on_success": on_success, "move_to": "done"})
    incoming = Path(config.sources[0].options["path"])
    drop(incoming, "seed.xml", seed_sample)
    run_once(config)
    assert (incoming / "seed.xml").exists() == (on_success == "keep")
    assert (incoming / "done" / "seed.xml").exists() == (on_success == "move")
    completed = query(config, "SELECT completed_at IS NOT NULL FROM file_sightings")
    assert completed == [(on_success != "keep",)]


def test_failed_completion_is_retried_next_run_without_reloading(
    make_config: Callable[..., EurConfig], seed_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eur_pipeline.sources.local import LocalSource

    config = make_config(source={"on_success": "delete"})
    incoming = Path(config.sources[0].options["path"])
    drop(incoming, "seed.xml", seed_sample)
    original = LocalSource.complete

    def broken(self: LocalSource, remote: object) -> None:
        raise OSError("permission denied (simulated)")

    monkeypatch.setattr(LocalSource, "complete", broken)
    [report] = run_once(config)
    assert report.count("parsed") == 1 and "will retry" in report.warnings[0]
    assert (incoming / "seed.xml").exists()
    monkeypatch.setattr(LocalSource, "complete", original)
    [report] = run_once(config)
    assert report.count("skipped") == 1 and report.records == 0
    assert not (incoming / "seed.xml").exists()
    assert query(config, "SELECT count(*) FROM message_records") == [(4,)]


def test_files_not_old_enough_or_empty_wait(make_config: Callable[..., EurConfig], seed_sample: Path) -> None:
    config = make_config(source={"min_age_seconds": 3600})
    incoming = Path(config.sources[0].options["path"])
    drop(incoming, "fresh.xml", seed_sample)
    drop(incoming, "empty.xml", b"")
    old = drop(incoming, "old.xml", seed_sample.read_text().replace("hi from", "hello from"))
    os.utime(old, (old.stat().st_atime - 7200, old.stat().st_mtime - 7200))
    [report] = run_once(config)
    assert [f.name for f in report.files] == ["old.xml"]


def test_unreachable_source_is_reported_not_raised(make_config: Callable[..., EurConfig]) -> None:
    config = make_config(source={"path": "./does-not-exist"})
    [report] = run_once(config)
    assert report.failed and "does not exist" in (report.error or "")


def test_reupload_with_same_name_size_and_mtime_after_delete_is_collected(
    make_config: Callable[..., EurConfig],
) -> None:
    """SFTP mtimes are whole seconds: a new upload can repeat name, size and mtime of a deleted one."""
    config = make_config(source={"on_success": "delete"})
    incoming = Path(config.sources[0].options["path"])
    first = drop(incoming, "daily.xml", archive_text(chat("T1", "2024-01-05T10:00:00Z", A, [B], "one")))
    mtime = int(first.stat().st_mtime) - 10
    os.utime(first, (mtime, mtime))
    run_once(config)
    content = archive_text(chat("T2", "2024-01-05T10:00:00Z", A, [B], "two"))
    second = drop(incoming, "daily.xml", content)
    os.utime(second, (mtime, mtime))
    [report] = run_once(config)
    assert report.count("parsed") == 1 and not second.exists()
    assert query(config, "SELECT count(*) FROM archive_files") == [(2,)]
    # the sightings are a log (one row per time taken in); the newest of the key is the one in force
    newest = "SELECT sha256, completed_at IS NOT NULL FROM file_sightings ORDER BY seen_at DESC LIMIT 1"
    assert query(config, newest) == [(hashlib.sha256(content.encode()).hexdigest(), True)]
