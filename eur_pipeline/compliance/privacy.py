"""``privacy.bodies``: what the warehouse stores of a message body, and switching a warehouse's mode.

The mode in force is stored in the warehouse (``eur_settings`` key ``privacy.bodies``), so the loader
stores new records as the warehouse's mode says, whichever process loads them. Every record also
gets ``body_sha256`` (the digest messages fold on), in every mode.

Switching to ``hash`` or ``drop`` rewrites what is stored: bodies in ``message_records`` and
``messages``, the element text in ``rejected_records.raw``, and ``message_records.extra`` (unknown
elements, which may hold text) down to its element names; the full-text index is removed.
Switching back to ``keep`` stores new bodies again; what was hashed or dropped cannot come back.
Every change is audited with its counts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.settings import BodyMode
from eur_pipeline.compliance.sql import count_of
from eur_pipeline.errors import UsageError
from eur_pipeline.warehouse.connection import serial_section, transaction
from eur_pipeline.warehouse.settings import get_setting, set_setting

SETTING = "privacy.bodies"
MODES: tuple[BodyMode, ...] = ("keep", "hash", "drop")
HASH_PREFIX = "sha256:"
_HASHED_RAW = "^sha256:[0-9a-f]{64}$"


class BodiesNotKept(UsageError):
    """Search and export need the bodies, and this warehouse does not keep them."""


def stored_mode(con: duckdb.DuckDBPyConnection) -> BodyMode:
    """The warehouse's mode (``keep`` until one is set)."""
    mode = get_setting(con, SETTING)
    return mode if mode in MODES else "keep"  # type: ignore[return-value]


def body_expression(mode: BodyMode, column: str = "body") -> str:
    """SQL for what ``mode`` stores of the text in ``column``."""
    if mode == "keep":
        return column
    if mode == "hash":
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE '{HASH_PREFIX}' || sha256({column}) END"
    return "NULL::VARCHAR"


def extra_expression(mode: BodyMode, column: str = "extra") -> str:
    """SQL for what ``mode`` stores of a record's unknown elements and attributes (``extra``): they
    may hold message text too (e.g. an XHTML copy of the body), so without ``keep`` only their names."""
    if mode == "keep":
        return column
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE to_json(json_keys({column}::JSON))::JSON END"


def require_bodies(con: duckdb.DuckDBPyConnection, what: str) -> None:
    """Refuse ``what`` (search, export) with a clear reason unless the warehouse keeps bodies."""
    mode = stored_mode(con)
    if mode != "keep":
        raise BodiesNotKept(
            f"{what} needs message bodies, but this warehouse stores privacy.bodies: {mode} "
            "(bodies are not kept); nothing to search or export"
        )


@dataclass(frozen=True)
class ModeChange:
    before: BodyMode
    after: BodyMode
    records: int
    messages: int
    rejects: int


def enforce_mode(
    con: duckdb.DuckDBPyConnection, mode: BodyMode, index_dir: Path | None = None, actor: str | None = None
) -> ModeChange | None:
    """Bring the warehouse to ``mode`` (no-op when it is already there); audited, one transaction."""
    before = stored_mode(con)
    if before == mode and _mode_recorded(con):
        return None
    with serial_section(con):  # rewrites rows: one lake writer at a time
        change = _switch_mode(con, mode, actor)
    if change is not None and mode != "keep" and index_dir is not None:
        shutil.rmtree(index_dir, ignore_errors=True)
    return change


def _switch_mode(con: duckdb.DuckDBPyConnection, mode: BodyMode, actor: str | None) -> ModeChange | None:
    before = stored_mode(con)  # again, in the serial section: another writer may have switched meanwhile
    if before == mode and _mode_recorded(con):
        return None
    with transaction(con):
        records = messages = rejects = 0
        if mode != "keep":
            records = _rewrite(con, "message_records", mode)
            con.execute(f"UPDATE message_records SET extra = {extra_expression(mode)} WHERE extra IS NOT NULL")
            messages = _rewrite(con, "messages", mode)
            rejects = _rewrite_raw(con, mode)
            con.execute("DELETE FROM search_indexed")
        set_setting(con, SETTING, mode)
        change = ModeChange(before, mode, records, messages, rejects)
        audit.record(
            con,
            "privacy_mode",
            {"from": before, "to": mode, "records": records, "messages": messages, "rejected_records": rejects},
            actor,
        )
    return change


def _mode_recorded(con: duckdb.DuckDBPyConnection) -> bool:
    return get_setting(con, SETTING) is not None


def _rewrite(con: duckdb.DuckDBPyConnection, table: str, mode: BodyMode) -> int:
    """Bodies of ``table`` to what ``mode`` stores (from the load-time digest, so a body already hashed
    stays the hash of the original text)."""
    if mode == "hash":
        sql = (
            f"UPDATE {table} SET body = '{HASH_PREFIX}' || body_sha256 "
            f"WHERE body IS NOT NULL AND body IS DISTINCT FROM '{HASH_PREFIX}' || body_sha256"
        )
    else:
        sql = f"UPDATE {table} SET body = NULL WHERE body IS NOT NULL"
    return count_of(con.execute(sql))


def _rewrite_raw(con: duckdb.DuckDBPyConnection, mode: BodyMode) -> int:
    if mode == "hash":
        sql = (
            f"UPDATE rejected_records SET raw = {body_expression('hash', 'raw')} "
            f"WHERE raw IS NOT NULL AND NOT regexp_matches(raw, '{_HASHED_RAW}')"
        )
    else:
        sql = "UPDATE rejected_records SET raw = NULL WHERE raw IS NOT NULL"
    return count_of(con.execute(sql))
