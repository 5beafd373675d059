"""Avaya Aura Presence Services message archive XML (``<messages><message direction=..>...``).

Strict about what billing needs (timestamp, sender, recipient), tolerant of everything else:
unknown elements and attributes go to ``extra`` as JSON. Streamed with ``iterparse`` and
element clearing, so memory stays flat whatever the file size. DTDs, entities and the network
are refused.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from lxml import etree

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.archive import open_archive
from eur_pipeline.formats.base import MESSAGE_RECORD_SCHEMA, ParseResult

ROOT_TAG = "messages"
RECORD_TAG = "message"
KNOWN_FIELDS = frozenset({"timestamp", "threadId", "sender", "recipient", "body"})
RAW_LIMIT = 2000
MAX_ELEMENTS_PER_CHILD = 10_000  # a <message> has a handful of children; more is an attack or garbage
_RECOUNT_BYTES = 1 << 20  # count an open top-level element again after this much more input
MAX_TAGS_BEFORE_FIRST_RECORD = 1_000_000  # '<' bytes read before the first </message> (~100 MB of tree)
# Bytes read without a single '<': libxml2 keeps a text run in one node (up to 1 GB with huge_tree), so
# a flood of whitespace or text between or inside records would take that much memory. A message
# body is kilobytes (50 MB ones still load); 64 MiB of text without markup is a flood.
MAX_TEXT_RUN = 64 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecordRejected(ValueError):
    """One ``<message>`` cannot be used; the message is its reason."""


def parse_timestamp(text: str) -> int:
    """ISO-8601 with ``Z``/``±hh:mm`` (optional fraction) or the archiver's ``-UTC`` suffix → epoch µs."""
    value = text.strip()
    if value.endswith("-UTC"):
        value = value[:-4] + "+00:00"
    elif value.endswith(("z", " UTC")):
        value = value[:-1] + "+00:00" if value.endswith("z") else value[:-4] + "+00:00"
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise RecordRejected(f"unreadable timestamp {text.strip()[:64]!r}: not ISO-8601") from None
    if instant.tzinfo is None or "T" not in value.upper():
        raise RecordRejected(f"timestamp {text.strip()[:64]!r} is not ISO-8601 date-time with a UTC offset")
    return (instant - _EPOCH) // _ONE_MICROSECOND


_ONE_MICROSECOND = datetime.resolution


def split_jid(text: str | None) -> tuple[str, str | None]:
    """``' 56208@Presence.X/res '`` → (``'56208@presence.x'``, ``'res'``): bare, trimmed, lower-cased."""
    if text is None:
        return "", None
    value = text.strip()
    bare, sep, resource = value.partition("/")
    return bare.strip().lower(), (resource if sep else None)


def _local(tag: Any) -> str | None:
    if not isinstance(tag, str):
        return None  # comment or processing instruction
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


_FIELD_OF: dict[Any, str | None] = {}


def _field_of(tag: Any) -> str | None:
    """Local name of a child's tag, memoised in ``_FIELD_OF`` (archives use a handful of tags)."""
    name = _local(tag)
    if len(_FIELD_OF) < 1024:  # bounded: a hostile file cannot grow it without limit
        _FIELD_OF[tag] = name
    return name


