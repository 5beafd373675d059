"""Database sources: an upstream table read incrementally by its own id, in bounded batches.

Each batch is one unit: its rows (and whatever the format needs to read them, e.g. the rooms and
participants of its conversations) are copied out of PostgreSQL with ``COPY ... TO STDOUT (FORMAT
csv)`` inside one read-only REPEATABLE READ transaction and written as one canonical file: a zip of
Arrow IPC members (one per table, typed: the source's integer columns as int64, the rest as text)
with fixed timestamps, so the same rows always give the same bytes and the same sha256, and the
format reads them back without parsing text again.
From there the collector treats it like any downloaded file: backup copy, ledger row and records in
one transaction, quarantine on a bad batch. The batch's row ids are committed with it
(``on_commit``), which is the watermark: a killed run commits nothing and the next one lists the
same rows again.

Ids are not always written in order (an Openfire cluster allocates ids per node; concurrent
inserts commit out of order), so with ``reread_window: N`` every listing also re-reads the N ids
behind the watermark and takes the ones not held yet. Nothing is ever written at the source: the
session is read-only (``default_transaction_read_only``) and ``complete`` does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import BaseModel, ConfigDict, Field, field_validator

from eur_pipeline.config import SourceConfig
from eur_pipeline.errors import PermanentSourceError, QuarantineError, TransientSourceError
from eur_pipeline.faults import fault_point
from eur_pipeline.sources.base import FetchedFile, RemoteFile, fsync_dir
from eur_pipeline.sources.ledger_view import SourceLedger, record_rows

log = logging.getLogger(__name__)

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the canonical bytes depend on the rows only
UNIT_MEMBER = "unit.json"


class DatabaseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dsn: str = Field(description="libpq connection string or postgresql:// URI; use ${VAR} for the password")
    batch_rows: int = Field(default=100_000, ge=1, le=2_000_000)
    max_batches: int = Field(default=100, ge=1, description="batches per run (the rest waits for the next run)")
    reread_window: int = Field(default=0, ge=0, description="ids behind the watermark re-read on every listing")
    connect_timeout: int = Field(default=10, ge=1, le=300)
    statement_timeout_seconds: int = Field(default=600, ge=1)

    @field_validator("dsn")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if "://" in value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("only PostgreSQL is supported (postgresql://...)")
        return value


@dataclass(frozen=True)
class BatchSpec:
    """What one unit covers: ids ``first..last`` (all of them above the watermark), or the listed
    late ``ids`` found in the re-read window."""

    first: int
    last: int
    ids: tuple[int, ...] | None = None


def redact(text: str, dsn: str) -> str:
    """An error message without the connection string's password (libpq never prints it, but a
    driver message may quote the dsn)."""
    for secret in _dsn_secrets(dsn):
        text = text.replace(secret, "***")
    return text.strip().splitlines()[0] if text.strip() else "database error"


def _dsn_secrets(dsn: str) -> list[str]:
    found = re.findall(r"password\s*=\s*'?([^'\s]+)", dsn)
    uri = re.match(r"^[a-z]+://[^:/@]*:([^@]*)@", dsn)
    if uri and uri.group(1):
        found.append(uri.group(1))
    return [s for s in found if s]


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def canonical_zip(members: list[tuple[str, pa.Table | bytes]]) -> bytes:
    """Members stored (not compressed) with fixed timestamps, in the given order: deterministic.
    A table becomes ``<name>.arrow`` (Arrow IPC file)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            payload = data if isinstance(data, bytes) else arrow_bytes(data)
            info = zipfile.ZipInfo(name if isinstance(data, bytes) else f"{name}.arrow", date_time=ZIP_EPOCH)
            info.external_attr = 0o600 << 16
            archive.writestr(info, payload)
    return out.getvalue()


MapAhead = Callable[[dict[str, Any], dict[str, pa.Table]], Any]


