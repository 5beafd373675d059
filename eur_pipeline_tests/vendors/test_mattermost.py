"""Mattermost compliance export (Actiance XML) → the same tables (hand-worked expectations).

samples/actiance_day1.xml, by hand. Town square: alice and bob present from 09:00, carol from
09:10, bob leaves 09:28. p1 alice 09:05 → bob; p2 carol 09:15 → alice, bob; p3 bob 09:25 (edited
later: its EditedOriginalMsg copy and its EditedNewMsg re-export count nothing) → alice, carol;
p4 has no LoginName → rejected; p5 alice 09:40 → carol. Direct channel: d1 bob 09:01 → alice.
→ 7 records, 1 reject, 5 messages, 2 conversations; billing: alice 2 sent/3 received/2 conv/1 started
= 0.07; bob 2/2/2/1 = 0.07; carol 1/2/1/0 = 0.01.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from eur_pipeline_tests.conftest import drop
from eur_pipeline_tests.reliability.conftest import core_run
from eur_pipeline_tests.vendors.conftest import load
from eur_pipeline_tests.vendors.helpers import billing, conversations, rows

SAMPLES = Path(__file__).resolve().parent / "samples"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
SQUARE = "mattermost:public - town-square - ch1:1772442000000"
DIRECT = "mattermost:direct - abc__def - ch2:1772442000000"


def export_zip(xml: bytes, attachments: int = 1) -> bytes:
    """A zip as Mattermost writes it: actiance_export.xml plus the attachments' files."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("actiance_export.xml", xml)
        for i in range(attachments):
            z.writestr(f"data/2026/03/02/file{i}.png", b"\x89PNG not really")
    return out.getvalue()


def folder_source(path: Path) -> dict:
    return {
        "name": "mattermost-export",
        "kind": "local",
        "format": "mattermost_actiance_xml",
        "path": str(path),
        "pattern": "*.zip",
        "min_age_seconds": 0,
        "site": "Corporation 4/Mattermost",
    }


def test_an_export_zip_maps_onto_the_common_tables(tmp_path, vendor_config) -> None:
    incoming = tmp_path / "exports"
    incoming.mkdir()
    drop(incoming, "batch-1.zip", export_zip((SAMPLES / "actiance_day1.xml").read_bytes()))
    config = load(vendor_config([folder_source(incoming)]))
    core_run(config)
    wh = config.warehouse
    assert rows(wh, "SELECT status, record_count, rejected_count FROM archive_files") == [("parsed", 7, 1)]
    assert rows(wh, "SELECT reason FROM rejected_records") == [("missing <LoginName>",)]
    assert rows(wh, "SELECT sender, recipients, body FROM messages ORDER BY sent_at") == [
        (BOB, [ALICE], "lunch?"),
        (ALICE, [BOB], "morning & welcome"),
        (CAROL, [ALICE, BOB], "hi all"),
        (BOB, [ALICE, CAROL], "original"),
        (ALICE, [CAROL], "later"),
    ]
    assert conversations(wh) == {
        DIRECT: (1, [ALICE, BOB], BOB, False),
        SQUARE: (4, [ALICE, BOB, CAROL], ALICE, True),
    }
    assert billing(wh) == {
        ALICE: (2, 3, 2, 1, "0.0700"),
        BOB: (2, 2, 2, 1, "0.0700"),
        CAROL: (1, 2, 1, 0, "0.0100"),
    }


@pytest.mark.parametrize("bodies", ["keep", "hash", "drop"])
def test_a_post_re_exported_in_a_later_file_counts_once(tmp_path, vendor_config, bodies) -> None:
    incoming = tmp_path / "exports"
    incoming.mkdir()
    drop(incoming, "batch-1.zip", export_zip((SAMPLES / "actiance_day1.xml").read_bytes()))
    config = load(vendor_config([folder_source(incoming)], privacy={"bodies": bodies}))
    core_run(config)
    later = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<FileDump><Conversation Perspective="Town Square">'
        b"<RoomID>public - town-square - ch1</RoomID><StartTimeUTC>1772528400000</StartTimeUTC>"
        b"<ParticipantEntered><LoginName>alice@example.com</LoginName><DateTimeUTC>1772528400000</DateTimeUTC>"
        b"</ParticipantEntered><ParticipantEntered><LoginName>bob@example.com</LoginName>"
        b"<DateTimeUTC>1772528400000</DateTimeUTC></ParticipantEntered>"
        # p1 again (a reaction the next day), and one new post
        b"<Message><MessageId>p1</MessageId><LoginName>alice@example.com</LoginName><DateTimeUTC>1772442300000"
        b"</DateTimeUTC><UpdatedType>UpdatedNoMsgChange</UpdatedType><Content>morning &amp; welcome</Content></Message>"
        b"<Message><MessageId>p6</MessageId><LoginName>bob@example.com</LoginName><DateTimeUTC>1772529000000"
        b"</DateTimeUTC><Content>day two</Content></Message>"
        b"<EndTimeUTC>1772614799999</EndTimeUTC></Conversation></FileDump>"
    )
    drop(incoming, "batch-2.zip", export_zip(later, attachments=0))
    core_run(config)
    wh = config.warehouse
    assert rows(wh, "SELECT count(*) FROM messages WHERE sender = 'alice@example.com'") == [(2,)]  # p1 once, p5
    assert rows(wh, "SELECT record_count FROM archive_files ORDER BY name") == [(7,), (1,)]
    assert billing(wh)[BOB][0] == 3


def test_hostile_exports_are_quarantined_with_a_reason(tmp_path, vendor_config) -> None:
    incoming = tmp_path / "exports"
    incoming.mkdir()
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE FileDump [<!ENTITY x "boom">]>'
        b"<FileDump><Conversation>&x;</Conversation></FileDump>"
    )
    drop(incoming, "dtd.zip", export_zip(evil))
    drop(incoming, "truncated.zip", export_zip((SAMPLES / "actiance_day1.xml").read_bytes()[:900]))
    drop(incoming, "no-export.zip", _zip_without_export())
    config = load(vendor_config([folder_source(incoming)]))
    core_run(config)
    found = dict(rows(config.warehouse, "SELECT name, error FROM archive_files WHERE status = 'quarantined'"))
    assert "DTD" in found["dtd.zip"]
    assert "not well-formed" in found["truncated.zip"]
    assert "no actiance_export.xml" in found["no-export.zip"]
    assert rows(config.warehouse, "SELECT count(*) FROM message_records") == [(0,)]


def _zip_without_export() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.png", b"x")
        z.writestr("b.png", b"y")
    return out.getvalue()
