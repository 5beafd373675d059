"""Reading the canonical file a database source writes for one batch (a zip of Arrow IPC members
and ``unit.json``), and turning a mapping query's result into record batches.

The database formats map rows to records in SQL on a private in-memory DuckDB (vectorized: a
batch of 50,000 rows is a few joins, not 50,000 trips through Python). The result has the record
columns (``sent_us`` as epoch microseconds) plus ``reason``: rows with a reason are rejects, and
the body's digest (``DIGEST_COLUMN``), hashed there, off the loader's writing thread.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eur_pipeline.errors import QuarantineError
from eur_pipeline.formats.base import DIGEST_COLUMN, MESSAGE_RECORD_SCHEMA, ParseResult
from eur_pipeline.sources.database import UNIT_MEMBER

MAX_MEMBER_BYTES = 4 << 30


def read_unit(path: Path, kind: str, members: dict[str, dict[str, pa.DataType]]) -> tuple[dict[str, Any], dict]:
    """The unit's facts and its members as Arrow tables; anything else is a quarantine reason."""
    if path.stat().st_size == 0:
        raise QuarantineError("file is empty (0 bytes)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if UNIT_MEMBER not in names:
                raise QuarantineError(f"not a {kind} batch: {UNIT_MEMBER} is missing")
            unit = json.loads(archive.read(UNIT_MEMBER))
            check_kind(unit, kind)
            tables: dict[str, pa.Table] = {}
            for name in members:
                member = f"{name}.arrow"
                if member not in names:
                    tables[name] = None  # type: ignore[assignment]
                    continue
                if archive.getinfo(member).file_size > MAX_MEMBER_BYTES:
                    raise QuarantineError(f"{member} is larger than {MAX_MEMBER_BYTES:,} bytes")
                tables[name] = pa.ipc.open_file(pa.py_buffer(archive.read(member))).read_all()
            check_types(tables, members)
    except zipfile.BadZipFile as exc:
        raise QuarantineError(f"not a readable {kind} batch (zip): {exc}") from None
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError) as exc:
        raise QuarantineError(f"unreadable {kind} batch: {str(exc).splitlines()[0]}") from None
    return unit, tables


def check_kind(unit: Any, kind: str) -> None:
    """The unit says it is a batch of ``kind`` (a quarantine reason otherwise)."""
    if not isinstance(unit, dict) or unit.get("kind") != kind:
        found = unit.get("kind") if isinstance(unit, dict) else None
        raise QuarantineError(f"not a {kind} batch (unit kind {found!r})")


def check_types(tables: Mapping[str, pa.Table | None], members: dict[str, dict[str, pa.DataType]]) -> None:
    """Each member's typed columns are of their type (a quarantine reason otherwise)."""
    for name, types in members.items():
        table = tables.get(name)
        for column, expected in types.items():
            if table is not None and column in table.column_names and table.schema.field(column).type != expected:
                raise QuarantineError(
                    f"{name}.arrow: column {column} is {table.schema.field(column).type}, expected {expected}"
                )


def run_mapping(
    tables: dict[str, pa.Table | None], sql: str, params: dict[str, Any], setup: str | None = None
) -> pa.Table:
    """Run a mapping query over the members (each registered under its member name); ``setup``
    (macros) runs first."""
    con = duckdb.connect(":memory:", config={"threads": 2})
    try:
        con.execute("SET TimeZone = 'UTC'")
        if setup:
            con.execute(setup)
        for name, table in tables.items():
            if table is not None:
                con.register(name, table)
        digested = f"SELECT *, sha256(body) AS {DIGEST_COLUMN} FROM ({sql.strip().rstrip(';')})"
        return con.sql(digested, params=params).to_arrow_table()
    finally:
        con.close()


def emit(mapped: pa.Table, result: ParseResult, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Split the mapping result into rejects (kept in ``result``) and record batches."""
    rejected = pc.invert(pc.is_null(mapped.column("reason")))
    for row in mapped.filter(rejected).select(["record_no", "reason", "raw"]).to_pylist():
        result.rejects.append(row)
    records = mapped.filter(pc.invert(rejected))
    sent = records.column("sent_us").cast(pa.int64()).cast(MESSAGE_RECORD_SCHEMA.field("sent_at").type)
    records = records.append_column("sent_at", sent)
    schema = MESSAGE_RECORD_SCHEMA
    if DIGEST_COLUMN in records.column_names:
        schema = schema.append(pa.field(DIGEST_COLUMN, pa.string()))
    table = pa.Table.from_arrays([records.column(f.name).cast(f.type) for f in schema], schema=schema)
    result.records_seen = mapped.num_rows
    for batch in table.to_batches(max_chunksize=batch_size):
        if batch.num_rows:
            result.record_count += batch.num_rows
            yield batch


class DatabaseBatchFormat:
    """A format reading a database source's batches: ``map_members`` (pure: unit facts and member
    tables to the mapping result) is what a subclass writes; a batch mapped ahead by its source
    (``FetchedFile.mapped``) is loaded through ``parse_mapped`` without reading the file again."""

    name: ClassVar[str]
    members: ClassVar[dict[str, dict[str, pa.DataType]]]

    def parse(self, path: Path, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        yield from emit(self.map_members(*read_unit(path, self.name, self.members)), result, batch_size)

    def map_batch(self, unit: dict[str, Any], tables: Mapping[str, pa.Table | None]) -> pa.Table:
        """``map_members`` with the checks ``read_unit`` makes of a landed copy (what a source maps ahead)."""
        check_kind(unit, self.name)
        check_types(tables, self.members)
        return self.map_members(unit, tables)

    def parse_mapped(self, mapped: Any, result: ParseResult, batch_size: int = 50_000) -> Iterator[pa.RecordBatch]:
        if isinstance(mapped, QuarantineError):
            raise mapped
        yield from emit(mapped, result, batch_size)

    def map_members(self, unit: dict[str, Any], tables: Mapping[str, pa.Table | None]) -> pa.Table:
        raise NotImplementedError
