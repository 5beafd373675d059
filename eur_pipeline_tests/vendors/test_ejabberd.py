"""ejabberd mod_mam archive → the same tables as every vendor (hand-worked expectations).

The scenario (ejabberd_rows.first_run_rows), by hand:
  ids 1+2: alice→bob "hello" (thread th-1, origin-id o-1), in alice's and in bob's archive → 1 message.
  ids 3+4: bob→alice "hi", no origin-id, copies 200 ms apart → 1 message (no thread: the pair rule).
  id 5: carol in room lounge → 1 message with no recipient (the room is nobody), conversation
        ejabberd-room:lounge@conference.chat.example.com:2026-03-02.
  id 6: the MucSub copy of id 5 in alice's archive → not a message.
  id 7: a compress_xml row → rejected with its reason.
  id 8: dave@remote (another server) → alice: only alice's copy exists → 1 message.
  → 6 records, 1 reject, 4 messages, 4 conversations. Billing (0.01/sent, 0.05/started):
    alice 1 sent, 2 received, 3 conversations, 1 started = 0.06; bob 1/1/2/1 = 0.06;
    carol 1/0/1/1 = 0.06; dave 1/0/1/1 = 0.06.
"""

from __future__ import annotations

import pytest

from eur_pipeline_tests.reliability.conftest import core_run
from eur_pipeline_tests.vendors import ejabberd_rows as ej
from eur_pipeline_tests.vendors.conftest import load
from eur_pipeline_tests.vendors.helpers import billing, conversations, rows

pytestmark = pytest.mark.postgres

ALICE, BOB, CAROL = f"alice@{ej.HOST}", f"bob@{ej.HOST}", f"carol@{ej.HOST}"
DAVE = "dave@remote.example.org"
ROOM_THREAD = f"ejabberd-room:{ej.ROOM}:2026-03-02"


def source(db, **extra) -> dict:
    return {
        "name": "ejabberd-us",
        "kind": "ejabberd",
        "dsn": db.dsn,
        "host": ej.HOST,
        "site": "Corporation 3/ejabberd",
        **extra,
    }


EXPECTED_CONVERSATIONS = {
    "th-1": (1, [ALICE, BOB], ALICE, False),
    f"no-thread:{ALICE} {BOB}": (1, [ALICE, BOB], BOB, False),
    f"no-thread:{ALICE} {DAVE}": (1, [ALICE, DAVE], DAVE, False),
    ROOM_THREAD: (1, [CAROL], CAROL, False),
}
EXPECTED_BILLING = {
    ALICE: (1, 2, 3, 1, "0.0600"),
    BOB: (1, 1, 2, 1, "0.0600"),
    CAROL: (1, 0, 1, 1, "0.0600"),
    DAVE: (1, 0, 1, 1, "0.0600"),
}


@pytest.mark.parametrize("batch_rows", [50_000, 1], ids=["one-batch", "a-batch-per-row"])
def test_both_copies_fold_rooms_are_nobody_and_bad_rows_are_rejected(ejabberd_db, vendor_config, batch_rows) -> None:
    ej.first_run_rows(ejabberd_db)
    config = load(vendor_config([source(ejabberd_db, batch_rows=batch_rows)]))
    core_run(config)
    wh = config.warehouse
    assert rows(wh, "SELECT sum(record_count), sum(rejected_count) FROM archive_files WHERE format = 'ejabberd'") == [
        (6, 1)
    ]
    assert rows(wh, "SELECT direction, sender, recipient, body FROM message_records ORDER BY extra->>'id'") == [
        ("OUT", ALICE, BOB, "hello"),
        ("IN", ALICE, BOB, "hello"),
        ("OUT", BOB, ALICE, "hi"),
        ("IN", BOB, ALICE, "hi"),
        (None, CAROL, CAROL, "hi room"),
        ("IN", DAVE, ALICE, "yo"),
    ]
    assert rows(wh, "SELECT reason FROM rejected_records") == [
        ("xml is not XML (stored with mod_mam compress_xml?); cannot tell the sender",)
    ]
    assert rows(wh, "SELECT body, recipients, record_count FROM messages ORDER BY sent_at") == [
        ("hello", [BOB], 2),
        ("hi", [ALICE], 2),
        ("hi room", [], 1),
        ("yo", [ALICE], 1),
    ]
    assert conversations(wh) == EXPECTED_CONVERSATIONS
    assert billing(wh) == EXPECTED_BILLING
    assert not rows(wh, f"SELECT * FROM billing WHERE user_jid = '{ej.ROOM}'")


def test_next_run_reads_only_new_rows_and_continues_the_thread(ejabberd_db, vendor_config) -> None:
    ej.first_run_rows(ejabberd_db)
    config = load(vendor_config([source(ejabberd_db)]))
    core_run(config)
    (nothing,) = core_run(config)
    assert nothing.files == []
    ej.chat_both_copies(
        ejabberd_db, f"bob@{ej.HOST}/phone", ALICE, ej.T0 + 60 * ej.SEC, "thanks", "m9", thread="th-1", origin="o-9"
    )
    (report,) = core_run(config)
    assert [(f.name, f.records) for f in report.files] == [("archive id 9..10", 2)]
    assert conversations(config.warehouse)["th-1"] == (2, [ALICE, BOB], ALICE, False)
    assert billing(config.warehouse)[BOB] == (2, 1, 2, 1, "0.0700")
