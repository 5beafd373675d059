"""Openfire Monitoring plugin archive → the same tables as every vendor (hand-worked expectations).

The scenario (openfire_rows.first_run_rows), by hand:
  conversation 1 (1:1): alice→bob "hi bob" (09:00:00), bob→alice "hi alice" (09:00:05); a legacy row
    without messageID is not read.
  conversation 2 (room dev@conference): alice and bob present from 09:00, carol from 09:01, bob left
    at 09:02. alice "standup?" 09:00:30 → bob; carol "here" 09:01:30 → alice, bob; alice "bye"
    09:02:30 → carol; alice's private message "psst" 09:02:40 → carol. Its PMinPersonalArchive copy
    (conversation 3) is the same message.
  → 7 records, 6 messages, 2 conversations; billing at 0.01/message sent + 0.05/conversation started:
    alice 4 sent, 2 received, 2 conversations, 2 started = 0.14; bob 1/3/2/0 = 0.01; carol 1/2/1/0 = 0.01.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline_tests.reliability.conftest import core_run
from eur_pipeline_tests.vendors import openfire_rows as of
from eur_pipeline_tests.vendors.conftest import PASSWORD, load
from eur_pipeline_tests.vendors.helpers import billing, conversations, rows

pytestmark = pytest.mark.postgres


def source(db, **extra) -> dict:
    return {"name": "openfire-eu", "kind": "openfire", "dsn": db.dsn, "site": "Corporation 2/Openfire", **extra}


def test_rooms_private_messages_and_legacy_rows_map_onto_the_common_tables(openfire_db, vendor_config) -> None:
    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db)]))
    (report,) = core_run(config)
    assert [(f.name, f.outcome, f.records) for f in report.files] == [("ofMessageArchive messageID 1..7", "parsed", 7)]
    wh = config.warehouse
    assert rows(wh, "SELECT format, record_count, rejected_count FROM archive_files") == [("openfire", 7, 0)]
    assert rows(wh, "SELECT sender, recipient, body FROM message_records ORDER BY record_no") == [
        (of.ALICE, of.BOB, "hi bob"),
        (of.BOB, of.ALICE, "hi alice"),
        (of.ALICE, of.BOB, "standup?"),
        (of.CAROL, of.ALICE, "here"),
        (of.CAROL, of.BOB, "here"),
        (of.ALICE, of.CAROL, "bye"),
        (of.ALICE, of.CAROL, "psst"),
    ]
    assert rows(wh, "SELECT count(*) FROM messages") == [(6,)]
    assert rows(wh, "SELECT recipients FROM messages WHERE body = 'here'") == [([of.ALICE, of.BOB],)]
    assert conversations(wh) == {
        "openfire:1": (2, [of.ALICE, of.BOB], of.ALICE, False),
        "openfire:2": (4, [of.ALICE, of.BOB, of.CAROL], of.ALICE, True),
    }
    # the room JID is nobody: not a participant, not billed
    assert not rows(wh, f"SELECT * FROM message_records WHERE sender = '{of.ROOM}' OR recipient = '{of.ROOM}'")
    assert billing(wh) == {
        of.ALICE: (4, 2, 2, 2, "0.1400"),
        of.BOB: (1, 3, 2, 0, "0.0100"),
        of.CAROL: (1, 2, 1, 0, "0.0100"),
    }
    assert rows(wh, "SELECT DISTINCT site FROM billing") == [("Corporation 2/Openfire",)]


def test_next_run_reads_only_new_rows_and_continues_the_conversation(openfire_db, vendor_config) -> None:
    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db)]))
    core_run(config)
    (again,) = core_run(config)
    assert again.files == []  # nothing new: no batch, no ledger row
    of.message(openfire_db, 8, 1, of.BOB + "/phone", of.ALICE, of.T0 + 20 * of.SEC, "later")
    (report,) = core_run(config)
    assert [(f.name, f.records) for f in report.files] == [("ofMessageArchive messageID 8..8", 1)]
    wh = config.warehouse
    assert rows(wh, "SELECT count(*) FROM message_records") == [(8,)]
    assert conversations(wh)["openfire:1"] == (3, [of.ALICE, of.BOB], of.ALICE, False)
    assert billing(wh)[of.BOB] == (2, 3, 2, 0, "0.0200")


def test_cluster_ids_written_out_of_order_are_read_once_within_the_window(openfire_db, vendor_config) -> None:
    of.first_run_rows(openfire_db)
    of.message(openfire_db, 20, 1, of.ALICE, of.BOB, of.T0 + 30 * of.SEC, "from node B")
    config = load(vendor_config([source(openfire_db, reread_window=100)]))
    core_run(config)
    # another cluster node's block of ids commits later, below the watermark (20)
    of.message(openfire_db, 12, 1, of.BOB, of.ALICE, of.T0 + 31 * of.SEC, "from node A")
    (report,) = core_run(config)
    assert [(f.name, f.records) for f in report.files] == [("ofMessageArchive messageID 12..12 (1 late rows)", 1)]
    (again,) = core_run(config)
    assert again.files == []
    assert rows(config.warehouse, "SELECT count(*), count(DISTINCT extra->>'messageID') FROM message_records") == [
        (9, 8)
    ]


@pytest.mark.file_warehouse  # a second warehouse beside the first: a path of its own
def test_small_batches_give_the_same_tables_and_one_ledger_row_each(openfire_db, vendor_config, tmp_path) -> None:
    of.first_run_rows(openfire_db)
    whole = load(vendor_config([source(openfire_db)]))
    core_run(whole)
    expected = (conversations(whole.warehouse), billing(whole.warehouse))
    small_dir = tmp_path / "small"
    small_dir.mkdir()
    path = vendor_config([source(openfire_db, batch_rows=2)])
    text = path.read_text().replace("./wh.duckdb", "./small/wh.duckdb").replace("./landing", "./small/landing")
    path.write_text(text)
    small = load(path)
    (report,) = core_run(small)
    assert [f.name for f in report.files] == [
        "ofMessageArchive messageID 1..2",
        "ofMessageArchive messageID 3..4",
        "ofMessageArchive messageID 5..6",
        "ofMessageArchive messageID 7..7",
    ]
    assert (conversations(small.warehouse), billing(small.warehouse)) == expected


def test_batches_mapped_ahead_equal_their_landed_copies_parsed_again(openfire_db, vendor_config, monkeypatch) -> None:
    """The source maps batch N+1 while batch N loads; the landed copy (what reprocess and rebuild
    read) must map to exactly the rows that were loaded."""
    from eur_pipeline.formats.base import ParseResult
    from eur_pipeline.formats.openfire import OpenfireFormat

    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db, batch_rows=2)]))
    read_from_file = []
    parse = OpenfireFormat.parse
    monkeypatch.setattr(OpenfireFormat, "parse", lambda self, path, result: read_from_file.append(path) or [])
    core_run(config)
    assert read_from_file == []  # every batch was loaded as mapped ahead
    monkeypatch.setattr(OpenfireFormat, "parse", parse)
    wh = config.warehouse
    files = rows(wh, "SELECT file_id, landing_path FROM archive_files ORDER BY landing_path")
    assert len(files) == 4
    compared = 0
    for file_id, landing_path in files:
        loaded = rows(
            wh,
            "SELECT record_no, sender, recipient, body, extra::VARCHAR FROM message_records "
            f"WHERE file_id = '{file_id}' ORDER BY record_no",
        )
        reparsed = [
            (r["record_no"], r["sender"], r["recipient"], r["body"], r["extra"])
            for batch in OpenfireFormat().parse(Path(landing_path), ParseResult())
            for r in batch.to_pylist()
        ]
        assert loaded == reparsed
        compared += len(loaded)
    assert compared == 7


def test_a_batch_the_mapping_refuses_is_quarantined_and_its_rows_are_not_read_again(
    openfire_db, vendor_config, monkeypatch
) -> None:
    from eur_pipeline.errors import QuarantineError
    from eur_pipeline.formats.openfire import OpenfireFormat

    def refuse(self, unit, tables):  # type: ignore[no-untyped-def]
        raise QuarantineError("ofMessageArchive: test refusal")

    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db, batch_rows=4)]))
    monkeypatch.setattr(OpenfireFormat, "map_members", refuse)
    (report,) = core_run(config)
    assert [(f.outcome, f.detail) for f in report.files] == [("quarantined", "ofMessageArchive: test refusal")] * 2
    assert rows(config.warehouse, "SELECT status, count(*) FROM archive_files GROUP BY ALL") == [("quarantined", 2)]
    assert rows(config.warehouse, "SELECT count(*) FROM message_records") == [(0,)]
    (again,) = core_run(config)
    assert again.files == []  # the quarantined batches' ids are held: nothing is listed again


def test_the_source_session_is_read_only_and_the_password_stays_out_of_logs(
    openfire_db, vendor_config, caplog: pytest.LogCaptureFixture
) -> None:
    from eur_pipeline.sources.registry import open_source

    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db)]))
    assert PASSWORD not in repr(config.sources[0]) and PASSWORD not in str(config)
    with open_source(config.sources[0]) as src, src._con.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SHOW default_transaction_read_only")
        assert cur.fetchone() == ("on",)
        import psycopg2

        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("DELETE FROM ofMessageArchive")
    core_run(config)
    with openfire_db.con.cursor() as cur:
        cur.execute("SELECT count(*) FROM ofMessageArchive")
        assert cur.fetchone() == (8,)  # nothing changed at the source
    assert PASSWORD not in caplog.text


def test_database_down_is_a_reported_source_error_without_secrets(vendor_config, monkeypatch) -> None:
    monkeypatch.setenv("EUR_TEST_DB_PASSWORD", PASSWORD)
    dead = {
        "name": "openfire-eu",
        "kind": "openfire",
        "dsn": "postgresql://postgres:${EUR_TEST_DB_PASSWORD}@127.0.0.1:1/openfire",
        "connect_timeout": 2,
    }
    config = load(vendor_config([dead]))
    from eur_pipeline.warehouse.migrations import open_warehouse

    con = open_warehouse(config.warehouse)
    try:
        report = collect_source(con, config, config.sources[0])
    finally:
        con.close()
    assert report.error and "cannot connect to the database" in report.error
    assert PASSWORD not in report.error


def test_a_batch_is_collected_once_even_under_another_name(openfire_db, vendor_config) -> None:
    """Content identity: the landing copy of a batch, dropped into a folder, loads nothing twice."""
    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db)]))
    core_run(config)
    landed = Path(rows(config.warehouse, "SELECT landing_path FROM archive_files")[0][0])
    drop = config.landing_dir.parent / "incoming"
    drop.mkdir()
    (drop / "copy.zip").write_bytes(landed.read_bytes())
    folder = {
        "name": "drop",
        "kind": "local",
        "path": str(drop),
        "format": "openfire",
        "pattern": "*.zip",
        "min_age_seconds": 0,
    }
    both = load(vendor_config([source(openfire_db), folder]))
    reports = core_run(both)
    assert [f.outcome for f in reports[1].files] == ["duplicate"]
    assert rows(both.warehouse, "SELECT count(*) FROM message_records") == [(7,)]


def test_a_warehouse_without_the_watermark_recognizes_its_batches_and_moves_on(openfire_db, vendor_config) -> None:
    """E.g. a warehouse rebuilt from the landing copies: the batches come again as duplicates (same
    content), nothing loads twice, and their ids restore the watermark."""
    from eur_pipeline.warehouse.migrations import open_warehouse

    of.first_run_rows(openfire_db)
    config = load(vendor_config([source(openfire_db)]))
    core_run(config)
    con = open_warehouse(config.warehouse)
    con.execute("DELETE FROM source_row_ranges")
    con.close()
    (again,) = core_run(config)
    assert [f.outcome for f in again.files] == ["duplicate"]
    assert rows(config.warehouse, "SELECT count(*) FROM message_records") == [(7,)]
    (after,) = core_run(config)
    assert after.files == []