class DatabaseSource:
    """Shared machinery of the PostgreSQL table sources; a subclass names the table, its id column
    and what each batch carries (``batch_members``).

    ``map_ahead`` (set by the collector to the format's ``map_batch``) maps each batch in the
    read-ahead thread too, from the very tables written to the canonical file: the next batch is
    read *and* mapped while the current one is inserted, so PostgreSQL, the mapping and DuckDB's
    insert use both cores. The result rides in ``FetchedFile.mapped``; the landed copy stays the
    record, and reprocessing it maps the same bytes to the same rows."""

    kind: ClassVar[str]
    default_format: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = DatabaseOptions
    table: ClassVar[str]
    id_column: ClassVar[str]
    int_columns: ClassVar[frozenset[str]] = frozenset()  # lower-case names read as int64; the rest is text
    reads_ahead: ClassVar[bool] = True

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.options = self.Options.model_validate(config.options)
        self._con: Any = None
        self._specs: dict[str, BatchSpec] = {}
        self._watermark: int | None = None
        self._held: set[int] = set()
        # the next batch is read on a second connection while the current one is parsed and loaded
        # (PostgreSQL's COPY and DuckDB's work overlap); nothing of it is committed before its turn
        self._prefetch_con: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[str, Future[tuple[bytes, pa.Array, Any]]] = {}
        self.map_ahead: MapAhead | None = None

    # -- connection -----------------------------------------------------------------------------

    def __enter__(self) -> DatabaseSource:
        self._con = connect_readonly(self.options, self.config.name)
        try:
            self.inspect(self._con)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            for future in self._ahead.values():
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pool, self._ahead = None, {}
        if self._prefetch_con is not None:
            with contextlib.suppress(Exception):
                self._prefetch_con.close()
            self._prefetch_con = None
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None

    def inspect(self, con: Any) -> None:
        """Check the upstream schema once per connection (subclasses learn optional columns here)."""

    def columns_of(self, con: Any, table: str) -> set[str]:
        with con.cursor() as cur:
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = ANY(current_schemas(false))",
                (table.lower(),),
            )
            found = {r[0] for r in cur.fetchall()}
        con.rollback()
        if not found:
            raise PermanentSourceError(f"{self.config.name}: table {table} not found (is this the right database?)")
        return found

    # -- listing --------------------------------------------------------------------------------

    def resume(self, ledger: SourceLedger) -> None:
        self._watermark = ledger.high_id()
        if self.options.reread_window and self._watermark is not None:
            self._held = ledger.held_ids(self._watermark - self.options.reread_window)

    def list_files(self) -> list[RemoteFile]:
        """The next batches: late ids in the re-read window first, then ids above the watermark."""
        specs = self.plan()
        self._specs = {self.unit_name(s): s for s in specs}
        return [RemoteFile(name=name, size=self._rows(s), mtime=0.0) for name, s in self._specs.items()]

    def _rows(self, spec: BatchSpec) -> int:
        return len(spec.ids) if spec.ids is not None else max(spec.last - spec.first + 1, 1)

    def plan(self) -> list[BatchSpec]:
        table, col, size = self.table, self.id_column, self.options.batch_rows
        watermark = self._watermark
        specs: list[BatchSpec] = []
        with self._execute() as cur:
            if self.options.reread_window and watermark is not None:
                cur.execute(
                    f"SELECT {col} FROM {table} WHERE {col} > %s AND {col} <= %s ORDER BY {col}",
                    (watermark - self.options.reread_window, watermark),
                )
                late = [int(r[0]) for r in cur.fetchall() if int(r[0]) not in self._held]
                for i in range(0, len(late), size):
                    chunk = tuple(late[i : i + size])
                    specs.append(BatchSpec(chunk[0], chunk[-1], chunk))
            cur.execute(
                f"SELECT min(id), max(id) FROM (SELECT {col} AS id, (row_number() OVER (ORDER BY {col}) - 1) / %s AS k "
                f"FROM {table} WHERE {col} > %s) s GROUP BY k ORDER BY k LIMIT %s",
                (size, watermark if watermark is not None else -(2**63), self.options.max_batches),
            )
            specs += [BatchSpec(int(lo), int(hi)) for lo, hi in cur.fetchall()]
        return specs[: self.options.max_batches]

    def unit_name(self, spec: BatchSpec) -> str:
        name = f"{self.table} {self.id_column} {spec.first}..{spec.last}"
        return name + (f" ({len(spec.ids)} late rows)" if spec.ids is not None else "")

    # -- fetching -------------------------------------------------------------------------------

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        ahead = self._ahead.pop(remote.name, None)
        spec = self._specs[remote.name]
        data, ids, mapped = ahead.result() if ahead is not None else self._materialize(spec, self._con)
        self._read_ahead(remote.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                fault_point("download")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return FetchedFile(
            remote=remote,
            path=dest,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            on_commit=record_rows(self.config.name, ids),
            mapped=mapped,
        )

    def _materialize(self, spec: BatchSpec, con: Any) -> tuple[bytes, pa.Array, Any]:
        members, ids = self.read_batch(spec, con)
        return canonical_zip(members), ids, self._map(members)

    def _map(self, members: list[tuple[str, pa.Table | bytes]]) -> Any:
        """The format's mapping of these members, a ``QuarantineError`` to raise at load, or None
        (no mapping ahead: the loader reads the landed copy as usual)."""
        if self.map_ahead is None:
            return None
        unit = json.loads(next(data for name, data in members if name == UNIT_MEMBER))
        tables = {name: data for name, data in members if isinstance(data, pa.Table)}
        try:
            return self.map_ahead(unit, tables)
        except QuarantineError as exc:
            return exc
        except Exception as exc:  # the landed copy gets the usual parse, and its error, at load
            log.debug("%s: mapping ahead failed (%s); parsed at load", self.config.name, type(exc).__name__)
            return None

    def _read_ahead(self, current: str) -> None:
        names = list(self._specs)
        following = names.index(current) + 1 if current in self._specs else len(names)
        if following >= len(names) or names[following] in self._ahead:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.config.name}-prefetch")
        if self._prefetch_con is None:
            self._prefetch_con = connect_readonly(self.options, self.config.name)
        spec = self._specs[names[following]]
        self._ahead[names[following]] = self._pool.submit(self._materialize, spec, self._prefetch_con)

    def read_batch(self, spec: BatchSpec, con: Any = None) -> tuple[list[tuple[str, pa.Table | bytes]], pa.Array]:
        """The batch's members (name, table) in one snapshot, and the ids it holds."""
        where, params = self.batch_condition(spec)
        with self._execute(con) as cur:
            members = self.batch_members(cur, where, params)
        ids = members[0][1].column(self.id_column.lower())  # type: ignore[union-attr]
        unit = {"kind": self.kind, "table": self.table, "first": spec.first, "last": spec.last, **self.unit_facts()}
        members.append((UNIT_MEMBER, json.dumps(unit, sort_keys=True).encode()))
        return members, ids.combine_chunks()

    def batch_condition(self, spec: BatchSpec) -> tuple[str, tuple[Any, ...]]:
        col = self.id_column
        if spec.ids is not None:  # late rows: exactly the ids listed (none of them held)
            return f"{col} = ANY(%s)", (list(spec.ids),)
        return f"{col} >= %s AND {col} <= %s", (spec.first, spec.last)

    def batch_members(self, cur: Any, where: str, params: tuple[Any, ...]) -> list[tuple[str, pa.Table | bytes]]:
        """The first member is the table's own rows (with the id column)."""
        raise NotImplementedError

    def unit_facts(self) -> dict[str, Any]:
        """Settings the format needs besides the rows (kept in the unit, so a landing copy reads alone)."""
        return {}

    def copy_table(self, cur: Any, select: str, params: tuple[Any, ...]) -> pa.Table:
        """``COPY (select) TO STDOUT`` as CSV, read into Arrow (the fastest way out of PostgreSQL)."""
        out = io.BytesIO()
        query = cur.mogrify(select, params).decode()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", out)
        data = out.getvalue()
        header = data.split(b"\n", 1)[0].decode("utf-8").strip().split(",")
        return read_csv(data, {c: pa.int64() for c in header if c in self.int_columns})

    def complete(self, remote: RemoteFile) -> None:
        """Nothing: a database source never changes anything at the source."""

    # -- polling (sensor) -------------------------------------------------------------------------

    def max_id(self) -> int | None:
        """The newest id at the source: the sensor's cheap poll."""
        with self._execute() as cur:
            cur.execute(f"SELECT max({self.id_column}) FROM {self.table}")
            row = cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _execute(self, con: Any = None) -> _Snapshot:
        con = con if con is not None else self._con
        if con is None:
            raise RuntimeError("database source used outside its 'with' block")
        return _Snapshot(con, self.config.name, self.options.dsn)


