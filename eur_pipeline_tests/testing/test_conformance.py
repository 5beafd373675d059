"""The conformance kit on every built-in format's samples (what a third-party plugin runs on its own)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from eur_pipeline.formats.base import DIGEST_COLUMN
from eur_pipeline.sources.database import canonical_zip
from eur_pipeline.testing.conformance import assert_conformant, batch_schema_problems, check_format, parse_batches
from eur_pipeline_tests.conftest import CORPUS

VENDOR_SAMPLES = Path(__file__).resolve().parents[1] / "vendors" / "samples"
I64 = pa.int64()


def openfire_batch(path: Path) -> Path:
    """A canonical batch as ``kind: openfire`` writes it: a 1:1 message and a room message."""
    messages = pa.table(
        {
            "messageid": pa.array([1, 2], I64),
            "conversationid": pa.array([1, 2], I64),
            "fromjid": ["alice@example.com", "bob@example.com"],
            "fromjidresource": ["laptop", None],
            "tojid": ["bob@example.com", "dev@conference.example.com"],
            "tojidresource": [None, "bob"],
            "sentdate": pa.array([1772442000000, 1772442060000], I64),
            "body": ["hi", "hello room"],
            "ispmforjid": pa.array([None, None], pa.string()),
        }
    )
    conversations = pa.table(
        {
            "conversationid": pa.array([1, 2], I64),
            "room": [None, "dev@conference.example.com"],
            "isexternal": pa.array([0, 0], I64),
            "startdate": pa.array([1772441999999, 1772442059999], I64),
            "lastactivity": pa.array([1772442000000, 1772442060000], I64),
        }
    )
    participants = pa.table(
        {
            "conversationid": pa.array([2, 2], I64),
            "joineddate": pa.array([1772442000000, 1772442000000], I64),
            "leftdate": pa.array([None, None], I64),
            "barejid": ["alice@example.com", "bob@example.com"],
            "jidresource": ["laptop", "phone"],
            "nickname": ["alice", "bob"],
        }
    )
    unit = b'{"first": 1, "kind": "openfire", "last": 2, "table": "ofMessageArchive"}'
    path.write_bytes(
        canonical_zip(
            [
                ("ofMessageArchive", messages),
                ("ofConversation", conversations),
                ("ofConParticipant", participants),
                ("unit.json", unit),
            ]
        )
    )
    return path


def ejabberd_batch(path: Path) -> Path:
    xml = (
        "<message from='alice@chat.example.com/l' to='bob@chat.example.com' type='chat' id='a1'>"
        "<body>hi</body></message>"
    )
    archive = pa.table(
        {
            "id": pa.array([1, 2], I64),
            "username": ["alice", "bob"],
            "timestamp": pa.array([1772442000000000, 1772442000000300], I64),
            "peer": ["bob@chat.example.com", "alice@chat.example.com/l"],
            "bare_peer": ["bob@chat.example.com", "alice@chat.example.com"],
            "xml": [xml, xml],
            "txt": ["hi", "hi"],
            "kind": ["chat", "chat"],
            "nick": ["", ""],
            "origin_id": ["", ""],
        }
    )
    unit = b'{"first": 1, "host": "chat.example.com", "kind": "ejabberd", "last": 2, "table": "archive"}'
    path.write_bytes(canonical_zip([("archive", archive), ("context", archive.slice(0, 0)), ("unit.json", unit)]))
    return path


def mattermost_zip(path: Path) -> Path:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("actiance_export.xml", (VENDOR_SAMPLES / "actiance_day1.xml").read_bytes())
        z.writestr("data/file.png", b"png")
    path.write_bytes(out.getvalue())
    return path


@pytest.mark.parametrize(
    ("format_name", "make"),
    [
        ("avaya_presence_xml", lambda tmp: CORPUS / "seed_sample.xml"),
        ("mattermost_actiance_xml", lambda tmp: VENDOR_SAMPLES / "actiance_day1.xml"),
        ("mattermost_actiance_xml", lambda tmp: mattermost_zip(tmp / "export.zip")),
        ("openfire", lambda tmp: openfire_batch(tmp / "batch.zip")),
        ("ejabberd", lambda tmp: ejabberd_batch(tmp / "batch.zip")),
    ],
    ids=["avaya", "mattermost-xml", "mattermost-zip", "openfire-batch", "ejabberd-batch"],
)
def test_every_built_in_format_is_conformant(tmp_path, format_name, make) -> None:
    assert_conformant(check_format(format_name, [make(tmp_path)]))


def test_the_kit_reports_a_sample_that_does_not_parse(tmp_path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<messages><message>", encoding="utf-8")
    problems = check_format("avaya_presence_xml", [bad])
    assert problems and "a sample must parse, it was quarantined" in problems[0]
    with pytest.raises(AssertionError, match="conformance problem"):
        assert_conformant(problems)


def test_a_digest_column_must_be_the_bodys_sha256(tmp_path: Path) -> None:
    batches, _ = parse_batches("openfire", openfire_batch(tmp_path / "batch.zip"))
    assert batches and all(DIGEST_COLUMN in b.schema.names for b in batches)
    assert batch_schema_problems("batch.zip", batches) == []
    wrong = batches[0].set_column(len(batches[0].schema) - 1, DIGEST_COLUMN, pa.array(["0" * 64] * batches[0].num_rows))
    assert batch_schema_problems("batch.zip", [wrong]) == [f"batch.zip: {DIGEST_COLUMN} is not the body's sha256"]
