"""The DuckLake warehouse: catalog in PostgreSQL, data as Parquet, many readers and writers.

DuckLake gives snapshot isolation (readers never wait, a reader sees whole commits) and lets
transactions that only append commit side by side. It has no PRIMARY KEY, UNIQUE or CHECK and no
ON CONFLICT, and two transactions that delete from the same table conflict at commit. So:

- loads are append-only and run in parallel; the content rule (one load per sha256) is a *claim*:
  a PostgreSQL advisory lock on the content, in the catalog database, held while the ledger is
  re-read and the file is loaded and committed. The lock belongs to the writer's database session,
  so a killed writer (SIGKILL, lost host) releases it with its connection; its load never committed.
- everything that rewrites rows (migrations, the transforms, billing, sightings completion,
  maintenance) runs in the *serial section*: one advisory lock per lake. Those sections are short
  and incremental; inside one, the rules the file warehouse's keys enforce hold by construction.
- the DDL of ``sql/`` is made portable by dropping the key and CHECK clauses (``portable_ddl``).

Extensions load from their PyPI wheels (``duckdb-extension-ducklake``, ``-postgres-scanner``):
nothing is downloaded, so an air-gapped server works as this machine does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
import importlib.resources
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb

from eur_pipeline.errors import ConfigError, EurError
from eur_pipeline.warehouse.target import LakeConfig, redact_conninfo

log = logging.getLogger(__name__)

LAKE_ALIAS = "lake"  # the catalog name inside our connections (analysts may choose any)
_CONNINFO_VARIABLE = "eur_lake_conninfo"
_SCHEMA_VARIABLE = "eur_lake_metadata_schema"
SERIAL_WAIT_SECONDS = float(os.environ.get("EUR_LAKE_SERIAL_WAIT_SECONDS", "3600"))
EXTENSIONS = (("duckdb_extension_postgres_scanner", "postgres_scanner"), ("duckdb_extension_ducklake", "ducklake"))
OBJECT_STORE = ("duckdb_extension_httpfs", "httpfs")  # for an object-store data_path: eur-pipeline[objectstore]


class WarehouseLockedError(EurError):
    """Another process kept the warehouse (a DuckDB file's lock, a lake's serial section) longer than
    we were willing to wait."""


class LakeUnavailableError(ConfigError):
    """The DuckLake extensions (or the catalog database) cannot be used here: fix the install or eur.yaml."""


def extension_file(package: str, name: str, version: str = duckdb.__version__) -> Path:
    """The ``.duckdb_extension`` a wheel ships for this DuckDB release (one-line error when absent)."""
    wheel = package.replace("_", "-")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise LakeUnavailableError(
            f"warehouse: a DuckLake warehouse needs the {name} extension: pip install '{wheel}=={version}'"
        ) from None
    path = Path(str(root)) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise LakeUnavailableError(
            f"warehouse: {wheel} has no {name} extension for DuckDB {version}: pip install '{wheel}=={version}'"
        )
    return path


def check_extensions() -> None:
    """Raise the one-line LakeUnavailableError when a wheel this DuckDB needs is not installed."""
    for package, name in EXTENSIONS:
        extension_file(package, name)


@functools.cache
def _verified(package: str, path: Path) -> Path:
    """``path`` after checking it against the sha256 pip recorded when it installed the wheel.

    DuckDB's own signature check costs ~0.9 s per extension and connection (80 MB of RSA-signed
    code); the wheel's RECORD gives the same assurance once per process, so the lake connection
    loads them as unsigned files. Someone able to swap the file could swap this code beside it."""
    dist = package.replace("_", "-")
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.hash is not None and Path(str(entry.locate())).resolve() == path.resolve():
            digest = hashlib.file_digest(path.open("rb"), entry.hash.mode).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != entry.hash.value:
                raise LakeUnavailableError(f"warehouse: {path} does not match its wheel's record: reinstall {dist}")
            return path
    raise LakeUnavailableError(f"warehouse: {path} is not recorded by an installed {dist} wheel: reinstall it")


def load_extensions(con: duckdb.DuckDBPyConnection, object_store: bool = False) -> None:
    """Load postgres_scanner and ducklake (and httpfs for an object-store data path) from their wheels;
    never download or autoload anything."""
    con.execute("SET autoinstall_known_extensions = false")
    for package, name in (*EXTENSIONS, OBJECT_STORE) if object_store else EXTENSIONS:
        path = _verified(package, extension_file(package, name))
        con.execute(f"LOAD '{_quote(str(path))}'")


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _scratch_dir() -> Path:
    """Where a lake connection spills large sorts (an in-memory DuckDB has no file to put them beside)."""
    path = Path(tempfile.gettempdir()) / f"eur-lake-spill-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def connect_lake(
    lake: LakeConfig, read_only: bool = False, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``lake`` and in use; read-only for readers."""
    if not read_only and lake.is_local:
        Path(lake.data_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    settings = {"temp_directory": str(_scratch_dir()), "allow_unsigned_extensions": "true"}  # see _verified
    con = duckdb.connect(":memory:", config=settings)
    try:
        load_extensions(con, object_store=not lake.is_local)
        options = ["READ_ONLY"] if read_only else [f"DATA_PATH '{_quote(lake.data_path)}'"]
        if lake.metadata_schema:
            options.append(f"METADATA_SCHEMA '{lake.metadata_schema}'")
        if not read_only:
            options.append(f"DATA_INLINING_ROW_LIMIT {lake.inline_rows}")
        attach = f"ATTACH 'ducklake:{_quote(lake.ducklake)}' AS {LAKE_ALIAS} ({', '.join(options)})"
        try:
            if read_only or lake_exists(lake):
                con.execute(attach)
            else:  # the first ATTACH creates the catalog tables: two writers doing it at once collide
                with advisory_lock(lake.conninfo, _lock_key("create"), "lake creation", SERIAL_WAIT_SECONDS):
                    con.execute(attach)
        except duckdb.Error as exc:
            first = redact_conninfo(str(exc)).strip().splitlines()[0]
            raise LakeUnavailableError(f"warehouse {lake}: cannot attach the lake: {first}") from None
        con.execute(f"USE {LAKE_ALIAS}")
        con.execute(f"SET VARIABLE {_CONNINFO_VARIABLE} = '{_quote(lake.conninfo)}'")
        con.execute(f"SET VARIABLE {_SCHEMA_VARIABLE} = '{lake.metadata_schema or ''}'")
        con.execute("SET TimeZone = 'UTC'")
        if memory_limit and not read_only:
            con.execute("SET memory_limit = ?", [memory_limit])
    except BaseException:
        con.close()
        raise
    return con


def reading_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``con.cursor()`` (a connection of its own to the same database, leaving ``con``'s unfinished
    result alone) that also reads the lake: ``USE`` is per connection, so a bare cursor would not."""
    cur = con.cursor()
    row = cur.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = ? AND type = 'ducklake'", [LAKE_ALIAS]
    ).fetchone()
    if row and row[0]:
        cur.execute(f"USE {LAKE_ALIAS}")
        cur.execute("SET TimeZone = 'UTC'")
    return cur


def lake_conninfo(con: duckdb.DuckDBPyConnection) -> str | None:
    """The catalog's libpq string when ``con`` is a lake connection, else None (a DuckDB file)."""
    row = con.execute(f"SELECT getvariable('{_CONNINFO_VARIABLE}')").fetchone()
    return row[0] if row and row[0] else None


def lake_exists(lake: LakeConfig) -> bool:
    """Whether the catalog database already holds this lake (without creating anything)."""
    import psycopg2

    schema = lake.metadata_schema or "public"
    try:
        with psycopg2.connect(lake.conninfo, connect_timeout=10) as pg, pg.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.ducklake_metadata"])
            row = cur.fetchone()
        pg.close()
    except psycopg2.Error as exc:
        raise LakeUnavailableError(f"warehouse {lake}: catalog database unreachable: {_pg_reason(exc)}") from None
    return bool(row and row[0])


def _pg_reason(exc: Exception) -> str:
    return redact_conninfo(str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (content claims use the sha256 itself)."""
    value = int(hashlib.sha256(f"eur_pipeline:{name}".encode()).hexdigest()[:16], 16)
    return value - (1 << 64) if value >= (1 << 63) else value


_held = threading.local()


@contextmanager
def advisory_lock(
    conninfo: str, key: int, what: str, wait_seconds: float, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold PostgreSQL advisory lock ``key`` in a session of its own; re-entrant within a thread.

    The session ends with the block, or with the process: a killed holder never leaves it taken."""
    import psycopg2
    import psycopg2.errors

    held: dict[tuple[str, int], int] = _held.__dict__.setdefault("locks", {})
    if held.get((conninfo, key)):
        held[(conninfo, key)] += 1
        try:
            yield
        finally:
            held[(conninfo, key)] -= 1
        return
    try:
        pg = psycopg2.connect(conninfo, connect_timeout=10, application_name=f"eur-pipeline {what}")
    except psycopg2.Error as exc:
        raise LakeUnavailableError(f"lake catalog unreachable for the {what} lock: {_pg_reason(exc)}") from None
    try:
        pg.autocommit = True
        with pg.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
            row = cur.fetchone()
            if not (row and row[0]):
                (on_wait or log.info)(f"waiting for another writer's {what} (up to {wait_seconds:.0f} s)")
                cur.execute("SET lock_timeout = %s", [f"{max(1, int(wait_seconds * 1000))}ms"])
                try:
                    cur.execute("SELECT pg_advisory_lock(%s)", [key])
                except psycopg2.errors.LockNotAvailable:
                    raise WarehouseLockedError(
                        f"another writer held the lake's {what} lock for more than {wait_seconds:.0f} s"
                    ) from None
        held[(conninfo, key)] = 1
        try:
            yield
        finally:
            held.pop((conninfo, key), None)
    finally:
        pg.close()


@contextmanager
def _lake_lock(
    con: duckdb.DuckDBPyConnection,
    key: int,
    what: str,
    wait_seconds: float,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """``advisory_lock`` in the lake's catalog database; a no-op on a DuckDB file, which has one writer."""
    conninfo = lake_conninfo(con)
    if conninfo is None:
        yield
        return
    with advisory_lock(conninfo, key, what, wait_seconds, on_wait):
        yield


def serial_section(
    con: duckdb.DuckDBPyConnection, on_wait: Callable[[str], None] | None = None
) -> AbstractContextManager[None]:
    """Run the block alone among the lake's writers (a DuckDB file has one writer anyway: no-op).

    Open the block's transactions inside it, so they start from the latest snapshot."""
    return _lake_lock(con, _lock_key("serial"), "serial section", SERIAL_WAIT_SECONDS, on_wait)


def content_claim(
    con: duckdb.DuckDBPyConnection, sha256: str, wait_seconds: float = 3600.0
) -> AbstractContextManager[None]:
    """Only one writer at a time loads a given content (no-op on a DuckDB file, which has one writer).

    Inside the block, re-read the ledger: a writer that held the claim before committed (or died
    without committing, which leaves nothing)."""
    key = int(sha256[:16], 16)
    key = key - (1 << 64) if key >= (1 << 63) else key
    return _lake_lock(con, key, f"content claim {sha256[:16]}", wait_seconds)


def named_claim(
    con: duckdb.DuckDBPyConnection, name: str, what: str, wait_seconds: float = 3600.0
) -> AbstractContextManager[None]:
    """One lake writer at a time inside the block, among those claiming ``name`` (no-op on a DuckDB
    file, which has one writer). Unlike the serial section it does not hold up the transforms."""
    return _lake_lock(con, _lock_key(f"claim:{name}"), what, wait_seconds)


def upstream_claim(
    con: duckdb.DuckDBPyConnection, format_name: str, wait_seconds: float = 3600.0
) -> AbstractContextManager[None]:
    """Only one writer at a time loads a file of a format whose records carry upstream ids (no-op on a
    DuckDB file): the load reads ``upstream_ids`` and appends the new ones, so two parallel loads of
    different files exporting one post again would both take it. Open the load's transaction inside."""
    return _lake_lock(con, _lock_key(f"upstream:{format_name}"), f"upstream ids of {format_name}", wait_seconds)


def source_claim(
    con: duckdb.DuckDBPyConnection, source: str, wait_seconds: float = 3600.0
) -> AbstractContextManager[None]:
    """Only one writer at a time collects from a database source (no-op on a DuckDB file): its batches
    start at the committed watermark, so two writers listing at once would plan overlapping batches
    of different contents (the content claim would not catch them) and load some rows twice."""
    return _lake_lock(con, _lock_key(f"source:{source}"), f"collection of {source}", wait_seconds)


# DuckLake reserves a column named row_id while data inlining is on, and checks it when the table is
# created (source_rows has one: the upstream table's id). Such a table is created by a session of its
# own with inlining off, and its inserts then always go to Parquet (a table option).
_RESERVED_COLUMN_TABLE = re.compile(
    r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\(([^;]*?\brow_id\b[^;]*?)\);", re.IGNORECASE | re.DOTALL
)
_DDL_ALIAS = "eur_lake_ddl"


def create_reserved_column_tables(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Create (if missing) every table of ``sql`` (portable DDL) with a ``row_id`` column, outside any
    transaction of ``con``: the migration's own ``CREATE TABLE IF NOT EXISTS`` then finds it."""
    conninfo = lake_conninfo(con)
    tables = _RESERVED_COLUMN_TABLE.findall(sql)
    if conninfo is None or not tables:
        return
    row = con.execute(f"SELECT getvariable('{_SCHEMA_VARIABLE}')").fetchone()
    options = ["DATA_INLINING_ROW_LIMIT 0"] + ([f"METADATA_SCHEMA '{row[0]}'"] if row and row[0] else [])
    con.execute(f"ATTACH 'ducklake:postgres:{_quote(conninfo)}' AS {_DDL_ALIAS} ({', '.join(options)})")
    try:
        for name, columns in tables:
            con.execute(f"CREATE TABLE IF NOT EXISTS {_DDL_ALIAS}.main.{name} ({columns})")
            con.execute(
                f"CALL ducklake_set_option('{_DDL_ALIAS}', 'data_inlining_row_limit', 0, table_name => '{name}')"
            )
    finally:
        con.execute(f"DETACH {_DDL_ALIAS}")


_COMMENT = re.compile(r"--[^\n]*")  # the files quote no "--"
_CHECK = re.compile(r"\s+CHECK\s*\(", re.IGNORECASE)
_TABLE_KEY = re.compile(r",\s*(?:PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", re.IGNORECASE)
_COLUMN_KEY = re.compile(r"\s+(?:PRIMARY\s+KEY|UNIQUE)\b(?!\s*\()", re.IGNORECASE)
_SEQUENCE = re.compile(r"CREATE\s+SEQUENCE\b[^;]*;", re.IGNORECASE)
_NEXTVAL = re.compile(r"\s+DEFAULT\s+nextval\s*\(\s*'[^']*'\s*\)", re.IGNORECASE)


def portable_ddl(sql: str) -> str:
    """``sql`` without PRIMARY KEY / UNIQUE / CHECK clauses and sequences (CREATE SEQUENCE, DEFAULT
    nextval), which DuckLake does not support.

    The rules they stated hold by other means (see the module docstring and docs/design.md)."""
    sql = _COMMENT.sub("", sql)
    out, pos = [], 0
    for match in _CHECK.finditer(sql):
        if match.start() < pos:
            continue
        depth, end = 1, match.end()
        while depth and end < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        out.append(sql[pos : match.start()])
        pos = end
    out.append(sql[pos:])
    text = "".join(out)
    text = _NEXTVAL.sub("", _SEQUENCE.sub("", text))
    return _COLUMN_KEY.sub("", _TABLE_KEY.sub("", text))