class AvayaPresenceXmlFormat:
    """The built-in format plugin ``avaya_presence_xml``."""

    name: ClassVar[str] = "avaya_presence_xml"

    def parse(self, path: Path, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        if path.stat().st_size == 0:
            raise QuarantineError("file is empty (0 bytes)")
        with open_archive(path) as stream:
            yield from self._parse_stream(_Janitor(stream), result, batch_size)

    def split_point(self, path: Path, fraction: float) -> int | None:
        """The first ``<message`` tag start at or after ``fraction`` of a plain UTF-8 archive whose
        root is a bare ``<messages>`` (so the part after it parses alike under a synthetic root)."""
        size = path.stat().st_size
        with open(path, "rb") as raw:
            head = _PLAIN_HEAD.match(raw.read(4096))
            if head is None or (head["decl"] and not _UTF8_DECL.search(head["decl"])):
                return None
            raw.seek(max(int(size * fraction), head.end()))
            carry = b""
            while chunk := raw.read(1 << 20):
                data = carry + chunk
                found = _RECORD_START.search(data)
                if found:
                    return raw.tell() - len(data) + found.start()
                carry = data[-len(b"<message") :]
        return None

    def parse_range(
        self, path: Path, start: int, end: int, result: ParseResult, batch_size: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """Bytes ``[start, end)`` under the synthetic root: a cut that was not at a record boundary
        makes one of the parts fail to parse, so a wrong cut is never silently accepted."""
        with open(path, "rb") as raw:
            prefix = b"<messages>" if start > 0 else b""
            suffix = b"</messages>" if end < path.stat().st_size else b""
            stream = _ByteRange(raw, start, end, prefix, suffix)
            yield from self._parse_stream(_Janitor(stream), result, batch_size)

    def _parse_stream(self, stream: Any, result: ParseResult, batch_size: int) -> Iterator[pa.RecordBatch]:
        # Only ``end`` events of <message>: every extra event is a trip through the Python loop, which
        # is where the time goes. The document (root, DTD) is checked on the first record, or after
        # the loop when there is none.
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=(f"{{*}}{RECORD_TAG}", RECORD_TAG),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            dtd_validation=False,
            huge_tree=True,  # a single body may exceed libxml2's 10 MB text limit; depth stays bounded
            remove_comments=True,
            remove_pis=True,
        )
        columns = _Columns()
        append = columns.append
        record_no = 0
        root = None
        try:
            for _, element in context:
                if root is None:
                    self._check_document(element)
                    root = element.getroottree().getroot()
                    if isinstance(stream, _Janitor):
                        stream.root = root
                parent = element.getparent()
                if parent is not root:
                    continue  # only <message> elements directly under the root are records
                record_no += 1
                try:
                    append(record_no, element)
                except RecordRejected as exc:
                    raw = etree.tostring(element, encoding="unicode", with_tail=False)[:RAW_LIMIT]
                    result.rejects.append({"record_no": record_no, "reason": str(exc), "raw": raw})
                element.clear(keep_tail=False)
                while element.getprevious() is not None:
                    del parent[0]
                if len(columns.record_no) >= batch_size:
                    result.record_count += len(columns)
                    yield columns.to_batch()
                    columns = _Columns()
                    append = columns.append
        except etree.XMLSyntaxError as exc:
            raise QuarantineError(_syntax_reason(exc)) from None
        if root is None:
            reason = _no_record_reason(context)
            if reason:
                raise QuarantineError(reason)
        result.records_seen = record_no
        if len(columns):
            result.record_count += len(columns)
            yield columns.to_batch()

    @staticmethod
    def _check_document(element: etree._Element) -> None:
        check_document(element, ROOT_TAG)


def check_document(element: etree._Element, root_tag: str) -> None:
    """Refuse the document of ``element`` when it declares a DTD or its root is not ``root_tag``
    (shared by the XML formats: one place for the rule)."""
    tree = element.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise QuarantineError("the file declares a DTD (<!DOCTYPE>); DTDs and entities are refused for safety")
    root = tree.getroot()
    if _local(root.tag) != root_tag:
        raise QuarantineError(f"root element is <{_local(root.tag)}>, expected <{root_tag}>")


# A document head whose records can be parsed apart from it: optional BOM and XML declaration, then
# the bare root tag (no namespace or attribute the records could depend on).
_PLAIN_HEAD = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?P<decl><\?xml\s[^>]*\?>)?\s*<messages>")
_UTF8_DECL = re.compile(rb"\A<\?xml(?:(?!encoding)[^>])*(?:encoding\s*=\s*[\"']utf-?8[\"'][^>]*)?\?>\Z", re.IGNORECASE)
_RECORD_START = re.compile(rb"<message[\s>/]")


class _ByteRange:
    """``prefix``, bytes ``[start, end)`` of ``raw``, then ``suffix``, as one readable stream."""

    def __init__(self, raw: Any, start: int, end: int, prefix: bytes, suffix: bytes) -> None:
        raw.seek(start)
        self._raw, self._left, self._pending, self._suffix = raw, end - start, prefix, suffix

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        if self._left > 0:
            data = self._raw.read(self._left if size < 0 else min(size, self._left))
            self._left = self._left - len(data) if data else 0
            if data:
                return data
        data, self._suffix = self._suffix, b""
        return data


