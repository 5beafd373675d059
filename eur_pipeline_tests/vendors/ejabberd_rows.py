"""Realistic ejabberd mod_mam rows, as mod_mam_sql:store/… writes them: a 1:1 message is stored in
the sender's archive and in the recipient's (username = local part, peer = the other party, xml =
the stanza, txt = its body, origin_id = the XEP-0359 origin-id or ''), a room message once in the
room's archive (username = the room's JID, peer = the sender, nick = the sender's nickname)."""

from __future__ import annotations

from eur_pipeline_tests.vendors.conftest import UpstreamDb

HOST = "chat.example.com"
T0 = 1772442000_000000  # 2026-03-02 09:00:00 UTC, epoch microseconds (as `timestamp`)
SEC = 1_000_000
ROOM = "lounge@conference.chat.example.com"


def stanza(
    sender: str, to: str, body: str | None, msg_id: str, thread: str | None = None, origin: str | None = None
) -> str:
    parts = [f"<message xml:lang='en' to='{to}' from='{sender}' type='chat' id='{msg_id}' xmlns='jabber:client'>"]
    if origin:
        parts.append(f"<origin-id xmlns='urn:xmpp:sid:0' id='{origin}'/>")
    if body is not None:
        parts.append(f"<body>{body.replace('&', '&amp;').replace('<', '&lt;')}</body>")
    if thread:
        parts.append(f"<thread>{thread}</thread>")
    parts.append("</message>")
    return "".join(parts)


def row(
    db: UpstreamDb,
    username: str,
    ts: int,
    peer: str,
    xml: str,
    txt: str,
    kind: str = "chat",
    nick: str = "",
    origin_id: str = "",
) -> None:
    db.execute(
        "INSERT INTO archive (username, timestamp, peer, bare_peer, xml, txt, kind, nick, origin_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (username, ts, peer.lower(), peer.split("/")[0].lower(), xml, txt, kind, nick, origin_id),
    )


def chat_both_copies(
    db: UpstreamDb,
    sender: str,
    recipient: str,
    ts: int,
    body: str,
    msg_id: str,
    thread: str | None = None,
    origin: str | None = None,
    delay: int = 350,
) -> None:
    """The sender's copy, then the recipient's a moment later (the same stanza in both)."""
    xml = stanza(sender, recipient, body, msg_id, thread, origin)
    row(db, sender.split("@")[0], ts, recipient, xml, body, origin_id=origin or "")
    row(db, recipient.split("@")[0], ts + delay, sender, xml, body, origin_id=origin or "")


def first_run_rows(db: UpstreamDb) -> None:
    """The hand-worked scenario of test_ejabberd.py."""
    alice, bob = f"alice@{HOST}/laptop", f"bob@{HOST}/phone"
    chat_both_copies(db, alice, f"bob@{HOST}", T0, "hello", "m1", thread="th-1", origin="o-1")  # ids 1, 2
    chat_both_copies(db, bob, f"alice@{HOST}", T0 + 10 * SEC, "hi", "x2", delay=200_000)  # ids 3, 4: no origin-id
    # id 5: a room message, in the room's archive
    room_xml = (
        f"<message from='{ROOM}/carol' to='{ROOM}' type='groupchat' id='g1' xmlns='jabber:client'>"
        "<body>hi room</body></message>"
    )
    row(db, ROOM, T0 + 20 * SEC, f"carol@{HOST}/tab", room_xml, "hi room", kind="groupchat", nick="carol")
    # id 6: its MucSub copy in alice's archive (kind chat, from the room, empty txt)
    mucsub = (
        f"<message from='{ROOM}' to='alice@{HOST}' id='ms1' xmlns='jabber:client'>"
        "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:mucsub:nodes:messages'>"
        f"<item id='g1'><message from='{ROOM}/carol' type='groupchat'><body>hi room</body></message></item>"
        "</items></event></message>"
    )
    row(db, "alice", T0 + 20 * SEC + 10, ROOM, mucsub, "")
    # id 7: a row stored with compress_xml (mod_mam's binary encoding, not XML)
    row(db, "bob", T0 + 30 * SEC, f"alice@{HOST}", "\x01\x02\x05compressed", "secret text")
    # id 8: from a user of another server: only the recipient's copy exists
    xml = stanza("dave@remote.example.org/x", f"alice@{HOST}", "yo", "r1")
    row(db, "alice", T0 + 40 * SEC, "dave@remote.example.org/x", xml, "yo")
