"""Bounded fuzzing of the parser (hypothesis): mutated archives, random bytes and random gzip. The
only allowed outcomes are record batches (+ record rejects) or a QuarantineError."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.avaya_presence import AvayaPresenceXmlFormat
from eur_pipeline.formats.base import MESSAGE_RECORD_SCHEMA, ParseResult
from eur_pipeline_tests.conftest import CORPUS, archive_text, chat

SEED = (CORPUS / "seed_sample.xml").read_bytes()
HOSTILE = sorted((CORPUS / "hostile").iterdir())
VALID = archive_text(
    chat("T1", "2017-06-02T14:57:28-UTC", "56208@presence.x/r", ["56207@presence.x", "56209@presence.x"], "hi & <b>")
).encode()
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def parse_bytes(data: bytes, suffix: str = ".xml") -> None:
    """Parse ``data`` from a file; assert the outcome is one of the allowed ones."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        result = ParseResult()
        try:
            batches = list(AvayaPresenceXmlFormat().parse(path, result))
        except QuarantineError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        for batch in batches:
            assert batch.schema == MESSAGE_RECORD_SCHEMA
        assert sum(b.num_rows for b in batches) == result.record_count
        for reject in result.rejects:
            assert reject["reason"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real archive with a few byte-level edits: flips, deletions, insertions, truncation."""
    data = bytearray(draw(st.sampled_from([SEED, VALID, *(p.read_bytes() for p in HOSTILE[:8])])))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "markup"]))
        if action == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif action == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"<!DOCTYPE x>",
                        b"&amp;",
                        b"&bogus;",
                        b"<![CDATA[",
                        b"]]>",
                        b"</message>",
                        b"<message>",
                        b"<recipient/>",
                        b"\xff\xfe",
                        b"\x00",
                        b"<?xml version='1.0'?>",
                        b"&#0;",
                        b"&#x110000;",
                    ]
                )
            )
    return bytes(data)


@FUZZ
@given(mutated())
def test_fuzz_mutated_archives(data: bytes) -> None:
    parse_bytes(data)


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    parse_bytes(data)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(mutated(), st.booleans())
def test_fuzz_compressed(data: bytes, corrupt: bool) -> None:
    packed = bytearray(gzip.compress(data, mtime=0))
    if corrupt and len(packed) > 12:
        packed[len(packed) // 2] ^= 0x55
    parse_bytes(bytes(packed), ".xml.gz")


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["IN", "OUT", "in", "", "x"]),
            st.sampled_from(
                [
                    "2017-06-02T14:57:28-UTC",
                    "2017-06-02T14:57:28.5+02:00",
                    "2017-06-02",
                    "",
                    "now",
                    "9999-99-99T99:99:99Z",
                ]
            ),
            st.text(max_size=10),
            st.text(max_size=20),
            st.text(max_size=20),
            st.text(max_size=30),
        ),
        max_size=8,
    )
)
def test_fuzz_field_values(records: list) -> None:
    """Valid markup, arbitrary field text (escaped by the renderer): only records or rejects."""
    parse_bytes(archive_text(records).encode("utf-8", "surrogatepass"))
