"""Open the warehouse. A DuckDB file allows one writer process at a time, so a held lock is waited for
with backoff; a DuckLake (``warehouse: {ducklake: ...}``) is opened by ``lake.connect_lake`` instead.
Either way callers get a DuckDB connection whose unqualified table names are the warehouse's."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from eur_pipeline.errors import WarehouseError
from eur_pipeline.retry import Attempt, retry
from eur_pipeline.warehouse.lake import (
    WarehouseLockedError,
    content_claim,
    lake_exists,
    reading_cursor,
    serial_section,
)
from eur_pipeline.warehouse.target import LakeConfig, WarehouseTarget

__all__ = [
    "WarehouseLockedError",
    "connect",
    "content_claim",
    "reading_cursor",
    "serial_section",
    "transaction",
    "warehouse_exists",
]

log = logging.getLogger(__name__)

DEFAULT_LOCK_WAIT_SECONDS = 600.0
# DuckDB's buffer pool defaults to 80 % of RAM and keeps table blocks cached up to it, so a writer's
# RSS grew with the warehouse. A fixed cap keeps the pipeline's memory flat (large sorts and
# aggregations spill to ``<warehouse>.tmp`` instead); 128 MB costs no measurable time on a 1.6M-record
# load or an 11M-record warehouse (make bench). Override with EUR_DUCKDB_MEMORY_LIMIT (any DuckDB size, e.g. "2GB").
WRITER_MEMORY_LIMIT = os.environ.get("EUR_DUCKDB_MEMORY_LIMIT", "128MB")
# DuckDB checkpoints (writes the WAL's changes into the file) whenever the WAL passes 16 MB, at a
# commit: the transforms commit once per chunk of threads, so the large bench archive paid ten
# checkpoints in its messages stage, 5.2 of its 9.7 s (each one recompressing the table's last row
# group and rewriting the queue). With a larger threshold the writer checkpoints once, when its
# connection closes (each pipeline step has its own): 9.7 → 5.5 s + a 1.5 s checkpoint, +30 MB RSS.
# Durability is unchanged: every commit is in the WAL, and a crash replays it at the next open.
WRITER_CHECKPOINT_THRESHOLD = "1GB"


def _open_problem(path: Path, exc: BaseException) -> WarehouseError:
    """The real cause of a failed open, in one line naming the file and what to do."""
    text = str(exc)
    if path.is_dir():
        cause = (
            "is a folder, not a DuckDB file: set `warehouse` in eur.yaml to a file path such as ./data/warehouse.duckdb"
        )
    elif "not a valid DuckDB database" in text:
        cause = "exists but is not a DuckDB database: point `warehouse` at the right file or move this one away"
    elif isinstance(exc, PermissionError) or "Permission denied" in text:
        cause = "cannot be opened (permission denied): run as the warehouse's owner or fix its permissions"
    elif "No such file or directory" in text or isinstance(exc, FileNotFoundError):
        cause = "does not exist yet: run `eur-pipeline run` first (or check `warehouse` in eur.yaml)"
    elif "newer" in text.lower() and "version" in text.lower():
        cause = f"was written by a newer DuckDB than {duckdb.__version__}: upgrade eur-pipeline"
    else:
        cause = f"cannot be opened: {text.splitlines()[0] if text else type(exc).__name__}"
    return WarehouseError(f"warehouse {path} {cause}")


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _holder(exc: duckdb.Error) -> str:
    match = re.search(r"PID (\d+)", str(exc))
    return f"process {match.group(1)}" if match else "another process"


def warehouse_exists(target: WarehouseTarget) -> bool:
    """Whether the warehouse was created already (a reader has nothing to open before the first run)."""
    return lake_exists(target) if isinstance(target, LakeConfig) else Path(target).exists()


def connect(
    path: WarehouseTarget,
    read_only: bool = False,
    wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connect, waiting with exponential backoff (0.2 s doubling to 10 s) while another process holds the
    lock of a DuckDB file. A lake never makes anyone wait to connect."""
    if isinstance(path, LakeConfig):
        from eur_pipeline.warehouse.lake import connect_lake

        return connect_lake(path, read_only=read_only, memory_limit=WRITER_MEMORY_LIMIT)
    if path.is_dir():
        raise _open_problem(path, IsADirectoryError(str(path)))
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"warehouse folder {path.parent} cannot be created: {exc.strerror}") from None

    def log_wait(a: Attempt) -> None:
        assert isinstance(a.error, duckdb.Error)
        (on_wait or log.warning)(
            f"warehouse {path} is locked by {_holder(a.error)}; waiting {a.delay:.1f} s "
            f"(attempt {a.number}, up to {a.remaining:.0f} s more)"
        )

    def give_up(exc: BaseException, _tries: int) -> BaseException:
        assert isinstance(exc, duckdb.Error)
        return WarehouseLockedError(
            f"warehouse {path} is locked by {_holder(exc)} (an open SQL session?); "
            f"gave up after {wait_seconds:.0f} s — close that session and retry"
        )

    try:
        con = retry(
            lambda: duckdb.connect(str(path), read_only=read_only),
            retryable=lambda exc: isinstance(exc, duckdb.Error) and _is_lock_error(exc),
            max_seconds=wait_seconds,
            base_delay=0.2,
            max_delay=10.0,
            use_whole_budget=True,
            on_retry=log_wait,
            give_up=give_up,
        )
    except (duckdb.Error, OSError) as exc:
        raise _open_problem(path, exc) from None
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        con.execute("SET memory_limit = ?", [WRITER_MEMORY_LIMIT])
        con.execute("SET checkpoint_threshold = ?", [WRITER_CHECKPOINT_THRESHOLD])
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK on any exception (including KeyboardInterrupt)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def sharing_cores(con: duckdb.DuckDBPyConnection, helpers: int) -> Iterator[None]:
    """Run this connection's queries on the cores ``helpers`` (a read-ahead thread, parse processes)
    leave free, at least one thread, until the block ends. A DuckDB 1.5 query's caller spins while its
    worker threads run, so on a machine the helpers keep busy, extra workers only take CPU from them
    (measured: a database source's collect went from 15.8 s to 13.2 s on 2 cores)."""
    with threads_at_most(con, (os.cpu_count() or 1) - helpers):
        yield


@contextmanager
def threads_at_most(con: duckdb.DuckDBPyConnection, threads: int) -> Iterator[None]:
    """At most ``threads`` (at least one) DuckDB worker threads for this connection until the block ends."""
    before = int(con.execute("SELECT current_setting('threads')").fetchone()[0])  # type: ignore[index]
    wanted = max(1, threads)
    if wanted >= before:
        yield
        return
    con.execute(f"SET threads = {wanted}")
    try:
        yield
    finally:
        con.execute(f"SET threads = {before}")


@contextmanager
def memory_capped(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """Lower DuckDB's memory limit to ``limit`` until the block ends (never raise it). DuckDB keeps
    every block a scan read cached up to its limit; a long scan that reads each block once gains
    nothing from that cache, but the process's memory holds it."""
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    con.execute("SET memory_limit = ?", [limit])
    (lowered,) = con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    if _bytes(lowered) > _bytes(before):  # already lower than asked
        con.execute("SET memory_limit = ?", [before])
    try:
        yield
    finally:
        con.execute("SET memory_limit = ?", [before])


def _bytes(size: str) -> float:
    """A DuckDB size setting as shown (``122.0 MiB``, ``1.2 GiB``) in bytes."""
    number, _, unit = size.partition(" ")
    scale = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    return float(number) * scale.get(unit, 1)
