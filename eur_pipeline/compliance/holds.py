"""Legal holds: a hold covers a user's messages (sent or received) in its date range, and the landing
files that hold them; what a hold covers is exempt from every retention rule until it is released.

Which rows a hold covers is one SQL rule (views ``held_messages`` / ``held_records`` in
``sql/views_compliance.sql``); this module adds, lists and releases holds, each change audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.dates import check_range
from eur_pipeline.compliance.sql import first_row
from eur_pipeline.errors import ConfigError, UsageError
from eur_pipeline.formats.avaya_presence import split_jid
from eur_pipeline.warehouse.connection import serial_section, transaction
from eur_pipeline.warehouse.lake import lake_conninfo


@dataclass(frozen=True)
class Hold:
    hold_id: int
    user_jid: str
    from_date: date | None
    to_date: date | None
    reason: str
    created_at: datetime
    created_by: str
    released_at: datetime | None
    released_by: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None


_COLUMNS = "hold_id, user_jid, from_date, to_date, reason, created_at, created_by, released_at, released_by"


def bare_jid(text: str) -> str:
    """A JID as the warehouse stores it (bare, trimmed, lower-case); empty is a usage error."""
    jid, _ = split_jid(text)
    if not jid:
        raise ConfigError("--user: a JID is required (e.g. 56208@presence.example.com)")
    return jid


def add_hold(
    con: duckdb.DuckDBPyConnection,
    user: str,
    reason: str,
    start: date | None = None,
    end: date | None = None,
    actor: str | None = None,
) -> Hold:
    jid = bare_jid(user)
    check_range(start, end)
    if not reason.strip():
        raise ConfigError("--reason: say why the hold is placed (e.g. a matter or ticket number)")
    who = audit.current_actor(actor)
    values = [jid, start, end, reason.strip(), datetime.now(UTC), who]
    with serial_section(con), transaction(con):
        if lake_conninfo(con) is None:  # the sequence numbers it
            row = first_row(
                con.execute(
                    f"""INSERT INTO legal_holds (user_jid, from_date, to_date, reason, created_at, created_by)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}""",
                    values,
                )
            )
        else:  # a lake has no sequences (nor RETURNING): the next number, alone in the serial section
            row = first_row(con.execute("SELECT coalesce(max(hold_id), 0) + 1 FROM legal_holds"))
            assert row is not None
            con.execute(
                """INSERT INTO legal_holds (hold_id, user_jid, from_date, to_date, reason, created_at, created_by)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [row[0], *values],
            )
            row = first_row(con.execute(f"SELECT {_COLUMNS} FROM legal_holds WHERE hold_id = ?", [row[0]]))
        hold = Hold(*row)  # type: ignore[misc]
        detail = {"hold_id": hold.hold_id, "user": jid, "from": start, "to": end, "reason": hold.reason}
        audit.record(con, "hold_add", detail, who)
    return hold


def list_holds(con: duckdb.DuckDBPyConnection, include_released: bool = True) -> list[Hold]:
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM legal_holds WHERE ? OR released_at IS NULL ORDER BY hold_id", [include_released]
    ).fetchall()
    return [Hold(*r) for r in rows]


def release_hold(con: duckdb.DuckDBPyConnection, hold_id: int, actor: str | None = None) -> Hold:
    who = audit.current_actor(actor)
    with serial_section(con), transaction(con):  # an UPDATE: one lake writer at a time
        row = first_row(con.execute(f"SELECT {_COLUMNS} FROM legal_holds WHERE hold_id = ?", [hold_id]))
        if row is None:
            raise UsageError(f"no legal hold {hold_id} (see `eur-pipeline hold list`)")
        if row[7] is not None:
            raise UsageError(f"legal hold {hold_id} was already released at {row[7]} by {row[8]}")
        con.execute(  # no RETURNING: a lake has none
            "UPDATE legal_holds SET released_at = ?, released_by = ? WHERE hold_id = ?",
            [datetime.now(UTC), who, hold_id],
        )
        row = first_row(con.execute(f"SELECT {_COLUMNS} FROM legal_holds WHERE hold_id = ?", [hold_id]))
        hold = Hold(*row)  # type: ignore[misc]
        audit.record(con, "hold_release", {"hold_id": hold_id, "user": hold.user_jid}, who)
    return hold


def held_files(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The files holding a held message (their landing backups are kept)."""
    return {r[0] for r in con.execute("SELECT DISTINCT file_id FROM held_records").fetchall()}
