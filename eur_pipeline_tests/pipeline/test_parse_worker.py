"""Parsing in a child process (large files) gives exactly what in-process parsing gives: the same
batches in order, the same rejects, the same quarantine reason — and a quarantined file loads nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.base import MESSAGE_RECORD_SCHEMA, ParseResult
from eur_pipeline.formats.registry import get_format
from eur_pipeline.pipeline import parse_worker
from eur_pipeline.pipeline.parse_worker import ParseWorkerError, parse_in_child, parser_for, use_worker
from eur_pipeline.warehouse.ledger import FileIdentity
from eur_pipeline.warehouse.loader import load_archive
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.conftest import archive_text, chat

CORPUS = Path(__file__).parent.parent / "corpus"
FILES = sorted([CORPUS / "seed_sample.xml", *(CORPUS / "hostile").iterdir()])
FORMAT = "avaya_presence_xml"


def outcome(batches: Iterator[pa.RecordBatch], result: ParseResult) -> tuple:
    got: list[pa.RecordBatch] = []
    try:
        got.extend(batches)
        error = None
    except QuarantineError as exc:
        error = str(exc)
    table = pa.Table.from_batches(got, schema=MESSAGE_RECORD_SCHEMA).combine_chunks()
    return table, result.rejects, result.record_count, error


def same(a: tuple, b: tuple) -> bool:
    return a[0].equals(b[0]) and a[1:] == b[1:]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_child_parse_equals_in_process(path: Path) -> None:
    local, child = ParseResult(), ParseResult()
    expected = outcome(get_format(FORMAT).parse(path, local), local)
    assert same(outcome(parse_in_child(FORMAT, path, child), child), expected)


def test_rejects_come_back(tmp_path: Path) -> None:
    records = []
    for i in range(1200):
        records += chat(f"t{i}", f"2024-01-0{1 + i % 9}T10:00:{i % 60:02d}Z", f"{i}@x.com", ["b@x.com"], f"m{i}")
    path = tmp_path / "a.xml"
    path.write_text(archive_text(records).replace("<timestamp>2024-01-05", "<timestamp>bad", 7))
    local, child = ParseResult(), ParseResult()
    expected = outcome(get_format(FORMAT).parse(path, local), local)
    assert same(outcome(parse_in_child(FORMAT, path, child), child), expected)
    assert len(expected[1]) == 7


def test_quarantine_mid_stream_rolls_back_the_whole_file(tmp_path: Path) -> None:
    # built a record at a time: a large string in this process would raise the peak RSS every later
    # subprocess of the session inherits (ru_maxrss carries over fork/exec)
    head, tail = archive_text([]).split("</messages>")[0], "</messages>\n"
    one = archive_text(chat("t", "2024-01-01T10:00:00Z", "a@x.com", ["b@x.com"], "hi"))[len(head) : -len(tail)]
    whole = tmp_path / "whole.xml"
    with open(whole, "w") as fh:
        fh.write(head)
        for _ in range(25_000):  # 50,000 records: several batches of the child's 10,000
            fh.write(one)
        fh.write(tail)
    local, child = ParseResult(), ParseResult()
    batches = list(parse_in_child(FORMAT, whole, child))
    assert len(batches) >= 3  # several batches, concatenated in file order
    got = outcome(iter(batches), child)
    assert same(got, outcome(get_format(FORMAT).parse(whole, local), local))
    path = tmp_path / "big.xml"
    path.write_bytes(whole.read_bytes()[:-200])
    con = open_warehouse(tmp_path / "wh.duckdb")
    ident = FileIdentity("s", "big.xml", path.stat().st_size, "ab" * 32, 0.0, FORMAT, str(path), datetime.now(UTC))
    out = load_archive(con, ident, lambda result: parse_in_child(FORMAT, path, result))
    assert out.status == "quarantined" and out.error
    assert con.execute("SELECT count(*) FROM message_records").fetchone() == (0,)
    assert con.execute("SELECT status FROM archive_files").fetchall() == [("quarantined",)]
    con.close()


def test_child_failure_is_an_error_not_a_partial_load() -> None:
    path = CORPUS / "seed_sample.xml"
    with pytest.raises(ParseWorkerError, match="child process failed"):
        list(parse_in_child("no_such_format", path, ParseResult()))


def test_size_threshold_and_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parse_worker.WORKERS_ENV, raising=False)
    monkeypatch.delenv(parse_worker.MIN_MB_ENV, raising=False)
    assert not use_worker(1_000_000) and use_worker(100_000_000)
    monkeypatch.setenv(parse_worker.WORKERS_ENV, "0")
    assert not use_worker(10**10)
    monkeypatch.setenv(parse_worker.WORKERS_ENV, "1")
    monkeypatch.setenv(parse_worker.MIN_MB_ENV, "0")
    assert use_worker(1)
    path = CORPUS / "seed_sample.xml"
    result = ParseResult()
    rows = [r for b in parser_for(FORMAT, path)(result) for r in b.to_pylist()]
    assert len(rows) == 4