class _Snapshot:
    """One read-only transaction (a consistent snapshot); driver errors become source errors."""

    def __init__(self, con: Any, source: str, dsn: str) -> None:
        self.con, self.source, self.dsn = con, source, dsn

    def __enter__(self) -> Any:
        self.cur = self.con.cursor()
        return self.cur

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        import psycopg2

        try:
            self.cur.close()
            self.con.rollback()  # read-only: nothing to commit, and the snapshot ends here
        except psycopg2.Error:
            pass
        if isinstance(exc, psycopg2.OperationalError):
            raise TransientSourceError(f"{self.source}: database unavailable: {redact(str(exc), self.dsn)}") from None
        if isinstance(exc, psycopg2.Error):
            raise PermanentSourceError(f"{self.source}: query failed: {redact(str(exc), self.dsn)}") from None
        return False


def connect_readonly(options: DatabaseOptions, source: str) -> Any:
    """A session that cannot write (``default_transaction_read_only``), REPEATABLE READ snapshots."""
    import psycopg2
    import psycopg2.extensions

    try:
        con = psycopg2.connect(
            options.dsn,
            connect_timeout=options.connect_timeout,
            application_name="eur-pipeline",
            options="-c default_transaction_read_only=on "
            f"-c statement_timeout={options.statement_timeout_seconds * 1000}",
        )
    except psycopg2.OperationalError as exc:
        message = redact(str(exc), options.dsn)
        permanent = "authentication failed" in message or "does not exist" in message
        error = PermanentSourceError if permanent else TransientSourceError
        raise error(f"{source}: cannot connect to the database: {message}") from None
    con.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
    return con


def read_csv(data: bytes, types: dict[str, pa.DataType], include: list[str] | None = None) -> pa.Table:
    """COPY CSV as Arrow: unquoted empty = NULL, quoted empty = '' (as PostgreSQL wrote it).
    Every column not in ``types`` is read as text."""
    header = data.split(b"\n", 1)[0].decode("utf-8").strip().split(",")
    column_types = {name: types.get(name, pa.string()) for name in header}
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            include_columns=include or [],
        ),
    )
