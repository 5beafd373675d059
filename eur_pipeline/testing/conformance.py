"""Conformance checks any format or source plugin can run on its own samples.

``check_format(name, samples)`` — for each sample file:

* **round trip**: it parses into batches of exactly ``MESSAGE_RECORD_SCHEMA`` (optionally followed
  by ``DIGEST_COLUMN``, which must then be each body's hex sha256); JIDs are bare,
  trimmed and lower-cased; every reject has a reason; parsing it again gives the same records and
  rejects; loaded through the real loader, ``message_records`` holds exactly what was parsed and
  the ledger's counts agree;
* **hostile inputs** derived from it (empty, truncated, binary garbage, and for XML a DTD with an
  entity): each is quarantined with a one-line reason, never an unexpected exception;
* **idempotence**: collected from a folder twice, and again under another name, the warehouse
  loads it once (the second and third time are duplicates) and no table changes.

``check_source(config)`` — lists, fetches every unit twice: sizes and sha256 match the bytes, and
the same unit gives the same bytes (content identity is what makes reruns exactly-once).

Both return a list of problems (empty = conformant); ``assert_conformant`` raises with all of them.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from eur_pipeline.config import SourceConfig, load_config
from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.base import DIGEST_COLUMN, MESSAGE_RECORD_SCHEMA, ParseResult
from eur_pipeline.formats.registry import get_format

TABLES = ("archive_files", "message_records", "rejected_records", "messages", "conversations", "billing")


def parse_batches(format_name: str, path: Path) -> tuple[list[pa.RecordBatch], list[dict[str, Any]]]:
    """The batches exactly as the format yields them, and its rejects."""
    result = ParseResult()
    return list(get_format(format_name).parse(path, result, batch_size=1000)), result.rejects


def parse_all(format_name: str, path: Path) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The parsed records as one table of ``MESSAGE_RECORD_SCHEMA`` (a digest column dropped), and the rejects."""
    batches, rejects = parse_batches(format_name, path)
    records = [
        pa.RecordBatch.from_arrays(b.columns[: len(MESSAGE_RECORD_SCHEMA)], schema=MESSAGE_RECORD_SCHEMA)
        for b in batches
    ]
    table = (
        pa.Table.from_batches(records, schema=MESSAGE_RECORD_SCHEMA) if records else MESSAGE_RECORD_SCHEMA.empty_table()
    )
    return table, rejects


def batch_schema_problems(where: str, batches: list[pa.RecordBatch]) -> list[str]:
    """Each batch is of the record schema, or of it plus a digest column that is each body's sha256."""
    digested = MESSAGE_RECORD_SCHEMA.append(pa.field(DIGEST_COLUMN, pa.string()))
    for batch in batches:
        if batch.schema == digested:
            bodies, digests = batch.column("body").to_pylist(), batch.column(DIGEST_COLUMN).to_pylist()
            for body, digest in zip(bodies, digests, strict=True):
                if digest != (None if body is None else hashlib.sha256(body.encode()).hexdigest()):
                    return [f"{where}: {DIGEST_COLUMN} is not the body's sha256"]
        elif batch.schema != MESSAGE_RECORD_SCHEMA:
            return [f"{where}: batch schema differs from MESSAGE_RECORD_SCHEMA"]
    return []


def _round_trip(format_name: str, sample: Path, work: Path) -> list[str]:
    where = sample.name
    try:
        batches, _ = parse_batches(format_name, sample)
        table, rejects = parse_all(format_name, sample)
    except QuarantineError as exc:
        return [f"{where}: a sample must parse, it was quarantined: {exc}"]
    problems = batch_schema_problems(where, batches)
    for column in ("sender", "recipient"):
        for jid in table.column(column).to_pylist():
            if not jid or jid != jid.strip().lower() or "/" in jid:
                problems.append(f"{where}: {column} {jid!r} is not a bare, trimmed, lower-case JID")
                break
    if table.column("sent_at").null_count:
        problems.append(f"{where}: records without sent_at")
    problems += [f"{where}: reject without a reason: {r}" for r in rejects if not r.get("reason")]
    again, again_rejects = parse_all(format_name, sample)
    if not again.equals(table) or again_rejects != rejects:
        problems.append(f"{where}: parsing twice gives different records or rejects")
    config = _folder_config(work / "round-trip", format_name, [sample])
    report = _collect(config)
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        stored = con.execute("SELECT count(*) FROM message_records").fetchone()[0]  # type: ignore[index]
        ledger = con.execute("SELECT status, record_count, rejected_count FROM archive_files").fetchall()
    finally:
        con.close()
    upstream_ids = bool(getattr(get_format(format_name), "upstream_ids", False))
    if not upstream_ids and stored != table.num_rows:
        problems.append(f"{where}: parsed {table.num_rows} records, the warehouse holds {stored}")
    if ledger != [("parsed", stored, len(rejects))]:
        problems.append(f"{where}: ledger row {ledger} does not match {stored} records / {len(rejects)} rejects")
    if report:
        problems.append(f"{where}: {report}")
    return problems


