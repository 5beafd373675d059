"""eDiscovery export: one RFC 5322 ``.eml`` per conversation, plus ``manifest.csv``.

Each file is the conversation's transcript in order (one entry per logical message: instant, sender,
recipients, then the body indented), UTF-8 (quoted-printable), with the participants in ``From``
(the initiator) and ``To`` (the others). ``manifest.csv`` lists ``file,thread_id,messages,sha256``.
Selections: one thread; a user's conversations in a range of UTC days (the messages of those
conversations within the range); or the conversations holding a search's matches. Audited.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import duckdb

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.at_rest import FILE_MODE, make_private_dir
from eur_pipeline.compliance.dates import check_range, day_after, day_start
from eur_pipeline.compliance.holds import bare_jid
from eur_pipeline.compliance.privacy import require_bodies
from eur_pipeline.compliance.search import matching_rows, normalise
from eur_pipeline.compliance.sql import first_row
from eur_pipeline.errors import ConfigError, UsageError

MANIFEST = "manifest.csv"
ERASED = "(body not stored: erased by retention)"
_EML_POLICY = policy.SMTP  # CRLF line ends, as RFC 5322 says


@dataclass(frozen=True)
class Selection:
    """Exactly one of: ``thread``; ``user`` with ``start`` and ``end``; ``query``."""

    thread: str | None = None
    user: str | None = None
    start: date | None = None
    end: date | None = None
    query: str | None = None

    def describe(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    conversations: int
    messages: int
    manifest_sha256: str


def _threads(con: duckdb.DuckDBPyConnection, sel: Selection, index_dir: Path | None) -> list[str]:
    if sel.thread is not None:
        found = con.execute("SELECT thread_id FROM conversations WHERE thread_id = ?", [sel.thread]).fetchall()
        if not found:
            raise UsageError(f"no conversation with thread id {sel.thread!r}")
        return [sel.thread]
    if sel.query is not None:
        if index_dir is None:
            raise ConfigError("--query needs the search index")
        rows = matching_rows(index_dir, normalise(sel.query, None, None, None))
        return sorted({r[1] for r in rows})
    assert sel.user is not None
    rows = con.execute(
        """SELECT DISTINCT thread_id FROM messages
           WHERE (sender = $u OR list_contains(recipients, $u)) AND sent_at >= $lo AND sent_at < $hi
           ORDER BY 1""",
        {"u": sel.user, "lo": day_start(sel.start), "hi": day_after(sel.end)},
    ).fetchall()
    return [r[0] for r in rows]


def _address(jid: str) -> Address:
    """A participant as an address (a JID is local@domain); one that is no valid address keeps its
    text as the display name."""
    try:
        return Address(addr_spec=jid)
    except (ValueError, IndexError):
        return Address(display_name=jid, addr_spec="undisclosed@invalid")


def _stamp(instant: datetime) -> str:
    fraction = f".{instant.microsecond:06d}" if instant.microsecond else ""
    return instant.strftime("%Y-%m-%d %H:%M:%S") + fraction + " UTC"


def transcript(messages: list[tuple]) -> str:
    """The conversation as text: a header line per message, its body lines indented by two spaces."""
    lines = []
    for _, _, sent_at, sender, recipients, body in messages:
        lines.append(f"[{_stamp(sent_at)}] {sender} to {', '.join(recipients)}:")
        text = ERASED if body is None else body
        lines.extend("  " + line for line in (text.splitlines() or [""]))
    return "\n".join(lines) + "\n"


def conversation_eml(thread_id: str, conversation: tuple, messages: list[tuple]) -> bytes:
    started_at, ended_at, participants, initiator = conversation
    msg = EmailMessage()
    msg["From"] = _address(initiator)
    msg["To"] = [_address(p) for p in participants if p != initiator] or [_address(initiator)]
    msg["Subject"] = f"IM conversation {thread_id}"
    msg["Date"] = format_datetime(started_at)
    msg["Message-ID"] = f"<{hashlib.sha256(thread_id.encode()).hexdigest()[:32]}@eur-pipeline.invalid>"
    msg["X-EUR-Thread-Id"] = thread_id
    msg["X-EUR-Participants"] = ", ".join(participants)
    msg["X-EUR-Messages"] = str(len(messages))
    msg["X-EUR-Ended"] = format_datetime(ended_at)
    msg.set_content(transcript(messages), charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=_EML_POLICY)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def validate_selection(sel: Selection) -> Selection:
    """Exactly one selection, dates checked, the user's JID bare: else a usage error."""
    chosen = [sel.thread is not None, sel.user is not None, sel.query is not None]
    if sum(chosen) != 1:
        raise ConfigError("choose exactly one of --thread ID, --user JID --from DATE --to DATE, --query Q")
    if sel.user is not None:
        if sel.start is None or sel.end is None:
            raise ConfigError("--user needs --from DATE and --to DATE")
        check_range(sel.start, sel.end)
        return Selection(user=bare_jid(sel.user), start=sel.start, end=sel.end)
    return sel


def export(
    con: duckdb.DuckDBPyConnection,
    sel: Selection,
    out_dir: Path,
    index_dir: Path | None = None,
    actor: str | None = None,
) -> ExportReport:
    """Write the export into ``out_dir`` (new or empty; owner-only), audited."""
    require_bodies(con, "export")
    sel = validate_selection(sel)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"--out {out_dir}: folder is not empty (an export goes into a new or empty folder)")
    threads = _threads(con, sel, index_dir)
    make_private_dir(out_dir)
    lo, hi = (day_start(sel.start), day_after(sel.end)) if sel.user else (None, None)
    manifest = [("file", "thread_id", "messages", "sha256")]
    total = 0
    for n, thread_id in enumerate(threads, 1):
        conversation = first_row(
            con.execute(
                "SELECT started_at, ended_at, participants, initiator FROM conversations WHERE thread_id = ?",
                [thread_id],
            )
        )
        messages = con.execute(
            """SELECT message_id, thread_id, sent_at, sender, recipients, body FROM messages
               WHERE thread_id = $t AND ($lo IS NULL OR sent_at >= $lo) AND ($hi IS NULL OR sent_at < $hi)
               ORDER BY sent_at, sender, message_id""",
            {"t": thread_id, "lo": lo, "hi": hi},
        ).fetchall()
        if conversation is None or not messages:
            continue  # records purged since the conversation was counted: nothing left to hand over
        data = conversation_eml(thread_id, conversation, messages)
        name = f"{n:06d}-{hashlib.sha256(thread_id.encode()).hexdigest()[:16]}.eml"
        _write_private(out_dir / name, data)
        manifest.append((name, thread_id, str(len(messages)), hashlib.sha256(data).hexdigest()))
        total += len(messages)
    text = _manifest_text(manifest)
    _write_private(out_dir / MANIFEST, text)
    digest = hashlib.sha256(text).hexdigest()
    audit.record(
        con,
        "export",
        {
            **sel.describe(),
            "out": str(out_dir),
            "conversations": len(manifest) - 1,
            "messages": total,
            "manifest_sha256": digest,
        },
        actor,
    )
    return ExportReport(out_dir, len(manifest) - 1, total, digest)


def _manifest_text(rows: list[tuple[str, ...]]) -> bytes:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
