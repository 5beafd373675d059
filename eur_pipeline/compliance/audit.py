"""``audit_log``: who searched, exported, held, released, purged, reprocessed or rebuilt what.

The log lives in the warehouse itself (it is the compliance record, so it may hold a search's text);
nothing here is ever passed to Dagster. Other modules call :func:`record` inside their own
transaction, so an action and its audit row commit together.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from typing import Any

import duckdb


def current_actor(actor: str | None = None) -> str:
    """``actor`` when given (``--actor``), else the OS user running the process."""
    if actor and actor.strip():
        return actor.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (e.g. a container's arbitrary uid)
        return f"uid:{os.getuid()}"


def record(
    con: duckdb.DuckDBPyConnection, action: str, detail: dict[str, Any] | str | None = None, actor: str | None = None
) -> None:
    """Append one audit row (``detail`` as JSON). Does not commit on its own inside a transaction."""
    payload = {"text": detail} if isinstance(detail, str) else (detail or {})
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    con.execute(
        'INSERT INTO audit_log ("at", actor, action, detail) VALUES (?, ?, ?, ?)',
        [datetime.now(UTC), current_actor(actor), action, text],
    )


def entries(con: duckdb.DuckDBPyConnection, action: str | None = None) -> list[dict[str, Any]]:
    """Audit rows, oldest first (``detail`` decoded), optionally of one action."""
    rows = con.execute(
        'SELECT "at", actor, action, detail FROM audit_log WHERE ? IS NULL OR action = ? ORDER BY "at", rowid',
        [action, action],
    ).fetchall()
    return [{"at": at, "actor": who, "action": what, "detail": json.loads(detail)} for at, who, what, detail in rows]
