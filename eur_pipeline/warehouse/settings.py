"""``eur_settings``: the small key/value state the views and incremental steps keep in the warehouse."""

from __future__ import annotations

import duckdb


def get_setting(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """``key``'s value, or None when it was never set."""
    rows = con.execute("SELECT value FROM eur_settings WHERE key = ?", [key]).fetchall()
    return rows[0][0] if rows else None


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Replace ``key``'s value. Delete + insert rather than ON CONFLICT, which needs a key a lake has not:
    call it inside a transaction, and on a lake inside the serial section (one writer of a key at a time)."""
    con.execute("DELETE FROM eur_settings WHERE key = ?", [key])
    con.execute("INSERT INTO eur_settings VALUES (?, ?)", [key, value])
