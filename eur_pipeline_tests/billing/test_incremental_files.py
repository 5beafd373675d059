"""Billing through the real pipeline: files loaded one by one bill exactly as when loaded together."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from eur_pipeline.billing import compute
from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.config import EurConfig
from eur_pipeline.demo.avaya_writer import ARCHIVE_HEAD, ARCHIVE_TAIL, render_record
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.warehouse.migrations import open_warehouse

from .helpers import jid, make_config

ALICE, BOB, CAROL, DAVE, ERIN, FRANK = (jid(n) for n in ("alice", "55510002", "carol", "dave", "erin", "frank"))

# (source folder, name, [(instant, thread, sender, recipients)]); "" = a record without threadId
FILES = [
    (
        "in",
        "f1.xml",
        [
            ("2024-03-30T10:00:00Z", "T1", ALICE, [BOB]),
            ("2024-03-30T10:01:00Z", "T1", BOB, [ALICE]),
            ("2024-03-30T11:00:00Z", "T2", CAROL, [ALICE, DAVE]),  # multi-party
            ("2024-03-31T12:00:00Z", "", ERIN, [FRANK]),
        ],
    ),
    (
        "in2",
        "f2.xml",
        [
            ("2024-04-02T09:00:00Z", "T1", BOB, [ALICE]),  # T1 continues in a later file and month, other source
            ("2024-04-02T09:30:00Z", "T2", DAVE, [ALICE, CAROL]),
            ("2024-04-03T10:00:00Z", "T3", DAVE, [CAROL]),
            ("2024-04-03T11:00:00Z", "", FRANK, [ERIN]),  # the same no-thread pair, a month later
        ],
    ),
    (
        "in",
        "f3.xml",
        [
            ("2024-03-15T08:00:00Z", "T3", CAROL, [DAVE]),  # T3 really started in March, by Carol
            ("2024-04-04T08:00:00Z", "T1", ALICE, [BOB]),
            ("2024-04-04T08:05:00Z", "", ERIN, [FRANK]),
        ],
    ),
]


def write(folder: Path, name: str, messages: list[tuple[str, str, str, list[str]]]) -> None:
    records = []
    for instant, thread, sender, recipients in messages:
        records.append(render_record("IN", instant, thread, sender, recipients[0], "hi"))
        records += [render_record("OUT", instant, thread, sender, r, "hi") for r in recipients]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(ARCHIVE_HEAD + "".join(records) + ARCHIVE_TAIL, encoding="utf-8")


def load(con: duckdb.DuckDBPyConnection, config: EurConfig, tmp_path: Path, files: list[int]) -> None:
    """Write these of FILES and run one pipeline pass over them."""
    for i in files:
        folder, name, messages = FILES[i]
        write(tmp_path / folder, name, messages)
    for source in config.sources:
        collect_source(con, config, source, now=time.time() + 3600)
    refresh_messages(con)
    refresh_conversations(con)
    refresh_billing(con, config)


def billed(tmp_path: Path, batches: list[list[int]]) -> tuple[list[tuple], list[tuple]]:
    """Load FILES in ``batches`` (a full pipeline pass per batch): the billing rows, then those
    of a full rebuild."""
    config = make_config(tmp_path)
    con = open_warehouse(config.warehouse)
    try:
        for batch in batches:
            load(con, config, tmp_path, batch)
        query = "SELECT * FROM billing ORDER BY period, user_jid"
        rows = con.execute(query).fetchall()
        refresh_billing(con, config, full=True)
        return rows, con.execute(query).fetchall()
    finally:
        con.close()


def test_files_one_by_one_bill_as_all_at_once(tmp_path: Path) -> None:
    together, rebuilt = billed(tmp_path / "together", [[0, 1, 2]])
    assert together == rebuilt
    one_by_one, rebuilt = billed(tmp_path / "one_by_one", [[0], [1], [2]])
    assert one_by_one == rebuilt == together
    columns = ("site", "messages_sent", "messages_received", "conversations", "conversations_started")
    con = open_warehouse(make_config(tmp_path / "together").warehouse)
    try:
        got = {
            (period.strftime("%Y-%m"), user.split("@")[0]): rest
            for period, user, *rest in con.execute(
                f"SELECT period, user_jid, {', '.join(columns)} FROM billing ORDER BY ALL"
            ).fetchall()
        }
    finally:
        con.close()
    lab, branch = "Corporation 1/Avaya IM", "Corporation 2/Branch"
    assert got == {
        ("2024-03", "alice"): [lab, 1, 2, 2, 1],
        ("2024-03", "55510002"): [lab, 1, 1, 1, 0],
        ("2024-03", "carol"): [lab, 2, 0, 2, 2],  # T2, and T3's earlier first message (file 3)
        ("2024-03", "dave"): [lab, 0, 2, 2, 0],
        ("2024-03", "erin"): [lab, 1, 0, 1, 1],  # no threadId: the pair is the thread
        ("2024-03", "frank"): [lab, 0, 1, 1, 0],
        ("2024-04", "alice"): [branch, 1, 2, 2, 0],  # 4 branch records vs 2 lab ones
        ("2024-04", "55510002"): [branch, 1, 1, 1, 0],  # 2 and 2: ties to "branch"
        ("2024-04", "carol"): [branch, 0, 2, 2, 0],
        ("2024-04", "dave"): [branch, 2, 0, 2, 0],
        ("2024-04", "erin"): [branch, 1, 1, 1, 0],  # 2 and 2: ties to "branch"
        ("2024-04", "frank"): [branch, 1, 1, 1, 0],
    }


def test_a_full_rebuild_in_passes_bills_as_one_pass(
    tmp_path: Path, warehouse_value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full rebuild runs a month at a time, a large month in several passes (memory under the writers'
    cap): any number of passes gives the same contributions and rows as one pass over everything."""
    config = make_config(tmp_path, warehouse=warehouse_value)
    con = open_warehouse(config.warehouse)
    tables = ("SELECT * FROM billing ORDER BY ALL", "SELECT * FROM billing_thread_periods ORDER BY ALL")
    try:
        load(con, config, tmp_path, list(range(len(FILES))))
        one_pass = [con.execute(q).fetchall() for q in tables]
        assert one_pass[0] and len(compute._rebuild_passes(con, "UTC")) == 1
        # 24 records, 11 messages and 4 conversations: March and April 2024, then 4, 10 and 39 passes
        for rows_per_pass, passes in ((30, 2), (10, 4), (4, 10), (1, 39)):
            monkeypatch.setattr(compute, "ROWS_PER_PASS", rows_per_pass)
            assert len(compute._rebuild_passes(con, "UTC")) == passes
            refresh_billing(con, config, full=True)
            assert [con.execute(q).fetchall() for q in tables] == one_pass, f"{passes} passes"
    finally:
        con.close()
