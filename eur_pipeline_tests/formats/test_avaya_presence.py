"""Every data rule of docs/design.md on small hand-written archives, plus a hypothesis round trip."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.avaya_presence import AvayaPresenceXmlFormat, parse_timestamp, split_jid
from eur_pipeline.formats.base import ParseResult
from eur_pipeline_tests.conftest import archive_text

FMT = AvayaPresenceXmlFormat()


def parse_file(path: Path) -> tuple[list[dict], ParseResult]:
    result = ParseResult()
    batches = list(FMT.parse(path, result, batch_size=3))
    rows = pa.Table.from_batches(batches).to_pylist() if batches else []
    return rows, result


def parse_text(tmp_path: Path, text: str | bytes, name: str = "a.xml") -> tuple[list[dict], ParseResult]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return parse_file(path)


def message(body_xml: str = "<body>x</body>", ts: str = "2017-06-02T14:57:28-UTC", **parts: str) -> str:
    sender = parts.get("sender", "<sender>a@x.com/r1</sender>")
    recipient = parts.get("recipient", "<recipient>b@x.com</recipient>")
    attrs = parts.get("attrs", ' direction="IN"')
    ts_xml = f"<timestamp>{ts}</timestamp>" if ts is not None else ""
    return f"<message{attrs}>{ts_xml}<threadId>T1</threadId>{sender}{recipient}{body_xml}</message>"


def doc(*messages: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n<messages>' + "".join(messages) + "</messages>"


def test_seed_sample_gives_four_records(seed_sample: Path) -> None:
    rows, result = parse_file(seed_sample)
    assert len(rows) == 4 and result.rejects == [] and result.record_count == 4
    first = rows[0]
    assert first["direction"] == "IN"
    assert first["sent_at"] == datetime(2017, 6, 2, 14, 57, 28, tzinfo=UTC)
    assert first["thread_id"] == "AF86488C-2C55-47B7-DA4F3D8"
    assert first["sender"] == "56208@presence.bvwdev.com"
    assert first["sender_resource"] == "19618f06-ab79-5bcb-9742-ae07213a6fdb"
    assert first["recipient"] == "56207@presence.bvwdev.com"
    assert first["body"] == "hi from 56208"
    assert [r["record_no"] for r in rows] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("body_xml", "expected"),
    [
        ("<body><![CDATA[  padded  ]]></body>", "  padded  "),
        ("<body>a &amp; b &lt;c&gt; &#x1F600; &#233;</body>", "a & b <c> 😀 é"),
        ("<body><![CDATA[a]]]]><![CDATA[>b]]></body>", "a]]>b"),
        ("<body>line1\nline2&#13;</body>", "line1\nline2\r"),
        ("<body/>", ""),
        ("<body></body>", ""),
        ("<body>mixed <![CDATA[<cdata>]]> text</body>", "mixed <cdata> text"),
    ],
)
def test_body_is_exact(tmp_path: Path, body_xml: str, expected: str) -> None:
    rows, _ = parse_text(tmp_path, doc(message(body_xml)))
    assert rows[0]["body"] == expected


def test_missing_body_is_null_not_rejected(tmp_path: Path) -> None:
    rows, result = parse_text(tmp_path, doc(message("")))
    assert rows[0]["body"] is None and not result.rejects


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-06-02T14:57:28-UTC", datetime(2017, 6, 2, 14, 57, 28, tzinfo=UTC)),
        ("2017-06-02T14:57:28Z", datetime(2017, 6, 2, 14, 57, 28, tzinfo=UTC)),
        ("2017-06-02T14:57:28.250Z", datetime(2017, 6, 2, 14, 57, 28, 250000, tzinfo=UTC)),
        ("2017-06-02T16:57:28+02:00", datetime(2017, 6, 2, 14, 57, 28, tzinfo=UTC)),
        ("2017-06-02T09:57:28.5-05:00", datetime(2017, 6, 2, 14, 57, 28, 500000, tzinfo=UTC)),
        (" 2017-06-02T14:57:28-UTC\n", datetime(2017, 6, 2, 14, 57, 28, tzinfo=UTC)),
    ],
)
def test_timestamp_variants(text: str, expected: datetime) -> None:
    micros = parse_timestamp(text)
    assert datetime.fromtimestamp(micros / 1e6, UTC) == expected


@pytest.mark.parametrize("text", ["2017-06-02T14:57:28", "2017-06-02", "yesterday", "2017-13-02T14:57:28Z", ""])
def test_unreadable_timestamps_reject_the_record(tmp_path: Path, text: str) -> None:
    rows, result = parse_text(tmp_path, doc(message(ts=text), message()))
    assert len(rows) == 1 and rows[0]["record_no"] == 2
    assert len(result.rejects) == 1 and result.rejects[0]["record_no"] == 1
    assert "timestamp" in result.rejects[0]["reason"]


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ({"ts": None}, "missing <timestamp>"),
        ({"sender": ""}, "missing <sender>"),
        ({"sender": "<sender>  </sender>"}, "missing <sender>"),
        ({"recipient": ""}, "missing <recipient>"),
    ],
)
def test_record_level_problems_reject_only_that_record(tmp_path: Path, parts: dict, reason: str) -> None:
    ts = parts.pop("ts", "2017-06-02T14:57:28-UTC")
    rows, result = parse_text(tmp_path, doc(message(), message(ts=ts, **parts), message()))
    assert [r["record_no"] for r in rows] == [1, 3]
    assert result.rejects[0]["record_no"] == 2 and result.rejects[0]["reason"] == reason
    assert "<message" in result.rejects[0]["raw"]


def test_jids_bare_trimmed_lowercase_with_resource_split() -> None:
    assert split_jid("  56208@Presence.BVWDEV.com/Res-ABC  ") == ("56208@presence.bvwdev.com", "Res-ABC")
    assert split_jid("a@b.c") == ("a@b.c", None)
    assert split_jid("a@b.c/x/y") == ("a@b.c", "x/y")


def test_unknown_elements_and_attributes_are_kept(tmp_path: Path) -> None:
    extra = '<fileTransfer name="x.pdf">x.pdf</fileTransfer><subject>s</subject>'
    rows, result = parse_text(tmp_path, doc(message("<body>b</body>" + extra, attrs=' direction="out" kind="chat"')))
    assert not result.rejects
    assert rows[0]["direction"] == "OUT"

    assert json.loads(rows[0]["extra"]) == {"fileTransfer": "x.pdf", "subject": "s", "@kind": "chat"}


def test_namespaced_archive_and_comments_are_tolerated(tmp_path: Path) -> None:
    text = '<m:messages xmlns:m="urn:x"><!-- c --><m:message><m:timestamp>2017-06-02T14:57:28Z</m:timestamp>'
    text += "<m:sender>a@b</m:sender><m:recipient>c@d</m:recipient><m:body>hi</m:body></m:message></m:messages>"
    rows, _ = parse_text(tmp_path, text)
    assert rows[0]["body"] == "hi" and rows[0]["sender"] == "a@b"


@pytest.mark.parametrize(
    ("content", "reason_part"),
    [
        (b"", "empty"),
        (b"   \n", "not XML"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not XML"),
        (doc(message()).encode()[:-30], "truncated"),
        (b"<messages><message><timestamp>x</message></messages>", "not well-formed"),
        (b"<archive><message/></archive>", "root element is <archive>"),
        (b'<!DOCTYPE messages SYSTEM "http://evil/x.dtd"><messages/>', "DTD"),
        (
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<messages><message><body>&x;</body></message></messages>",
            "DTD",
        ),
        (b"<messages><message><body>&undeclared;</body></message></messages>", "entity"),
        (b"\x1f\x8b\x08\x00garbage-not-gzip", "decompress"),
        (b"PK\x03\x04 broken zip", "zip"),
    ],
)
def test_file_level_problems_quarantine_the_file(tmp_path: Path, content: bytes, reason_part: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(QuarantineError) as exc:
        parse_file(path)
    message_text = str(exc.value)
    assert reason_part.lower() in message_text.lower()
    assert "\n" not in message_text


def test_gzip_and_zip_are_read_transparently(tmp_path: Path, seed_sample: Path) -> None:
    raw = seed_sample.read_bytes()
    (tmp_path / "a.xml.gz").write_bytes(gzip.compress(raw))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner.xml", raw)
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    plain, _ = parse_file(seed_sample)
    assert parse_file(tmp_path / "a.xml.gz")[0] == plain
    assert parse_file(tmp_path / "a.zip")[0] == plain


# XML 1.0 can carry every character except most C0 controls and surrogates (and U+FFFE/FFFF).
xml_chars = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(32) if c not in (9, 10, 13)] + ["\ufffe", "\uffff"],
)
bodies = st.text(alphabet=xml_chars, max_size=60) | st.sampled_from(["]]>", "a]]>b]]>", "\r\n", "😀𝄞", " "])
jids = st.from_regex(r"[a-z0-9]{1,8}@[a-z]{1,6}\.com", fullmatch=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(
        st.tuples(
            st.sampled_from(["IN", "OUT"]),
            st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
            st.from_regex(r"[A-F0-9-]{1,27}", fullmatch=True),
            jids,
            jids,
            bodies,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_round_trip_records_to_xml_and_back(tmp_path: Path, records: list) -> None:
    rendered = [
        (d, ts.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z", thread, s, r, body) for d, ts, thread, s, r, body in records
    ]
    rows, result = parse_text(tmp_path, archive_text(rendered), name="rt.xml")
    assert not result.rejects
    got = [(r["direction"], r["sent_at"], r["thread_id"], r["sender"], r["recipient"], r["body"]) for r in rows]
    assert got == [(d, ts, thread, s, r, body) for d, ts, thread, s, r, body in records]


def test_a_repeated_field_keeps_the_first_and_nothing_is_lost(tmp_path: Path) -> None:
    rows, result = parse_text(tmp_path, doc(message("<body>first</body><body>second</body>")))
    assert not result.rejects and rows[0]["body"] == "first"
    assert json.loads(rows[0]["extra"]) == {"body": "second"}