def hostile_variants(sample: Path, out: Path) -> dict[str, Path]:
    """Files derived from a good sample that a format must quarantine."""
    data = sample.read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    variants = {
        "empty": b"",
        "truncated": data[: max(1, len(data) // 2)],
        "garbage": bytes(range(256)) * 64,
    }
    head = data.lstrip()[:200]
    if head.startswith(b"<"):
        decl_end = data.find(b"?>") + 2 if head.startswith(b"<?xml") else 0
        doctype = b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        variants["dtd"] = data[:decl_end] + doctype + data[decl_end:]
    paths = {}
    for name, content in variants.items():
        path = out / f"{name}{sample.suffix}"
        path.write_bytes(content)
        paths[name] = path
    return paths


def _hostile(format_name: str, sample: Path, work: Path) -> list[str]:
    problems = []
    for name, path in hostile_variants(sample, work / "hostile" / sample.stem).items():
        try:
            parse_all(format_name, path)
        except QuarantineError as exc:
            reason = str(exc)
            if not reason or "\n" in reason:
                problems.append(f"{sample.name} ({name}): the quarantine reason must be one line: {reason!r}")
            continue
        except Exception as exc:
            problems.append(f"{sample.name} ({name}): raised {type(exc).__name__} instead of QuarantineError: {exc}")
            continue
        problems.append(f"{sample.name} ({name}): was accepted; a hostile or broken file must be quarantined")
    return problems


def _idempotence(format_name: str, sample: Path, work: Path) -> list[str]:
    config = _folder_config(work / "idempotence", format_name, [sample])
    _collect(config)
    first = _tables(config.warehouse)
    _collect(config)
    shutil.copyfile(sample, Path(config.sources[0].options["path"]) / f"renamed-{sample.name}")
    _collect(config)
    problems = []
    if _tables(config.warehouse) != first:
        problems.append(f"{sample.name}: collecting it again (or under another name) changed the warehouse")
    return problems


def check_format(format_name: str, samples: Iterable[Path]) -> list[str]:
    problems: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="eur-conformance-"))
    try:
        for i, sample in enumerate(samples):
            here = work / str(i)
            problems += _round_trip(format_name, sample, here)
            problems += _hostile(format_name, sample, here)
            problems += _idempotence(format_name, sample, here)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return problems


def check_source(config: SourceConfig, max_units: int = 3) -> list[str]:
    from eur_pipeline.sources.registry import open_source

    problems: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="eur-conformance-source-"))
    try:
        with open_source(config) as src:
            units = src.list_files()[:max_units]
            for unit in units:
                digests = []
                for attempt in range(2):
                    fetched = src.fetch(unit, work / f"{attempt}-{hashlib.sha1(unit.name.encode()).hexdigest()}")
                    data = fetched.path.read_bytes()
                    if len(data) != fetched.size or hashlib.sha256(data).hexdigest() != fetched.sha256:
                        problems.append(f"{unit.name}: size or sha256 reported for the fetch do not match its bytes")
                    digests.append(fetched.sha256)
                if digests[0] != digests[1]:
                    problems.append(f"{unit.name}: fetching it twice gave different bytes (content identity breaks)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return problems


def assert_conformant(problems: list[str]) -> None:
    if problems:
        raise AssertionError(f"{len(problems)} conformance problem(s):\n" + "\n".join(f"- {p}" for p in problems))


def _folder_config(base: Path, format_name: str, samples: list[Path]) -> Any:
    incoming = base / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    for sample in samples:
        shutil.copyfile(sample, incoming / sample.name)
    raw = {
        "warehouse": str(base / "wh.duckdb"),
        "landing_dir": str(base / "landing"),
        "sources": [
            {
                "name": "conformance",
                "kind": "local",
                "format": format_name,
                "path": str(incoming),
                "pattern": "*",
                "min_age_seconds": 0,
            }
        ],
    }
    path = base / "eur.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(path)


def _collect(config: Any) -> str | None:
    from eur_pipeline.billing.compute import refresh_billing
    from eur_pipeline.pipeline.collect import collect_source
    from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
    from eur_pipeline.warehouse.migrations import open_warehouse

    con = open_warehouse(config.warehouse)
    try:
        report = collect_source(con, config, config.sources[0])
        refresh_messages(con)
        refresh_conversations(con)
        refresh_billing(con, config)
    finally:
        con.close()
    return report.error


def _tables(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        out = {}
        for table in TABLES:
            columns = [c for c in con.table(table).columns if c not in ("collected_at", "parsed_at")]
            out[table] = sorted(map(repr, con.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()))
        return out
    finally:
        con.close()
