"""The ``billing`` table: activity per calendar month (configured timezone) × user, with org data and cost.

Incremental by thread: every thread's contribution to the billing rows it touches (its messages sent
and received, participation, start and records per source, per period × user) is stored in
``billing_thread_periods``. The threads queued at stage 'billing' get their contributions recomputed
from their own messages, records and conversations only (``sql/billing_thread_periods.sql``) and
replace their old ones; then only the (period, user) rows they touch now or touched before are
recomputed, as sums of the stored contributions of those rows (``sql/billing_usage.sql``). A
recomputed row is exactly what a full rebuild gives, and the cost follows the new file, not the
month. A change of directory, rates, timezone, extension length or source sites (a fingerprint in
``eur_settings``) recomputes every thread and row, month by month in passes of about
ROWS_PER_PASS rows at most, so a large warehouse stays under the writers' memory cap. Org data and
cost are applied in Python with Decimal; results go back through Arrow, in the same transaction
that consumes the queue.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eur_pipeline.billing.budgets import sync_budget_lines
from eur_pipeline.billing.directory import Directory, extension_of, load_directory
from eur_pipeline.billing.rates import Rates, load_rates
from eur_pipeline.config import EurConfig
from eur_pipeline.warehouse.connection import serial_section, transaction
from eur_pipeline.warehouse.settings import get_setting, set_setting
from eur_pipeline.warehouse.sql_files import read_sql

# Bump when the billing rules change meaning: stored rows are then rebuilt on the next run.
BILLING_RULES_VERSION = 1
# A full rebuild of more than this many records, messages and conversations computes the
# contributions a month at a time, a month of more in passes of about this many (by a hash of the
# thread key), so its memory follows a pass, not the warehouse: in one pass a 10M-record lake needed
# more than the writers' 128 MB cap; 2.5M rows in one pass fit it on both backends.
ROWS_PER_PASS = 3_000_000
_ANY_INSTANT = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))  # unbounded $lo, $hi

MONEY = pa.decimal128(18, 4)
BILLING_SCHEMA = pa.schema(
    [
        ("period", pa.date32()),
        ("user_jid", pa.string()),
        ("extension", pa.string()),
        ("name", pa.string()),
        ("site", pa.string()),
        ("department", pa.string()),
        ("cost_center", pa.string()),
        ("rate_plan", pa.string()),
        ("messages_sent", pa.int64()),
        ("messages_received", pa.int64()),
        ("conversations", pa.int64()),
        ("conversations_started", pa.int64()),
        ("usage_cost", MONEY),
        ("fee", MONEY),
        ("markup", MONEY),
        ("tax", MONEY),
        ("total_cost", MONEY),
        ("currency", pa.string()),
    ]
)


@dataclass(frozen=True)
class BillingInputs:
    """Everything besides the messages that a billing row depends on."""

    directory: Directory
    rates: Rates
    timezone: str
    extension_length: int
    source_sites: dict[str, str]

    @classmethod
    def from_config(cls, config: EurConfig) -> BillingInputs:
        """Load and validate directory and rates (ConfigError on any problem, before any write)."""
        return cls(
            directory=load_directory(config.directory, config.extension_length),
            rates=load_rates(config.rates),
            timezone=config.timezone,
            extension_length=config.extension_length,
            source_sites={s.name: s.site for s in config.sources},
        )

    def fingerprint(self) -> str:
        payload = {
            "rules": BILLING_RULES_VERSION,
            "timezone": self.timezone,
            "extension_length": self.extension_length,
            "directory": self.directory.fingerprint_rows(),
            "rates": self.rates.fingerprint(),
            "sources": sorted(self.source_sites.items()),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def period_bounds(periods: list[date], tz: str) -> tuple[datetime, datetime]:
    """UTC instants surely covering the periods (a day of slack absorbs DST quirks at local midnight)."""
    zone = ZoneInfo(tz)
    first, last = min(periods), max(periods)
    after = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    lo = datetime(first.year, first.month, 1, tzinfo=zone) - timedelta(days=1)
    hi = datetime(after.year, after.month, 1, tzinfo=zone) + timedelta(days=1)
    return lo.astimezone(UTC), hi.astimezone(UTC)


def billing_rows(con: duckdb.DuckDBPyConnection, inputs: BillingInputs, pairs: pa.Table) -> pa.Table:
    """The billing rows of the (period, user_jid) ``pairs``, summed from the stored thread
    contributions (no writes)."""
    if pairs.num_rows == 0:
        return BILLING_SCHEMA.empty_table()
    bounds = pc.min_max(pairs.column("period")).as_py()
    con.register("_billing_pairs", pairs)
    try:
        usage = con.sql(
            read_sql("billing_usage.sql"), params={"first": bounds["min"], "last": bounds["max"]}
        ).to_arrow_table()
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_billing_pairs")
    rates = inputs.rates
    columns: dict[str, list[Any]] = {field.name: [] for field in BILLING_SCHEMA}
    for row in usage.to_pylist():
        jid: str = row["user_jid"]
        entry = inputs.directory.lookup(jid)
        site = (entry.site if entry else None) or inputs.source_sites.get(row["source"] or "")
        department = entry.department if entry else None
        plan = rates.plan_for(site, department)
        charge = rates.charge(plan, row["messages_sent"], row["messages_received"], row["conversations_started"])
        values: dict[str, Any] = {
            "period": row["period"],
            "user_jid": jid,
            "extension": extension_of(jid, inputs.extension_length),
            "name": entry.name if entry else None,
            "site": site,
            "department": department,
            "cost_center": entry.cost_center if entry else None,
            "rate_plan": plan,
            "messages_sent": row["messages_sent"],
            "messages_received": row["messages_received"],
            "conversations": row["conversations"],
            "conversations_started": row["conversations_started"],
            "usage_cost": charge.usage,
            "fee": charge.fee,
            "markup": charge.markup,
            "tax": charge.tax,
            "total_cost": charge.total,
            "currency": rates.currency,
        }
        for key, value in values.items():
            columns[key].append(value)
    return pa.Table.from_pydict(columns, schema=BILLING_SCHEMA)


def _pending_scope(con: duckdb.DuckDBPyConnection, tz: str, full: bool, pending: int) -> dict[str, datetime | date]:
    """Where the data of the threads in ``_billing_pending`` lies: UTC instants ``lo``..``hi`` bounding
    their messages (their conversations' first and last) and the periods ``first``..``last`` between,
    which also hold their old contributions (a thread only gains messages, so it never leaves a month).
    Unbounded when ``full`` or when a pending thread has no conversation row. Constant bounds let
    DuckDB skip the rest of each table by its zone maps."""
    if not full:
        lo, hi, found = con.execute(
            "SELECT min(started_at), max(ended_at), count(*) FROM conversations "
            "WHERE thread_id IN (SELECT thread_id FROM _billing_pending)"
        ).fetchall()[0]
        if found == pending:
            zone = ZoneInfo(tz)
            first, last = (t.astimezone(zone).date().replace(day=1) for t in (lo, hi))
            return {"lo": lo, "hi": hi, "first": first, "last": last}
    return {
        "lo": _ANY_INSTANT[0],
        "hi": _ANY_INSTANT[1],
        "first": date.min,
        "last": date.max,
    }


def _one_pass(lo: datetime, hi: datetime) -> dict[str, object]:
    """billing_thread_periods.sql's parameters for every thread of the scope in one pass, any period."""
    return {"lo": lo, "hi": hi, "first": date.min, "last": date.max, "passes": 1, "part": 0}


def _rebuild_passes(con: duckdb.DuckDBPyConnection, tz: str) -> list[dict[str, object]]:
    """The passes of a full rebuild (parameters of billing_thread_periods.sql). Up to ROWS_PER_PASS
    rows in all: one pass over everything. Beyond: each local month that holds rows, within its
    instants (zone maps skip the other months), cut by thread-key hash into ceil(rows / ROWS_PER_PASS)
    parts. A contribution's period is its own event's month, so each lands in exactly one pass."""
    (total,) = con.execute(
        "SELECT (SELECT count(*) FROM message_records) + (SELECT count(*) FROM messages)"
        " + (SELECT count(*) FROM conversations)"
    ).fetchall()[0]
    if total <= ROWS_PER_PASS:
        return [_one_pass(*_ANY_INSTANT)]
    months = con.execute(
        "SELECT month, count(*) FROM ("
        " SELECT date_trunc('month', timezone($tz, sent_at))::DATE AS month FROM message_records"
        " UNION ALL SELECT date_trunc('month', timezone($tz, sent_at))::DATE FROM messages"
        " UNION ALL SELECT date_trunc('month', timezone($tz, started_at))::DATE FROM conversations"
        ") GROUP BY month ORDER BY month",
        {"tz": tz},
    ).fetchall()
    passes: list[dict[str, object]] = []
    for month, rows in months:
        lo, hi = period_bounds([month], tz)
        parts = max(1, -(-int(rows) // ROWS_PER_PASS))
        passes += [
            {"lo": lo, "hi": hi, "first": month, "last": month, "passes": parts, "part": i} for i in range(parts)
        ]
    return passes


def refresh_billing(con: duckdb.DuckDBPyConnection, config: EurConfig, full: bool = False) -> int:
    """Recompute the billing rows (period × user) touched by stage-'billing' threads (all months when
    ``full`` or when billing's inputs changed) and consume those queue rows, in one transaction.

    Returns the number of billing rows written. Raises ConfigError (before writing) when the
    directory or rates file is invalid.
    """
    inputs = BillingInputs.from_config(config)
    fingerprint = inputs.fingerprint()
    with serial_section(con):  # on a lake, one writer rebuilds billing rows at a time
        return _refresh_billing(con, inputs, fingerprint, full)


def _refresh_billing(con: duckdb.DuckDBPyConnection, inputs: BillingInputs, fingerprint: str, full: bool) -> int:
    tz = inputs.timezone
    with transaction(con):
        full = full or get_setting(con, "billing.fingerprint") != fingerprint
        sync_budget_lines(con, inputs.rates)  # budgets change no cost, but budget_status reads them
        pending = con.sql("SELECT DISTINCT thread_id FROM pending_threads WHERE stage = 'billing'").to_arrow_table()
        if not full and pending.num_rows == 0:
            return 0
        # a full rebuild reads every thread: no queue to match each row against (memory under the cap)
        con.register("_billing_pending", pending.slice(0, 0) if full else pending)
        con.register("_user_aliases", inputs.directory.alias_table())
        try:
            scope = _pending_scope(con, tz, full, pending.num_rows)
            # a thread retention purged keeps its contributions: its messages are gone, its billing is not
            mine = (
                "FROM billing_thread_periods WHERE period BETWEEN $first AND $last "
                "AND ($full OR thread_id IN (SELECT thread_id FROM _billing_pending)) "
                "AND thread_id NOT IN (SELECT thread_id FROM purged_threads)"
            )
            mine_params = {"full": full, "first": scope["first"], "last": scope["last"]}
            pairs_sql = f"SELECT DISTINCT period, user_jid {mine}"
            # the rows these threads touched when last billed, then those they touch now
            old_pairs = con.sql(pairs_sql, params=mine_params).to_arrow_table()
            con.execute(f"DELETE {mine}", mine_params)
            for params in _rebuild_passes(con, tz) if full else [_one_pass(scope["lo"], scope["hi"])]:
                con.execute(
                    "INSERT INTO billing_thread_periods BY NAME " + read_sql("billing_thread_periods.sql"),
                    {"tz": tz, "full": full, **params},
                )
            new_pairs = (
                con.sql("SELECT DISTINCT period, user_jid FROM billing_thread_periods").to_arrow_table()
                if full  # every row, purged threads' included
                else con.sql(pairs_sql, params=mine_params).to_arrow_table()
            )
            pairs = pa.concat_tables([old_pairs, new_pairs]).group_by(["period", "user_jid"]).aggregate([])
            rows = billing_rows(con, inputs, pairs)
            con.register("_billing_rows", rows)
            con.register("_billing_touched", pairs)
            con.execute(
                "DELETE FROM billing"
                + ("" if full else " WHERE (period, user_jid) IN (SELECT (period, user_jid) FROM _billing_touched)")
            )
            con.execute("INSERT INTO billing BY NAME SELECT * FROM _billing_rows")
            con.execute(
                "DELETE FROM pending_threads WHERE stage = 'billing'"
                + ("" if full else " AND thread_id IN (SELECT thread_id FROM _billing_pending)")
            )
            if full:  # the inputs changed (or a full rebuild): the stored directory follows them
                inputs.directory.store(con)
            set_setting(con, "billing.fingerprint", fingerprint)
            set_setting(con, "timezone", tz)
        finally:
            for name in ("_billing_pending", "_billing_rows", "_billing_touched", "_user_aliases"):
                with contextlib.suppress(duckdb.Error):
                    con.unregister(name)
    return rows.num_rows


def billing_totals(con: duckdb.DuckDBPyConnection, period: date | None = None) -> dict[str, Decimal]:
    """Exact sums of the money columns (all periods, or one): what invoices must add up to."""
    where = "WHERE period = ?" if period is not None else ""
    params = [period] if period is not None else []
    row = con.execute(
        "SELECT coalesce(sum(usage_cost), 0), coalesce(sum(fee), 0), coalesce(sum(markup), 0), "
        f"coalesce(sum(tax), 0), coalesce(sum(total_cost), 0) FROM billing {where}",
        params,
    ).fetchall()[0]
    keys = ("usage_cost", "fee", "markup", "tax", "total_cost")
    return {k: Decimal(v) for k, v in zip(keys, row, strict=True)}


__all__ = [
    "BILLING_SCHEMA",
    "BillingInputs",
    "billing_rows",
    "billing_totals",
    "refresh_billing",
]
