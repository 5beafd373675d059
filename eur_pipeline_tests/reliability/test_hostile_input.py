"""Hostile and broken input: each file ends in a clear quarantine reason or a correct load — never a
crash, a hang or a memory blow-up. Small cases are committed under ``corpus/hostile``; big ones are
generated here and parsed in a subprocess whose peak RSS (VmHWM) is asserted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.formats.archive import MIN_DECOMPRESSED_LIMIT
from eur_pipeline_tests.conftest import CORPUS, archive_text, chat, drop
from eur_pipeline_tests.reliability.conftest import core_run, read_only

HOSTILE = CORPUS / "hostile"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<messages>\n'
RECORD = (
    '<message direction="IN"><timestamp>2017-06-02T14:57:28Z</timestamp><threadId>T</threadId>'
    "<sender>a@x</sender><recipient>b@x</recipient><body>{}</body></message>\n"
)

# file → ("quarantined", words in the reason) or ("parsed", records, rejects)
EXPECTED: dict[str, tuple] = {
    "truncated.xml": ("quarantined", "not well-formed"),
    "empty.xml": ("not ready",),  # zero bytes: never ready (an upload may have just begun); stays put
    "binary.xml": ("quarantined", "not XML"),
    "not_xml.xml": ("quarantined", "not XML"),
    "html.xml": ("quarantined", "not well-formed"),
    "wrong_root.xml": ("quarantined", "root element is <conversations>"),
    "two_roots.xml": ("quarantined", "Extra content"),
    "trailing_garbage.xml": ("quarantined", "Extra content"),
    "latin1_declared.xml": ("parsed", 1, 0),
    "no_declaration.xml": ("parsed", 1, 0),
    "utf16_bom.xml": ("parsed", 1, 0),
    "declared_utf16_but_utf8.xml": ("quarantined", "not well-formed"),
    "unknown_encoding.xml": ("quarantined", "Unsupported encoding"),
    "invalid_utf8.xml": ("quarantined", "Invalid bytes in character encoding"),
    "xxe_file.xml": ("quarantined", "DTD"),
    "xxe_parameter.xml": ("quarantined", "DTD"),
    "external_dtd.xml": ("quarantined", "DTD"),
    "plain_doctype.xml": ("quarantined", "DTD"),
    "billion_laughs.xml": ("quarantined", "DTD"),
    "xinclude.xml": ("parsed", 1, 0),
    "mixed_rejects.xml": ("parsed", 1, 3),
    "gzip_ok.xml.gz": ("parsed", 1, 0),
    "gzip_truncated.xml.gz": ("quarantined", "cannot decompress"),
    "gzip_corrupt.xml.gz": ("quarantined", "cannot decompress"),
    "zip_two_members.zip": ("quarantined", "exactly one XML file"),
    "zip_not_really.zip": ("quarantined", "not a readable zip"),
    "zip_traversal_name.zip": ("parsed", 1, 0),
}
BODIES = {  # decoded exactly, whatever the declared encoding
    "latin1_declared.xml": "café",
    "no_declaration.xml": "Grüße 東京",
    "utf16_bom.xml": "Grüße 東京",
}


@pytest.fixture
def config(make_config: Callable[..., EurConfig]) -> EurConfig:
    return make_config(source={"pattern": "*"})


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(EXPECTED)


def test_every_hostile_file_is_quarantined_with_its_reason_or_loaded_correctly(config: EurConfig) -> None:
    incoming = Path(config.sources[0].options["path"])
    for path in HOSTILE.iterdir():
        drop(incoming, path.name, path.read_bytes())
    [report] = core_run(config)
    assert report.error is None and report.count("failed") == 0
    con = read_only(config.warehouse)
    try:
        ledger = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT name, status, error, record_count, rejected_count FROM archive_files"
            ).fetchall()
        }
        bodies = dict(
            con.execute("SELECT a.name, r.body FROM message_records r JOIN archive_files a USING (file_id)").fetchall()
        )
        everything = " ".join(str(v) for row in con.execute("SELECT * FROM message_records").fetchall() for v in row)
    finally:
        con.close()
    # gzip_ok and the traversal zip hold the same XML as other files → one of each content is a duplicate
    duplicates = {f.name for f in report.files if f.outcome == "duplicate"}
    for name, expected in EXPECTED.items():
        if name in duplicates:
            continue
        if expected[0] == "not ready":
            assert name not in ledger and (incoming / name).exists()
            continue
        status, error, records, rejects = ledger[name]
        if expected[0] == "quarantined":
            assert status == "quarantined", f"{name}: {status}"
            assert expected[1] in error and "\n" not in error, f"{name}: {error}"
            assert records == rejects == 0
        else:
            assert (status, records, rejects) == expected, f"{name}: {ledger[name]}"
    for name, body in BODIES.items():
        assert bodies[name] == body
    assert "root:" not in everything  # no external entity or XInclude was ever resolved
    assert not Path("/tmp/evil_traversal.xml").exists()  # a zip member name is never used as a path
    for path in HOSTILE.iterdir():  # every file, quarantined or not, kept in the landing backup
        assert (config.landing_dir / "drop" / path.name).exists() or path.name in duplicates | {"empty.xml"}


def test_an_empty_file_forced_through_the_parser_is_quarantined(tmp_path: Path) -> None:
    from eur_pipeline.errors import QuarantineError
    from eur_pipeline.formats.avaya_presence import AvayaPresenceXmlFormat
    from eur_pipeline.formats.base import ParseResult

    with pytest.raises(QuarantineError, match="empty"):
        list(AvayaPresenceXmlFormat().parse(HOSTILE / "empty.xml", ParseResult()))


def test_same_content_under_two_names_loads_once(config: EurConfig) -> None:
    incoming = Path(config.sources[0].options["path"])
    text = archive_text(chat("T1", "2017-06-02T14:57:28-UTC", "a@x", ["b@x"], "hi"))
    drop(incoming, "first.xml", text)
    drop(incoming, "second.xml", text)
    [report] = core_run(config)
    assert sorted(f.outcome for f in report.files) == ["duplicate", "parsed"]
    con = read_only(config.warehouse)
    try:
        assert con.execute("SELECT count(*) FROM archive_files").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM message_records").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM messages").fetchone() == (1,)
    finally:
        con.close()


def test_one_name_reuploaded_with_new_content_loads_both(config: EurConfig) -> None:
    incoming = Path(config.sources[0].options["path"])
    first = drop(incoming, "IMArchive.xml", archive_text(chat("T1", "2017-06-02T14:57:28-UTC", "a@x", ["b@x"], "one")))
    os.utime(first, (first.stat().st_atime - 600, first.stat().st_mtime - 600))  # uploaded 10 minutes ago
    core_run(config)
    drop(incoming, "IMArchive.xml", archive_text(chat("T1", "2017-06-02T14:58:00-UTC", "b@x", ["a@x"], "two")))
    [report] = core_run(config)
    assert [f.outcome for f in report.files] == ["parsed"]
    con = read_only(config.warehouse)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT sha256) FROM archive_files").fetchone() == (2, 2)
        assert con.execute("SELECT message_count FROM conversations").fetchall() == [(2,)]
        landed = sorted(p.name for p in (config.landing_dir / "drop").iterdir())
    finally:
        con.close()
    assert len(landed) == 2 and landed[0] == "IMArchive.xml"  # the first backup is never overwritten


# ---------------------------------------------------------------------------------------------
# Big inputs, generated at test time, parsed in a subprocess with RSS and time measured

PROBE = """
import json, sys, time
from pathlib import Path
from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.avaya_presence import AvayaPresenceXmlFormat
from eur_pipeline.formats.base import ParseResult
started, result, out = time.monotonic(), ParseResult(), {}
try:
    records = sum(b.num_rows for b in AvayaPresenceXmlFormat().parse(Path(sys.argv[1]), result))
    out = {"outcome": "parsed", "records": records, "rejects": len(result.rejects)}
