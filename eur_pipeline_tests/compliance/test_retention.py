"""Retention with hand-worked expectations (see conftest's table; purges run "on" 2024-06-01):
bodies_days 30 → cutoff 2024-05-02; records_days 60 and landing_days 60 → cutoff 2024-04-02.
Conversations and billing never change; a legal hold on carol for February keeps T2 until released."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.compliance import audit, holds
from eur_pipeline.compliance.retention import apply_retention, purge
from eur_pipeline.compliance.search import search
from eur_pipeline.config import EurConfig
from eur_pipeline.pipeline.integrity import check_integrity
from eur_pipeline_tests.compliance.conftest import NOW, C, invariant_tables, stored_bytes, table

RETENTION = {"bodies_days": 30, "records_days": 60, "landing_days": 60}


def landing(con) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    rows = con.execute("SELECT name, landing_path FROM archive_files ORDER BY name").fetchall()
    return {name: path is not None and Path(path).exists() for name, path in rows}


def test_purge_without_holds(loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded(retention=RETENTION)
    con = open_wh(config)
    before = invariant_tables(con)

    report, synced = apply_retention(con, config, now=NOW, actor="auditor-1")

    # T1 (January) and T2 (February) end before 2024-04-02: both threads go; T3 stays, body kept (May 25)
    assert table(con, "SELECT thread_id, body FROM messages") == [("T3", "brown fox jumps")]
    assert con.execute("SELECT count(*) FROM message_records").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM rejected_records").fetchone() == (0,)
    assert table(con, "SELECT thread_id FROM purged_threads") == [("T1",), ("T2",)]
    assert (report.threads_purged, report.records_removed, report.messages_removed, report.rejected_removed) == (
        2, 10, 4, 1,
    )  # fmt: skip
    assert (report.message_bodies_erased, report.record_bodies_erased) == (4, 10)  # erased, then removed
    assert landing(con) == {"f1.xml": False, "f2.xml": False, "f3.xml": True}
    assert report.landing_files_removed == 2
    assert invariant_tables(con) == before
    assert check_integrity(con) == []  # the ledger, conversations and billing still reconcile
    assert synced.documents == 1
    # billing rebuilt from scratch (e.g. new rates) keeps the purged threads' usage
    refresh_billing(con, config, full=True)
    assert invariant_tables(con) == before
    (entry,) = audit.entries(con, "purge")
    assert entry["actor"] == "auditor-1"
    assert entry["detail"]["threads_purged"] == 2 and entry["detail"]["landing_files_removed"] == 2
    # a second purge finds nothing more to do, and is audited too
    again, _ = apply_retention(con, config, now=NOW)
    assert (again.threads_purged, again.records_removed, again.message_bodies_erased) == (0, 0, 0)
    assert len(audit.entries(con, "purge")) == 2


def test_bodies_only(loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded(retention={"bodies_days": 30})
    con = open_wh(config)
    before = invariant_tables(con)
    purge(con, config.retention, now=NOW)
    assert table(con, "SELECT thread_id, body FROM messages") == [
        ("T1", None), ("T1", None), ("T2", None), ("T2", None), ("T3", "brown fox jumps"),
    ]  # fmt: skip
    assert con.execute("SELECT count(*), count(body) FROM message_records").fetchone() == (12, 2)
    assert con.execute("SELECT count(*), count(raw) FROM rejected_records").fetchone() == (1, 0)
    assert invariant_tables(con) == before
    assert check_integrity(con) == []


def test_a_held_users_old_bodies_survive_until_release(loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded(retention=RETENTION)
    con = open_wh(config)
    before = invariant_tables(con)
    hold = holds.add_hold(con, " Carol@Presence.Example.com/laptop ", "matter 42", date(2024, 2, 1), date(2024, 2, 29))
    assert hold.user_jid == C

    apply_retention(con, config, now=NOW)
    # carol received T2's first message and sent its second: T2 is held whole; T1 is not
    assert table(con, "SELECT thread_id, body FROM messages") == [
        ("T2", "project apollo launch"), ("T2", "the Apollo launch is delayed"), ("T3", "brown fox jumps"),
    ]  # fmt: skip
    assert con.execute("SELECT count(*), count(body) FROM message_records").fetchone() == (8, 8)
    assert landing(con) == {"f1.xml": False, "f2.xml": True, "f3.xml": True}
    assert [r[0] for r in search(con, config.resolved_search_index, "apollo launch")] == [
        r[0] for r in con.execute("SELECT message_id FROM messages WHERE thread_id = 'T2' ORDER BY sent_at").fetchall()
    ]
    assert invariant_tables(con) == before

    holds.release_hold(con, hold.hold_id)
    apply_retention(con, config, now=NOW)
    assert table(con, "SELECT thread_id, body FROM messages") == [("T3", "brown fox jumps")]
    assert landing(con) == {"f1.xml": False, "f2.xml": False, "f3.xml": True}
    assert search(con, config.resolved_search_index, "apollo") == []
    assert invariant_tables(con) == before
    assert check_integrity(con) == []


def test_a_hold_outside_the_messages_dates_covers_nothing(loaded: Callable[..., EurConfig], open_wh) -> None:
    config = loaded(retention=RETENTION)
    con = open_wh(config)
    holds.add_hold(con, C, "matter 7", date(2024, 3, 1), None)  # carol's messages are all in February
    report, _ = apply_retention(con, config, now=NOW)
    assert report.held_messages == 0
    assert report.threads_purged == 2


def test_hold_commands_are_audited_and_refuse_mistakes(loaded: Callable[..., EurConfig], open_wh) -> None:
    con = open_wh(loaded())
    first = holds.add_hold(con, C, "matter 1", actor="legal")
    second = holds.add_hold(con, "dave@presence.example.com", "matter 2", date(2024, 1, 1), date(2024, 12, 31))
    holds.release_hold(con, first.hold_id, actor="legal")
    assert [(h.hold_id, h.active) for h in holds.list_holds(con)] == [(first.hold_id, False), (second.hold_id, True)]
    assert [h.hold_id for h in holds.list_holds(con, include_released=False)] == [second.hold_id]
    with pytest.raises(Exception, match="already released"):
        holds.release_hold(con, first.hold_id)
    with pytest.raises(Exception, match="no legal hold 999"):
        holds.release_hold(con, 999)
    with pytest.raises(Exception, match="before"):
        holds.add_hold(con, C, "x", date(2024, 2, 1), date(2024, 1, 1))
    with pytest.raises(Exception, match="--reason"):
        holds.add_hold(con, C, "  ")
    actions = [
        (e["action"], e["actor"], e["detail"].get("hold_id")) for e in audit.entries(con) if "hold" in e["action"]
    ]
    assert actions[0] == ("hold_add", "legal", first.hold_id)
    assert actions[2] == ("hold_release", "legal", first.hold_id)
    assert len(actions) == 3


def test_the_purge_command_leaves_no_erased_body_on_disk(loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    from eur_pipeline.compliance.store import run_purge

    config = loaded(retention={"bodies_days": 30})  # every body is older than that today, in real time
    con = open_wh(config)
    holds.add_hold(con, C, "matter 9", date(2024, 2, 1), date(2024, 2, 29))
    con.close()
    report, _ = run_purge(config)
    assert (report.message_bodies_erased, report.record_bodies_erased) == (3, 6)  # T1 and T3; T2 is held
    data = stored_bytes(config)
    assert b"hello bob" not in data and b"brown fox jumps" not in data and b"quick question" not in data
    assert b"project apollo launch" in data