class _Janitor:
    """The stream iterparse reads from. lxml reads only once every event so far has been handled, so
    here every finished child of the root is garbage: drop it (unknown top-level elements would
    otherwise pile up in memory), and refuse an open top-level element that grows past
    ``MAX_ELEMENTS_PER_CHILD`` (checked once per MiB of input, so normal files pay nothing). Until
    the first record ends the root is unknown, so there the markup is bounded by counting ``<``.
    A run of more than ``MAX_TEXT_RUN`` bytes without any ``<`` is refused too: it is one text node."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.root: etree._Element | None = None
        self._open: etree._Element | None = None
        self._since_count = 0
        self._tags_before_root = 0
        self._text_run = 0  # bytes since the last '<'

    def read(self, size: int = -1) -> bytes:
        root = self.root
        last = root[-1] if root is not None and len(root) else None  # lxml: root[-1] is O(1), len() is not
        if last is not None:
            while (previous := last.getprevious()) is not None:
                root.remove(previous)  # type: ignore[union-attr]
            if last is not self._open:
                self._open, self._since_count = last, 0
            elif self._since_count >= _RECOUNT_BYTES:
                self._since_count = 0
                if sum(1 for _ in itertools.islice(last.iter(), MAX_ELEMENTS_PER_CHILD + 1)) > MAX_ELEMENTS_PER_CHILD:
                    raise QuarantineError(
                        f"a <{_local(last.tag)}> element holds more than {MAX_ELEMENTS_PER_CHILD:,} elements "
                        "(a <message> record has a handful); refusing the file"
                    )
        data = self._stream.read(size)
        self._since_count += len(data)
        last_tag = data.rfind(b"<")
        self._text_run = self._text_run + len(data) if last_tag < 0 else len(data) - last_tag - 1
        if self._text_run > MAX_TEXT_RUN:
            raise QuarantineError(
                f"more than {MAX_TEXT_RUN >> 20} MiB of text without any markup (a message body is kilobytes); "
                "refusing the file (corrupt, or built to exhaust memory)"
            )
        if self.root is None:
            self._tags_before_root += data.count(b"<")
            if self._tags_before_root > MAX_TAGS_BEFORE_FIRST_RECORD:
                raise QuarantineError(
                    f"no complete <{RECORD_TAG}> record within the first {MAX_TAGS_BEFORE_FIRST_RECORD:,} tags; "
                    "refusing the file (not a message archive, or built to exhaust memory)"
                )
        return data


def _no_record_reason(context: Any) -> str | None:
    """Why a document without any <message> is refused, or None for an empty ``<messages/>`` archive."""
    root = getattr(context, "root", None)
    if root is None:
        return "no XML root element found"
    if root.getroottree().docinfo.doctype:
        return "the file declares a DTD (<!DOCTYPE>); DTDs and entities are refused for safety"
    if _local(root.tag) != ROOT_TAG:
        return f"root element is <{_local(root.tag)}>, expected <{ROOT_TAG}>"
    return None


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    message = _POSITION_SUFFIX.sub("", (exc.msg or str(exc)).strip()).rstrip(".")
    line, column = exc.position if exc.position else (0, 0)
    fatal = exc.error_log.last_error if exc.error_log else None
    if fatal is not None and fatal.message:  # libxml2's own words are more precise than lxml's summary
        # first line only: libxml2 may append a piece of the file (e.g. an unfinished CDATA section)
        message, line, column = fatal.message.strip().splitlines()[0].rstrip("."), fatal.line, fatal.column
    where = f" at line {line}, column {column}" if line else ""
    lowered = message.lower()
    if "document is empty" in lowered or "start tag expected" in lowered:
        return f"not XML{where}: {message}"
    if "entity" in lowered or "doctype" in lowered:
        return f"refused entity or DTD{where}: {message}"
    return f"not well-formed XML (truncated or corrupt){where}: {message}"


_POSITION_SUFFIX = re.compile(r",\s*line \d+, column \d+$")


class _Columns:
    """Column buffers for one Arrow batch (appending to lists is the fastest pure-Python path)."""

    __slots__ = (
        "body",
        "direction",
        "extra",
        "last_ts",
        "last_us",
        "recipient",
        "recipient_resource",
        "record_no",
        "sender",
        "sender_resource",
        "sent_at",
        "thread_id",
    )

    def __init__(self) -> None:
        self.record_no: list[int] = []
        self.direction: list[str | None] = []
        self.sent_at: list[int] = []
        self.thread_id: list[str | None] = []
        self.sender: list[str] = []
        self.sender_resource: list[str | None] = []
        self.recipient: list[str] = []
        self.recipient_resource: list[str | None] = []
        self.body: list[str | None] = []
        self.extra: list[str | None] = []
        self.last_ts: str | None = None
        self.last_us = 0

    def __len__(self) -> int:
        return len(self.record_no)

    def append(self, record_no: int, element: etree._Element) -> None:
        """One record into the buffers; the common shape (five leaf children, one attribute) stays on
        a path of plain lookups — this runs once per record, so every call here counts."""
        timestamp = thread = sender = body = None
        recipients: list[str] = []
        extra: dict[str, Any] | None = None
        for child in element:
            tag = _FIELD_OF.get(child.tag)
            if tag is None:
                tag = _field_of(child.tag)
                if tag is None:
                    continue
            text = (child.text or "") if len(child) == 0 else "".join(child.itertext())
            if tag == "recipient":
                recipients.append(text)
            elif tag == "timestamp" and timestamp is None:
                timestamp = text
            elif tag == "sender" and sender is None:
                sender = text
            elif tag == "body" and body is None:
                body = text
            elif tag == "threadId" and thread is None:
                thread = text.strip() or None
            else:  # unknown elements, and repeats of known ones (the first wins; nothing is dropped)
                if extra is None:
                    extra = {}
                extra.setdefault(tag, []).append(text)
        direction = None
        for key, value in element.items():
            if key == "direction":
                direction = value.strip().upper() or None
            else:
                if extra is None:
                    extra = {}
                extra[f"@{_local(key)}"] = value

        if timestamp is None or not timestamp.strip():
            raise RecordRejected("missing <timestamp>")
        sender_bare, sender_res = split_jid(sender)
        if not sender_bare:
            raise RecordRejected("missing <sender>")
        recipient_bare, recipient_res = split_jid(recipients[0] if recipients else None)
        if not recipient_bare:
            raise RecordRejected("missing <recipient>")
        if timestamp == self.last_ts:
            micros = self.last_us
        else:
            micros = parse_timestamp(timestamp)
            self.last_ts, self.last_us = timestamp, micros
        if len(recipients) > 1:
            if extra is None:
                extra = {}
            extra["recipient"] = recipients[1:]

        self.record_no.append(record_no)
        self.direction.append(direction)
        self.sent_at.append(micros)
        self.thread_id.append(thread)
        self.sender.append(sender_bare)
        self.sender_resource.append(sender_res)
        self.recipient.append(recipient_bare)
        self.recipient_resource.append(recipient_res)
        self.body.append(body)
        self.extra.append(json.dumps(_flatten(extra), ensure_ascii=False) if extra else None)

    def to_batch(self) -> pa.RecordBatch:
        schema = MESSAGE_RECORD_SCHEMA
        return pa.RecordBatch.from_arrays(
            [
                pa.array(self.record_no, pa.int64()),
                pa.array(self.direction, pa.string()),
                pa.array(self.sent_at, pa.int64()).cast(schema.field("sent_at").type),
                pa.array(self.thread_id, pa.string()),
                pa.array(self.sender, pa.string()),
                pa.array(self.sender_resource, pa.string()),
                pa.array(self.recipient, pa.string()),
                pa.array(self.recipient_resource, pa.string()),
                pa.array(self.body, pa.string()),
                pa.array(self.extra, pa.string()),
            ],
            schema=schema,
        )


def _flatten(extra: dict[str, Any]) -> dict[str, Any]:
    """Single occurrences as plain values, repeated elements as lists."""
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 and k != "recipient" else v) for k, v in extra.items()}
