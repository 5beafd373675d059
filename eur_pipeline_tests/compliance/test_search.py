"""Search finds exactly the matching messages (hand-worked over conftest's five messages), is audited,
and follows the warehouse: new messages once the index is synced, never an erased body."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date

import pytest

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.search import query_parts, search
from eur_pipeline.compliance.search_index import sync
from eur_pipeline.config import EurConfig
from eur_pipeline.errors import ConfigError
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_messages
from eur_pipeline.warehouse.connection import transaction
from eur_pipeline.warehouse.ledger import forget_file
from eur_pipeline.warehouse.migrations import migrate
from eur_pipeline_tests.compliance.conftest import A, B, C, D
from eur_pipeline_tests.conftest import archive_text, chat, drop

M1, M2, M3, M4, M5 = (
    "hello bob",
    "hi alice, quick question",
    "project apollo launch",
    "the Apollo launch is delayed",
    ("brown fox jumps"),
)


def bodies(rows: list[tuple]) -> list[str]:
    return [r[5] for r in rows]


@pytest.mark.parametrize(
    ("query", "filters", "expected"),
    [
        ("apollo", {}, [M3, M4]),  # case-insensitive word
        ('"apollo launch"', {}, [M3, M4]),  # phrase
        ('"launch apollo"', {}, []),  # a phrase keeps its word order
        ("apollo delayed", {}, [M4]),  # every word must match
        ("ALICE,", {}, [M2]),  # punctuation is not part of a word
        ('"quick question', {}, [M2]),  # an unclosed quote runs to the end
        ("apol", {}, []),  # words, not substrings
        ("apollo", {"user": B}, [M3, M4]),  # bob received both
        ("apollo", {"user": "Carol@Presence.Example.com/phone"}, [M3, M4]),  # sent one, received one
        ("hello", {"user": C}, []),
        ("apollo", {"user": C, "start": date(2024, 2, 20), "end": date(2024, 2, 20)}, [M3, M4]),
        ("apollo", {"end": date(2024, 2, 19)}, []),
        ("apollo", {"start": date(2024, 2, 21)}, []),
        ('"brown fox"', {"user": D}, [M5]),
        ("hi OR hello", {}, []),  # no operators: OR is a word like any other
    ],
)
def test_finds_exactly_the_matching_messages(
    query: str, filters: dict, expected: list[str], loaded: Callable[..., EurConfig], open_wh: Callable
) -> None:
    config = loaded()
    con = open_wh(config)
    rows = search(con, config.resolved_search_index, query, actor="investigator", **filters)
    assert bodies(rows) == expected
    (entry,) = audit.entries(con, "search")
    assert entry["actor"] == "investigator"
    assert entry["detail"]["query"] == query and entry["detail"]["results"] == len(expected)


def test_rows_have_the_contract_columns(loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded()
    con = open_wh(config)
    (row,) = search(con, config.resolved_search_index, "delayed")
    message_id, thread_id, sent_at, sender, recipients, body = row
    assert (thread_id, sent_at.isoformat(), sender, recipients, body) == (
        "T2", "2024-02-20T10:05:00+00:00", C, [A, B], M4,
    )  # fmt: skip
    assert con.execute("SELECT count(*) FROM messages WHERE message_id = ?", [message_id]).fetchone() == (1,)


def test_the_index_follows_new_messages(tmp_path, loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded()
    con = open_wh(config)
    drop(tmp_path / "incoming", "f4.xml", archive_text(chat("T4", "2024-05-30T08:00:00Z", A, [D], "apollo again")))
    collect_source(con, config, config.sources[0])
    refresh_messages(con)
    assert bodies(search(con, config.resolved_search_index, "apollo")) == [M3, M4]  # not indexed yet
    report = sync(con, config.resolved_search_index)
    # only the new message's thread was read, not every message the warehouse holds
    assert (report.added, report.removed, report.documents, report.rebuilt, report.threads) == (1, 0, 6, False, 1)
    assert bodies(search(con, config.resolved_search_index, "apollo")) == [M3, M4, "apollo again"]
    again = sync(con, config.resolved_search_index)
    assert (again.added, again.documents, again.threads) == (0, 6, 0)


def test_a_file_forgotten_takes_its_messages_out_of_the_index(
    loaded: Callable[..., EurConfig], open_wh: Callable
) -> None:
    """Reprocessing forgets a file's records and refreshes their threads: the thread's messages go,
    and the sync, which reads only the threads queued since, sees them gone and rebuilds."""
    config = loaded()
    con = open_wh(config)
    (file_id,) = con.execute("SELECT file_id FROM archive_files WHERE name = 'f3.xml'").fetchone()
    with transaction(con):
        forget_file(con, file_id)
    refresh_messages(con)
    report = sync(con, config.resolved_search_index)
    assert (report.removed, report.documents, report.rebuilt) == (1, 4, True)
    assert search(con, config.resolved_search_index, '"brown fox"') == []
    assert bodies(search(con, config.resolved_search_index, "apollo")) == [M3, M4]


def test_an_index_from_before_the_thread_queue_is_rebuilt_once(
    loaded: Callable[..., EurConfig], open_wh: Callable
) -> None:
    """A warehouse whose ``search_indexed`` has no threads (before migration 013) gets the queue;
    its first sync rebuilds the index (the two no longer agree), the next ones are incremental."""
    config = loaded()
    con = open_wh(config)
    with transaction(con):
        con.execute("DROP TABLE search_pending_threads")
        con.execute("DROP TABLE search_indexed")
        con.execute("CREATE TABLE search_indexed (message_id VARCHAR NOT NULL)")
        con.execute("INSERT INTO search_indexed SELECT message_id FROM messages WHERE body IS NOT NULL")
        con.execute("DELETE FROM schema_version WHERE version = 13")
    assert migrate(con) >= 13
    first = sync(con, config.resolved_search_index)
    assert (first.rebuilt, first.documents) == (True, 5)
    assert con.execute("SELECT count(DISTINCT thread_id) FROM search_indexed").fetchone() == (3,)
    assert bodies(search(con, config.resolved_search_index, "apollo")) == [M3, M4]
    assert sync(con, config.resolved_search_index).rebuilt is False


def test_a_query_without_words_is_a_usage_error(loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded()
    con = open_wh(config)
    with pytest.raises(ConfigError, match="no words"):
        search(con, config.resolved_search_index, ' "" ,, ')
    assert query_parts('don\'t "Big  Deal" x') == [["don", "t"], ["big", "deal"], ["x"]]


def test_search_command(loaded: Callable[..., EurConfig], tmp_path) -> None:
    loaded()
    cli = [sys.executable, "-m", "eur_pipeline.cli"]
    args = ["search", "--config", str(tmp_path / "eur.yaml"), "--format", "json", "--actor", "dpo", '"apollo launch"']
    out = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=120, check=True).stdout
    rows = json.loads(out)
    assert [r["body"] for r in rows] == [M3, M4]
    assert list(rows[0]) == ["message_id", "thread_id", "sent_at", "sender", "recipients", "body"]
    bad = subprocess.run(
        [*cli, "search", "--config", str(tmp_path / "eur.yaml"), "--from", "2024-13-01", "apollo"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "--from '2024-13-01': expected a date" in bad.stderr


def test_a_hit_is_the_stored_message_exactly(tmp_path, loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    """The index stores each result row (as JSON): quotes, backslashes, line breaks,
    accents and emoji come back as the warehouse holds them."""
    config = loaded()
    con = open_wh(config)
    body = 'zebra "quoted" back\\slash\nnew line, tab\there, café ünïcode ✓ 😀 </row>'
    drop(tmp_path / "incoming", "f5.xml", archive_text(chat("T5", "2024-05-30T08:00:00Z", A, [D, B], body)))
    collect_source(con, config, config.sources[0])
    refresh_messages(con)
    sync(con, config.resolved_search_index)
    (row,) = search(con, config.resolved_search_index, "zebra")
    stored = con.execute(
        "SELECT message_id, thread_id, sent_at, sender, recipients, body FROM messages WHERE thread_id = 'T5'"
    ).fetchall()
    assert [row] == stored and row[5] == body


def test_the_sync_indexes_long_bodies_under_the_memory_cap(tmp_path, monkeypatch, caplog) -> None:
    """5,000 messages of 13 kB (pasted logs, say) at the writers' 128 MB DuckDB cap: documents built
    as JSON inside DuckDB ran out of it; the sync must index them all and find them. A rebuild reads
    them under its lower scan cap, and when even that runs out, rebuilds at the writers' cap."""
    from eur_pipeline.compliance import search_index
    from eur_pipeline.warehouse.migrations import open_warehouse

    con = open_warehouse(tmp_path / "warehouse.duckdb")
    insert = """INSERT INTO messages (message_id, thread_id, sent_at, sender, recipients, recipient_count, body,
                                      record_count, body_sha256)
                SELECT md5(i::VARCHAR), 'T' || (i // 10), TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i),
                       'a@x', ['b@x'], 1, repeat('lorem ipsum dolor ' || i::VARCHAR || ' ', 600), 2, md5('b' || i)
                FROM range(?, ?) t(i)"""
    queue = "INSERT INTO search_pending_threads SELECT DISTINCT thread_id FROM messages"  # as the transform does
    try:
        con.execute(insert, [0, 100])
        con.execute(queue)
        assert sync(con, tmp_path / "index").added == 100  # search_indexed is no longer empty
        con.execute(insert, [100, 5000])
        con.execute(queue)
        con.execute("SET memory_limit = '128MB'")
        report = sync(con, tmp_path / "index")
        assert (report.added, report.documents, report.rebuilt) == (4900, 5000, False)
        rows = search(con, tmp_path / "index", '"dolor 4999"', actor="test")
        assert [r[0] for r in rows] == [con.execute("SELECT md5('4999')").fetchone()[0]]
        shutil.rmtree(tmp_path / "index")  # a rebuild reads them under its lower scan cap
        report = sync(con, tmp_path / "index")
        assert (report.added, report.documents, report.rebuilt) == (5000, 5000, True)
        assert con.execute("SELECT current_setting('memory_limit')").fetchone() == ("122.0 MiB",)
        shutil.rmtree(tmp_path / "index")
        monkeypatch.setattr(search_index, "REBUILD_SCAN_MEMORY_LIMIT", "8MB")  # too small for these bodies
        with caplog.at_level(logging.INFO, logger="eur_pipeline.compliance.search_index"):
            report = sync(con, tmp_path / "index")
        assert "ran out of its 8MB scan cap" in caplog.text
        assert (report.added, report.documents, report.rebuilt) == (5000, 5000, True)  # no document twice
        assert con.execute("SELECT count(*) FROM search_indexed").fetchone() == (5000,)
    finally:
        con.close()
