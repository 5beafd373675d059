"""Realistic Openfire Monitoring plugin rows, written the way the plugin writes them
(ConversationManager / ConversationDAO): 1:1 rows carry bare JIDs with their resources; a room
message has toJID = the room and toJIDResource = the sender's nickname; a private message in a
room also names its recipient in isPMforJID, and with PMinPersonalArchive the same PM is written
again as a 1:1 message in a conversation of its own; participants' leftDate is set when they leave.
"""

from __future__ import annotations

from eur_pipeline_tests.vendors.conftest import UpstreamDb

T0 = 1772442000000  # 2026-03-02 09:00:00 UTC, epoch milliseconds (as sentDate)
SEC = 1000
ROOM = "dev@conference.example.com"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"


def conversation(db: UpstreamDb, cid: int, room: str | None, start: int) -> None:
    db.execute(
        "INSERT INTO ofConversation (conversationID, room, isExternal, startDate, lastActivity, messageCount) "
        "VALUES (%s, %s, 0, %s, %s, 0)",
        (cid, room, start, start),
    )


def participant(
    db: UpstreamDb, cid: int, jid: str, joined: int, left: int | None = None, nick: str | None = None
) -> None:
    bare, _, resource = jid.partition("/")
    db.execute(
        "INSERT INTO ofConParticipant (conversationID, joinedDate, leftDate, bareJID, jidResource, nickname) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (cid, joined, left, bare, resource or " ", nick),
    )


def message(
    db: UpstreamDb,
    mid: int | None,
    cid: int,
    sender: str,
    to: str,
    sent: int,
    body: str,
    pm_for: str | None = None,
) -> None:
    from_bare, _, from_res = sender.partition("/")
    to_bare, _, to_res = to.partition("/")
    stanza = f"<message from='{sender}' to='{to}' type='chat'><body>{body}</body></message>"
    db.execute(
        "INSERT INTO ofMessageArchive (messageID, conversationID, fromJID, fromJIDResource, toJID, toJIDResource, "
        "sentDate, body, stanza, isPMforJID) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (mid, cid, from_bare, from_res or None, to_bare, to_res or None, sent, body, stanza, pm_for),
    )


def first_run_rows(db: UpstreamDb) -> None:
    """The hand-worked scenario of test_openfire.py (see its docstring for the expected outcome)."""
    conversation(db, 1, None, T0 - 1)
    participant(db, 1, ALICE + "/laptop", T0 - 1)
    participant(db, 1, BOB + "/phone", T0 - 1)
    message(db, 1, 1, ALICE + "/laptop", BOB + "/phone", T0, "hi bob")
    message(db, 2, 1, BOB + "/phone", ALICE + "/laptop", T0 + 5 * SEC, "hi alice")
    # legacy row, written before the plugin numbered messages: no messageID
    message(db, None, 1, ALICE + "/laptop", BOB, T0 - 3600 * SEC, "legacy")

    conversation(db, 2, ROOM, T0 + 29 * SEC)
    participant(db, 2, ALICE + "/laptop", T0, nick="alice")
    participant(db, 2, BOB + "/phone", T0, left=T0 + 120 * SEC, nick="bob")
    participant(db, 2, CAROL + "/web", T0 + 60 * SEC, nick="carol")
    message(db, 3, 2, ALICE + "/laptop", ROOM + "/alice", T0 + 30 * SEC, "standup?")
    message(db, 4, 2, CAROL + "/web", ROOM + "/carol", T0 + 90 * SEC, "here")
    message(db, 5, 2, ALICE + "/laptop", ROOM + "/alice", T0 + 150 * SEC, "bye")
    # a private message in the room, and its PMinPersonalArchive copy as a 1:1 conversation
    message(db, 6, 2, ALICE + "/laptop", ROOM + "/alice", T0 + 160 * SEC, "psst", pm_for=CAROL)
    conversation(db, 3, None, T0 + 160 * SEC - 1)
    message(db, 7, 3, ALICE + "/laptop", CAROL + "/web", T0 + 160 * SEC, "psst")
