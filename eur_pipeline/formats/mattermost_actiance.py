"""``mattermost_actiance_xml``: Mattermost's compliance export in Actiance XML.

An export is a zip holding ``actiance_export.xml`` (and the attachments); a bare ``.xml`` reads
too. ``FileDump/Conversation`` is one channel over the export window: ``RoomID``, ``StartTimeUTC``,
``ParticipantEntered`` (who was present, and since when), ``Message`` (``MessageId``,
``LoginName`` = the user's e-mail, ``DateTimeUTC`` epoch milliseconds, ``Content``), then
``ParticipantLeft`` and ``EndTimeUTC``. One ``Message`` is one post; its recipients are the
participants present at its instant, minus the sender (so presence needs the whole Conversation:
its leave events come after the messages). ``thread_id`` = ``mattermost:<RoomID>:<StartTimeUTC>``.

Edits, deletions and reactions export a post again (same ``MessageId``; the pre-edit text as an
``EditedOriginalMsg`` under a new id): a post counts once, by its id, here and across files (each
record carries ``extra.upstream_id``; the loader drops ids an earlier export already loaded).

Streamed with ``iterparse`` one Conversation at a time (each is cleared once read); DTDs and
entities are refused, the network is off; a bad file is quarantined with the reason, a bad
message is rejected with its reason.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import pyarrow as pa
from lxml import etree

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.archive import _BoundedReader, decompressed_limit
from eur_pipeline.formats.avaya_presence import _syntax_reason, check_document
from eur_pipeline.formats.base import MESSAGE_RECORD_SCHEMA, ParseResult

ROOT_TAG = "FileDump"
EXPORT_MEMBER = "actiance_export.xml"
SKIPPED_UPDATES = frozenset({"EditedOriginalMsg"})  # the pre-edit text, re-exported under a new id
MAX_MESSAGES_PER_CONVERSATION = 2_000_000
RAW_LIMIT = 500


class MattermostActianceFormat:
    name: ClassVar[str] = "mattermost_actiance_xml"
    upstream_ids: ClassVar[bool] = True  # records carry extra.upstream_id = the post id

    def parse(self, path: Path, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        if path.stat().st_size == 0:
            raise QuarantineError("file is empty (0 bytes)")
        with open_export(path) as stream:
            yield from self._parse(stream, result, batch_size)

    def _parse(self, stream: BinaryIO, result: ParseResult, batch_size: int) -> Iterator[pa.RecordBatch]:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=("{*}Conversation", "Conversation"),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
        )
        out = _Records()
        seen: set[str] = set()
        record_no = 0
        checked = False
        try:
            for _, conversation in context:
                if not checked:
                    _check_document(conversation)
                    checked = True
                record_no = _read_conversation(conversation, out, seen, result, record_no)
                conversation.clear(keep_tail=False)
                parent = conversation.getparent()
                while parent is not None and conversation.getprevious() is not None:
                    del parent[0]
                if len(out) >= batch_size:
                    result.record_count += len(out)
                    yield out.to_batch()
                    out = _Records()
        except etree.XMLSyntaxError as exc:
            raise QuarantineError(_syntax_reason(exc)) from None
        if not checked:
            root = getattr(context, "root", None)
            if root is None:
                raise QuarantineError("no XML root element found")
            _check_document(root)
        result.records_seen = record_no
        if len(out):
            result.record_count += len(out)
            yield out.to_batch()


@contextmanager
def open_export(path: Path) -> Iterator[BinaryIO]:
    """The export XML: the zip's ``actiance_export.xml`` member (decompression bounded), or the file."""
    limit = decompressed_limit(path.stat().st_size)
    with open(path, "rb") as raw:
        if raw.read(4) != b"PK\x03\x04":
            raw.seek(0)
            yield raw
            return
        raw.seek(0)
        try:
            archive = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as exc:
            raise QuarantineError(f"not a readable zip archive: {exc}") from None
        with archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
            member = next((n for n in names if n.rsplit("/", 1)[-1] == EXPORT_MEMBER), None)
            if member is None:
                xmls = [n for n in names if n.lower().endswith(".xml")]
                if len(xmls) != 1:
                    raise QuarantineError(f"zip archive holds no {EXPORT_MEMBER} (found {len(names)} files)")
                member = xmls[0]
            with archive.open(member) as data:
                yield io.BufferedReader(_BoundedReader(data, limit, f"zip member {member}"), 1 << 16)  # type: ignore[arg-type]


