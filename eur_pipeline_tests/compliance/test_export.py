"""eDiscovery export: the files parse with Python's ``email`` package, hold the transcript in order
(UTF-8), name the participants, and the manifest's digests match; audited; owner-only."""

from __future__ import annotations

import csv
import email
import hashlib
import stat
from collections.abc import Callable
from datetime import date
from email import policy
from pathlib import Path

import pytest

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.export import Selection, export
from eur_pipeline.config import EurConfig
from eur_pipeline.errors import ConfigError
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline_tests.compliance.conftest import A, B, C, D
from eur_pipeline_tests.conftest import archive_text, chat, drop

T2_TRANSCRIPT = (
    f"[2024-02-20 10:00:00 UTC] {A} to {B}, {C}:\n"
    "  project apollo launch\n"
    f"[2024-02-20 10:05:00 UTC] {C} to {A}, {B}:\n"
    "  the Apollo launch is delayed\n"
)


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def parsed(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def test_one_thread(tmp_path: Path, loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    con = open_wh(loaded())
    out = tmp_path / "export"
    report = export(con, Selection(thread="T2"), out, actor="counsel")
    (row,) = manifest(out)
    assert (row["thread_id"], row["messages"]) == ("T2", "2")
    data = (out / row["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert b"\r\n" in data  # RFC 5322 line ends
    msg = parsed(out / row["file"])
    assert msg["From"] == A
    assert msg["To"].addresses[0].addr_spec == B and [a.addr_spec for a in msg["To"].addresses] == [B, C]
    assert msg["X-EUR-Thread-Id"] == "T2"
    assert msg["Date"].datetime.isoformat() == "2024-02-20T10:00:00+00:00"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == T2_TRANSCRIPT
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o600}
    (entry,) = audit.entries(con, "export")
    assert entry["actor"] == "counsel"
    assert entry["detail"]["thread"] == "T2" and entry["detail"]["conversations"] == 1
    assert entry["detail"]["manifest_sha256"] == hashlib.sha256((out / "manifest.csv").read_bytes()).hexdigest()
    assert report.messages == 2


def test_a_users_conversations_in_a_range(tmp_path: Path, loaded: Callable[..., EurConfig], open_wh) -> None:
    config = loaded()
    con = open_wh(config)
    export(con, Selection(user=A, start=date(2024, 1, 1), end=date(2024, 2, 29)), tmp_path / "alice")
    assert [(r["thread_id"], r["messages"]) for r in manifest(tmp_path / "alice")] == [("T1", "2"), ("T2", "2")]
    export(con, Selection(user=D, start=date(2024, 1, 1), end=date(2024, 5, 24)), tmp_path / "dave-early")
    assert manifest(tmp_path / "dave-early") == []  # dave's only message is on May 25
    export(con, Selection(query="apollo"), tmp_path / "apollo", config.resolved_search_index)
    rows = manifest(tmp_path / "apollo")
    assert [(r["thread_id"], r["messages"]) for r in rows] == [("T2", "2")]
    assert parsed(tmp_path / "apollo" / rows[0]["file"]).get_content().replace("\r\n", "\n") == T2_TRANSCRIPT


def test_utf8_and_multiline_bodies(tmp_path: Path, loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    config = loaded()
    con = open_wh(config)
    body = "Grüße — 你好 ✓\nsecond line\n\n  indented ]]> end"
    drop(tmp_path / "incoming", "f4.xml", archive_text(chat("T4 ✓", "2024-05-30T08:00:00.250Z", D, [A], body)))
    collect_source(con, config, config.sources[0])
    refresh_messages(con)
    refresh_conversations(con)
    export(con, Selection(thread="T4 ✓"), tmp_path / "out")
    (row,) = manifest(tmp_path / "out")
    assert row["thread_id"] == "T4 ✓"
    msg = parsed(tmp_path / "out" / row["file"])
    assert msg["X-EUR-Thread-Id"] == "T4 ✓"
    assert msg.get_content().replace("\r\n", "\n") == (
        f"[2024-05-30 08:00:00.250000 UTC] {D} to {A}:\n  Grüße — 你好 ✓\n  second line\n  \n    indented ]]> end\n"
    )


def test_refusals(tmp_path: Path, loaded: Callable[..., EurConfig], open_wh: Callable) -> None:
    con = open_wh(loaded())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        export(con, Selection(thread="T2"), tmp_path / "full")
    with pytest.raises(ConfigError, match="exactly one"):
        export(con, Selection(thread="T2", query="apollo"), tmp_path / "a")
    with pytest.raises(ConfigError, match="--from DATE and --to DATE"):
        export(con, Selection(user=A, start=date(2024, 1, 1)), tmp_path / "b")
    with pytest.raises(Exception, match="no conversation with thread id 'nope'"):
        export(con, Selection(thread="nope"), tmp_path / "c")
    assert audit.entries(con, "export") == []
