"""The pandera check of ``conversations``: every broken rule is reported with its row, however the
rows fall into chunks — a duplicated thread_id across a chunk boundary included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eur_pipeline.pipeline.validation import check_conversations
from eur_pipeline.warehouse.migrations import open_warehouse

T0 = datetime(2024, 1, 1, 10, tzinfo=UTC)


def conversation(thread: str, minutes: float = 1.0, participants: tuple[str, ...] = ("a@x", "b@x")) -> list:
    started, ended = T0, T0 + timedelta(minutes=minutes)
    return [thread, started, ended, minutes * 60, 2, len(participants), list(participants), participants[0],
            len(participants) > 2]  # fmt: skip


@pytest.fixture
def con(tmp_path: Path):
    con = open_warehouse(tmp_path / "wh.duckdb")
    yield con
    con.close()


def load(con, rows: list[list]) -> None:
    for row in rows:
        con.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        con.execute(
            "INSERT INTO pending_threads SELECT ?, 'billing' EXCEPT SELECT thread_id, stage FROM pending_threads",
            [row[0]],
        )


@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_valid_conversations_pass_in_any_chunking(con, chunk_rows: int) -> None:
    load(con, [conversation(f"t{i:02d}") for i in range(10)])
    checked, failures = check_conversations(con, chunk_rows=chunk_rows)
    assert checked == 10 and failures.empty


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_each_broken_rule_is_reported(con, chunk_rows: int) -> None:
    backwards = conversation("t03", minutes=-1.0)
    outsider = conversation("t05")
    outsider[7] = "z@x"  # initiator who is not a participant
    wrong_flag = conversation("t07", participants=("a@x", "b@x", "c@x"))
    wrong_flag[8] = False
    load(con, [conversation("t01"), conversation("t02"), conversation("t02"), backwards, outsider, wrong_flag])
    load(con, [conversation("t08")])
    con.execute("SELECT * FROM range(3)").fetchone()  # an unfinished result on the caller's connection
    checked, failures = check_conversations(con, chunk_rows=chunk_rows)
    assert checked == 7
    found = set(failures["check"].astype(str))
    assert any("unique" in c for c in found)  # t02 twice, whatever the chunk boundaries
    assert {"ended_at must not precede started_at", "the initiator must be a participant",
            "is_multiparty must be participant_count > 2"} <= found  # fmt: skip
    assert set(failures["failure_case"].astype(str)) >= {"t02"}


def test_only_the_conversations_queued_for_billing_are_checked(con) -> None:
    load(con, [conversation("t1")])
    con.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", conversation("old", minutes=-5))
    assert check_conversations(con)[0] == 1