except QuarantineError as exc:
    out = {"outcome": "quarantined", "error": str(exc)}
out["seconds"] = time.monotonic() - started
# VmHWM, not ru_maxrss: ru_maxrss survives fork+exec, so it would report the (large) pytest parent
hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
out["rss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""
MEMORY_CAP_BYTES = 3 << 30  # address-space cap for the probe: a blow-up fails instead of swapping the host


def probe(path: Path, timeout: float = 120) -> dict:
    """Parse ``path`` in a child process (bounded address space and time); returns outcome, seconds, rss_mb."""

    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))

    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
    )
    assert proc.returncode == 0, f"parser crashed on {path.name}: {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{path.name} ({path.stat().st_size:,} bytes): {out}")
    return out


def gzip_stream(path: Path, prefix: str, unit: str, total: int, suffix: str = "") -> Path:
    """A gzip file of ``prefix + unit * (total // len(unit)) + suffix``, written without holding it in memory."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = (unit * ((1 << 20) // len(unit) + 1))[: 1 << 20].encode()
    with open(path, "wb") as out:
        out.write(co.compress(prefix.encode()))
        for _ in range(total >> 20):
            out.write(co.compress(block))
        out.write(co.compress(suffix.encode()) + co.flush())
    return path


def test_50_mb_body_loads_exactly_with_bounded_memory(tmp_path: Path) -> None:
    body = "x" * 25_000_000 + "<>&\"'" + "é" * 12_500_000  # 50 MB of UTF-8
    path = tmp_path / "body50.xml"
    path.write_text(HEAD + RECORD.format("<![CDATA[" + body + "]]>") + "</messages>\n", encoding="utf-8")
    out = probe(path)
    assert out["outcome"] == "parsed" and out["records"] == 1
    assert out["rss_mb"] < 600 and out["seconds"] < 30


def test_100k_deep_nesting_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "deep.xml"
    path.write_text(HEAD + "<message>" + "<a>" * 100_000 + "</a>" * 100_000 + "</message></messages>")
    out = probe(path)
    assert out["outcome"] == "quarantined" and "depth" in out["error"]
    assert out["rss_mb"] < 300


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("flood_before_first_record.xml", HEAD + "<x/>" * 5_000_000 + RECORD.format("late") + "</messages>"),
        (
            "flood_between_records.xml",
            HEAD + RECORD.format("a") + "<x/>" * 5_000_000 + RECORD.format("b") + "</messages>",
        ),
        ("fat_record.xml", HEAD + RECORD.format("a") + "<message>" + "<x/>" * 2_000_000 + "</message></messages>"),
    ],
)
def test_element_floods_keep_memory_flat(tmp_path: Path, name: str, content: str) -> None:
    """Millions of elements a record never needs: freed as parsed, or the file refused — before the fix
    a 40 MB flood took 1.3 GB of RSS (and a 2 MB gzip of it, tens of GB)."""
    path = tmp_path / name
    path.write_text(content)
    out = probe(path)
    assert out["rss_mb"] < 300, out
    if name == "flood_between_records.xml":
        assert out["outcome"] == "parsed" and out["records"] == 2
    else:
        assert out["outcome"] == "quarantined"


@pytest.mark.parametrize("where", ["between_records", "in_a_body"])
def test_text_floods_are_refused_early(tmp_path: Path, where: str) -> None:
    """200 MB of markup-free text is one libxml2 text node: refused once it passes MAX_TEXT_RUN, not
    held whole (before: RSS grew with the flood, 369 MB for 300 MB of whitespace)."""
    path = tmp_path / f"{where}.xml"
    block = " " * (1 << 20)
    with open(path, "w") as out:
        out.write(HEAD + RECORD.format("a") + ("" if where == "between_records" else RECORD.format("")[:-18]))
        for _ in range(200):
            out.write(block)
        out.write("</messages>\n" if where == "between_records" else "</body></message></messages>\n")
    out = probe(path)
    assert out["outcome"] == "quarantined" and "without any markup" in out["error"], out
    assert out["rss_mb"] < 300, out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gzip-elements", "gzip-whitespace", "zip-whitespace-elements"])
def test_decompression_bombs(tmp_path: Path, kind: str) -> None:
    """~2 MB archives that decompress to 2 GiB: refused in bounded time and memory."""
    total = 2 << 30
    if kind == "gzip-elements":
        path = gzip_stream(tmp_path / "bomb.xml.gz", HEAD, "<x/>", total, "</messages>")
    elif kind == "gzip-whitespace":
        path = gzip_stream(tmp_path / "bomb.xml.gz", HEAD + RECORD.format("a"), " ", total, "</messages>")
    else:  # a record, then 1 MB runs of whitespace between empty elements: fast to parse, freed as read
        buffer = io.BytesIO()
        with (
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
            archive.open("bomb.xml", "w", force_zip64=True) as entry,
        ):
            chunk = (" " * ((1 << 20) - 4) + "<x/>").encode()
            entry.write((HEAD + RECORD.format("a")).encode())
            for _ in range((5 << 30) // 4 // len(chunk)):  # 1.25 GiB
                entry.write(chunk)
        path = tmp_path / "bomb.zip"
        path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 16 << 20
    out = probe(path, timeout=240)
    assert out["outcome"] == "quarantined"
    words = ("decompression bomb limit", "Text node too long", "first 1,000,000 tags", "without any markup")
    assert any(w in out["error"] for w in words)
    # bounded by the decompressed-size limit (1 GiB of text at most), never by the bomb's 2 GiB
    assert out["rss_mb"] < 1.5 * MIN_DECOMPRESSED_LIMIT / (1 << 20)
    if kind == "gzip-whitespace":  # one text run: refused at MAX_TEXT_RUN (it peaked at 1.0 GB before)
        assert "without any markup" in out["error"] and out["rss_mb"] < 300, out