def _check_document(element: etree._Element) -> None:
    check_document(element, ROOT_TAG)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return "".join(child.itertext())
    return None


def _millis(text: str | None, what: str) -> int:
    if text is None or not text.strip():
        raise ValueError(f"missing <{what}>")
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"<{what}> {text.strip()[:40]!r} is not epoch milliseconds") from None


class _Presence:
    """Who is in the channel when: entered at or before the instant, not left before it."""

    def __init__(self) -> None:
        self.events: dict[str, list[tuple[int, int]]] = {}  # login → [(time, +1 enter / -1 leave)]

    def add(self, login: str, at: int, delta: int) -> None:
        self.events.setdefault(login, []).append((at, delta))

    def present(self, at: int) -> list[str]:
        found = []
        for login, events in self.events.items():
            entered = sum(1 for t, d in events if d > 0 and t <= at)
            left = sum(1 for t, d in events if d < 0 and t < at)
            if entered > left:
                found.append(login)
        return sorted(found)


def _read_conversation(
    conversation: etree._Element, out: _Records, seen: set[str], result: ParseResult, record_no: int
) -> int:
    room = (_text(conversation, "RoomID") or "").strip()
    start = (_text(conversation, "StartTimeUTC") or "").strip()
    presence = _Presence()
    posts: list[etree._Element] = []
    for child in conversation:
        tag = _local(child.tag)
        if tag in ("ParticipantEntered", "ParticipantLeft"):
            login = (_text(child, "LoginName") or "").strip().lower()
            try:
                at = _millis(_text(child, "DateTimeUTC"), "DateTimeUTC")
            except ValueError:
                continue  # a presence event without a time cannot place anyone
            if login:
                presence.add(login, at, 1 if tag == "ParticipantEntered" else -1)
        elif tag == "Message":
            posts.append(child)
            if len(posts) > MAX_MESSAGES_PER_CONVERSATION:
                raise QuarantineError(f"a <Conversation> holds more than {MAX_MESSAGES_PER_CONVERSATION:,} messages")
    thread = f"mattermost:{room}:{start}"
    for post in posts:
        record_no += 1
        post_id = (_text(post, "MessageId") or "").strip()
        try:
            if not room:
                raise ValueError("its <Conversation> has no <RoomID>")
            if (_text(post, "UpdatedType") or "").strip() in SKIPPED_UPDATES:
                continue
            if post_id and post_id in seen:
                continue  # the same post exported again (edit, reaction, deletion)
            sender = (_text(post, "LoginName") or "").strip().lower()
            if not sender:
                raise ValueError("missing <LoginName>")
            at = _millis(_text(post, "DateTimeUTC"), "DateTimeUTC")
            body = _text(post, "Content")
        except ValueError as exc:
            raw = json.dumps({"MessageId": post_id, "RoomID": room})[:RAW_LIMIT]
            result.rejects.append({"record_no": record_no, "reason": str(exc), "raw": raw})
            continue
        if post_id:
            seen.add(post_id)
        recipients = [r for r in presence.present(at) if r != sender] or [sender]
        extra = json.dumps({"upstream_id": post_id or None, "room": room})
        for recipient in recipients:
            out.append(record_no, at * 1000, thread, sender, recipient, body, extra)
    return record_no


class _Records:
    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {f.name: [] for f in MESSAGE_RECORD_SCHEMA}

    def __len__(self) -> int:
        return len(self.cols["record_no"])

    def append(
        self, record_no: int, sent_us: int, thread: str, sender: str, recipient: str, body: str | None, extra: str
    ) -> None:
        c = self.cols
        c["record_no"].append(record_no)
        c["direction"].append(None)
        c["sent_at"].append(sent_us)
        c["thread_id"].append(thread)
        c["sender"].append(sender)
        c["sender_resource"].append(None)
        c["recipient"].append(recipient)
        c["recipient_resource"].append(None)
        c["body"].append(body)
        c["extra"].append(extra)

    def to_batch(self) -> pa.RecordBatch:
        arrays = []
        for field in MESSAGE_RECORD_SCHEMA:
            values = self.cols[field.name]
            if field.name == "sent_at":
                arrays.append(pa.array(values, pa.int64()).cast(field.type))
            else:
                arrays.append(pa.array(values, field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=MESSAGE_RECORD_SCHEMA)
