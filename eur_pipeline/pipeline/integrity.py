"""Integrity checks in plain SQL: the ledger, records, messages, conversations and billing reconcile.

Each check returns a list of :class:`Finding` (empty = passed) and never writes. Threads still
queued in ``pending_threads`` for a later stage are not yet expected to reconcile, so the
downstream checks leave them out; billing is only reconciled when the queue is empty.

Scope: by default a check sweeps the whole warehouse. Given ``since`` (an instant), it looks only at
the files collected at or after it, the threads those files' records belong to, and the billing
periods those threads touch — the work of the runs since the check last passed, so its cost follows
the change, not the warehouse. The Dagster asset checks run scoped after each materialization
(watermark per check in ``eur_settings``, see :func:`watermark`); a daily full sweep covers what a
scope cannot see (rows tampered outside any run, records of no file). See :data:`CHECKS_BY_ASSET`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from eur_pipeline.warehouse.connection import serial_section, transaction
from eur_pipeline.warehouse.settings import get_setting, set_setting

EXAMPLES = 20
# A scoped check re-reads the files collected this long before its watermark: collected_at is taken
# when a download starts, so files committed in one run need not be stamped in commit order.
WATERMARK_SLACK = timedelta(hours=1)

# Files, then threads, in scope; $since NULL means everything.
_SCOPE_FILES = "SELECT file_id FROM archive_files WHERE $since IS NULL OR collected_at >= $since"
_SCOPE_THREADS = (
    "SELECT DISTINCT thread_key(thread_id, sender, recipient) AS thread_id FROM message_records "
    f"WHERE file_id IN ({_SCOPE_FILES})"
)


@dataclass(frozen=True)
class Finding:
    """One broken invariant: which check, what is wrong in one sentence, and a few offending rows."""

    check: str
    message: str
    examples: list[tuple] = field(default_factory=list)


def _thread_findings(check: str, rows: list[tuple], what: str) -> list[Finding]:
    """No finding when no thread disagrees; else one, with the count and a few example rows."""
    return [Finding(check, f"{len(rows)} thread(s) {what}", rows[:EXAMPLES])] if rows else []


def _rows(con: duckdb.DuckDBPyConnection, sql: str, since: datetime | None = None, **params: object) -> list[tuple]:
    if "$since" in sql:
        params["since"] = since
    return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()


def ledger_matches_loaded_rows(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> list[Finding]:
    """Per file: ``record_count`` / ``rejected_count`` equal the rows loaded; quarantined files load nothing;
    no record belongs to a file missing from the ledger; one ledger row per content."""
    found: list[Finding] = []
    rows = _rows(
        con,
        f"""WITH files AS ({_SCOPE_FILES})
           SELECT a.file_id, a.name, a.status, a.record_count, coalesce(r.n, 0), a.rejected_count, coalesce(j.n, 0)
           FROM archive_files a
           LEFT JOIN (SELECT file_id, count(*) AS n FROM message_records
                      WHERE file_id IN (SELECT file_id FROM files) GROUP BY ALL) r USING (file_id)
           LEFT JOIN (SELECT file_id, count(*) AS n FROM rejected_records
                      WHERE file_id IN (SELECT file_id FROM files) GROUP BY ALL) j USING (file_id)
           -- rows removed by retention (compliance/retention.py) still count as loaded
           LEFT JOIN (SELECT file_id, sum(records) AS records, sum(rejects) AS rejects FROM purged_file_rows
                      GROUP BY ALL) p USING (file_id)
           WHERE a.file_id IN (SELECT file_id FROM files)
             AND (a.record_count <> coalesce(r.n, 0) + coalesce(p.records, 0)
                  OR a.rejected_count <> coalesce(j.n, 0) + coalesce(p.rejects, 0)
                  OR (a.status = 'quarantined' AND coalesce(r.n, 0) + coalesce(j.n, 0) > 0))
           ORDER BY a.file_id""",
        since,
    )
    if rows:
        found.append(
            Finding(
                "ledger_matches_loaded_rows",
                f"{len(rows)} file(s) whose ledger counts differ from the rows loaded "
                "(file_id, name, status, ledger records, loaded, ledger rejects, loaded)",
                rows[:EXAMPLES],
            )
        )
    if since is None:  # rows of no file are outside every scope: the full sweep looks for them
        orphans = _rows(
            con,
            """SELECT file_id, count(*) FROM (
                   SELECT file_id FROM message_records UNION ALL SELECT file_id FROM rejected_records)
               WHERE file_id NOT IN (SELECT file_id FROM archive_files) GROUP BY ALL ORDER BY 1""",
        )
        if orphans:
            found.append(
                Finding(
                    "ledger_matches_loaded_rows",
                    f"rows of {len(orphans)} file(s) not in the ledger",
                    orphans[:EXAMPLES],
                )
            )
    dupes = _rows(
        con,
        f"""SELECT file_id, record_no, count(*) FROM message_records
           WHERE file_id IN ({_SCOPE_FILES}) GROUP BY ALL HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 20""",
        since,
    )
    if dupes:
        found.append(Finding("ledger_matches_loaded_rows", "a record was loaded more than once", dupes))
    return found


def records_match_messages(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> list[Finding]:
    """Per thread (not queued at 'messages'): every record is folded into exactly one logical message."""
    if since is None:
        r = (
            "SELECT thread_key(thread_id, sender, recipient) AS thread_id, count(*) AS n "
            "FROM message_records GROUP BY ALL"
        )
        m = "SELECT thread_id, sum(record_count) AS n FROM messages GROUP BY ALL"
    else:
        r = (
            "SELECT thread_id, count(*) AS n FROM (SELECT thread_key(thread_id, sender, recipient) AS thread_id "
            "FROM message_records) WHERE thread_id IN (SELECT thread_id FROM scope) GROUP BY ALL"
        )
        m = (
            "SELECT thread_id, sum(record_count) AS n FROM messages "
            "WHERE thread_id IN (SELECT thread_id FROM scope) GROUP BY ALL"
        )
    rows = _rows(
        con,
        f"""WITH scope AS ({_SCOPE_THREADS}), r AS ({r}), m AS ({m})
           SELECT thread_id, coalesce(r.n, 0), coalesce(m.n, 0)
           FROM r FULL JOIN m USING (thread_id)
           WHERE coalesce(r.n, 0) <> coalesce(m.n, 0)
             AND thread_id NOT IN (SELECT thread_id FROM pending_threads WHERE stage = 'messages')
           ORDER BY 1""",
        since,
    )
    return _thread_findings(
        "records_match_messages", rows, "whose records and messages disagree (thread, records, records in messages)"
    )


def messages_match_conversations(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> list[Finding]:
    """Per thread (not queued at 'messages' or 'conversations'): one conversation whose message_count,
    start and end agree with its messages."""
    in_scope = "" if since is None else "WHERE thread_id IN (SELECT thread_id FROM scope)"
    rows = _rows(
        con,
        f"""WITH scope AS ({_SCOPE_THREADS}),
                m AS (SELECT thread_id, count(*) AS n, min(sent_at) AS lo, max(sent_at) AS hi
                      FROM messages {in_scope} GROUP BY ALL),
                c AS (SELECT * FROM conversations {in_scope})
           SELECT thread_id, m.n, c.message_count
           FROM m FULL JOIN c USING (thread_id)
           WHERE (m.n IS DISTINCT FROM c.message_count OR m.lo IS DISTINCT FROM c.started_at
                  OR m.hi IS DISTINCT FROM c.ended_at)
             AND thread_id NOT IN (SELECT thread_id FROM pending_threads WHERE stage IN ('messages', 'conversations'))
             AND thread_id NOT IN (SELECT thread_id FROM purged_threads)  -- conversation kept, messages purged
           ORDER BY 1""",
        since,
    )
    return _thread_findings(
        "messages_match_conversations",
        rows,
        "whose conversation row disagrees with its messages (thread, messages, count)",
    )


def billing_periods(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> list[tuple]:
    """Per billing period (all, or those the threads in scope touch): messages and deliveries in the
    warehouse vs billed sent and received, conversations started vs billed (period, then 3 pairs)."""
    # the zone billing last used, as a constant: read per row from eur_settings, timezone() took 1.9 s
    # over 750,704 messages instead of 0.6 s
    stored = get_setting(con, "timezone")
    zone = "UTC" if stored is None else stored
    tz = "$tz"
    scoped = since is not None
    periods = (
        f"""SELECT DISTINCT period FROM billing_thread_periods WHERE thread_id IN (SELECT thread_id FROM scope)
            UNION SELECT DISTINCT date_trunc('month', timezone({tz}, sent_at))::DATE FROM messages
                  WHERE thread_id IN (SELECT thread_id FROM scope)"""
        if scoped
        else "SELECT DISTINCT period FROM billing"
    )
    # scoped: the periods' messages (and conversations) found through their UTC bounds first
    bounds = "sent_at >= (SELECT lo FROM b) AND sent_at < (SELECT hi FROM b) AND " if scoped else ""
    cbounds = "started_at >= (SELECT lo FROM b) AND started_at < (SELECT hi FROM b) AND " if scoped else ""
    scope = f"WITH scope AS ({_SCOPE_THREADS})," if scoped else "WITH"
    return _rows(
        con,
        f"""{scope}
               p AS ({periods}),
               b AS (SELECT timezone({tz}, min(period)::TIMESTAMP) - INTERVAL 1 DAY AS lo,
                            timezone({tz}, max(period)::TIMESTAMP) + INTERVAL 32 DAY AS hi FROM p),
               m AS (SELECT period, sum(n) AS messages, sum(recipient_count) AS deliveries
                     FROM (SELECT date_trunc('month', timezone({tz}, sent_at))::DATE AS period, 1 AS n, recipient_count
                           FROM messages WHERE {bounds} TRUE
                           -- threads retention purged: their messages are gone, their billed counts stay
                           UNION ALL
                           SELECT period, messages_sent, messages_received FROM billing_thread_periods
                           WHERE thread_id IN (SELECT thread_id FROM purged_threads))
                     WHERE {"period IN (SELECT period FROM p)" if scoped else "TRUE"} GROUP BY ALL),
               c AS (SELECT period, count(*) AS started
                     FROM (SELECT date_trunc('month', timezone({tz}, started_at))::DATE AS period
                           FROM conversations WHERE {cbounds} TRUE)
                     WHERE {"period IN (SELECT period FROM p)" if scoped else "TRUE"} GROUP BY ALL),
               bl AS (SELECT period, sum(messages_sent) AS sent, sum(messages_received) AS received,
                             sum(conversations_started) AS started
                      FROM billing WHERE {"period IN (SELECT period FROM p)" if scoped else "TRUE"} GROUP BY ALL)
           SELECT period, coalesce(m.messages, 0), coalesce(bl.sent, 0), coalesce(m.deliveries, 0),
                  coalesce(bl.received, 0), coalesce(c.started, 0), coalesce(bl.started, 0)
           FROM m FULL JOIN bl USING (period) FULL JOIN c USING (period) ORDER BY period""",
        since,
        tz=zone,
    )


def mismatched_periods(rows: list[tuple]) -> list[tuple]:
    """The rows of :func:`billing_periods` where any billed count differs from the warehouse's."""
    return [r for r in rows if r[1] != r[2] or r[3] != r[4] or r[5] != r[6]]


def billing_matches_messages(
    con: duckdb.DuckDBPyConnection,
    since: datetime | None = None,
    periods: Callable[[duckdb.DuckDBPyConnection, datetime | None], list[tuple]] = billing_periods,
) -> list[Finding]:
    """With the queue empty: billing counts every message sent and received and every conversation
    started exactly once (per period), and each row's total is usage + fee + markup + tax.
    ``periods``: where the per-period counts come from (the billing check shares them)."""
    pending = _rows(con, "SELECT count(*) FROM pending_threads")[0][0]
    if pending:
        return []
    found: list[Finding] = []
    rows = periods(con, since)
    labels = ("messages sent", "messages received", "conversations started")
    for i, label in enumerate(labels):
        bad = [(r[0], r[1 + 2 * i], r[2 + 2 * i]) for r in rows if r[1 + 2 * i] != r[2 + 2 * i]]
        if bad:
            expected = sum(e for _, e, _ in bad)
            billed = sum(b for _, _, b in bad)
            found.append(
                Finding(
                    "billing_matches_messages",
                    f"billing counts {billed} {label} in {len(bad)} period(s), the warehouse holds {expected} "
                    "(period, warehouse, billed)",
                    bad[:EXAMPLES],
                )
            )
    periods = [r[0] for r in rows]
    bad_totals = (
        con.execute(
            """SELECT period, user_jid, usage_cost, fee, markup, tax, total_cost FROM billing
               WHERE total_cost <> usage_cost + fee + markup + tax AND ($all OR list_contains($periods, period))
               ORDER BY 1, 2 LIMIT 20""",
            {"all": since is None, "periods": periods},
        ).fetchall()
        if since is None or periods
        else []
    )
    if bad_totals:
        found.append(Finding("billing_matches_messages", "total_cost is not usage + fee + markup + tax", bad_totals))
    return found


Check = Callable[..., list[Finding]]

CHECKS: dict[str, Check] = {
    "ledger_matches_loaded_rows": ledger_matches_loaded_rows,
    "records_match_messages": records_match_messages,
    "messages_match_conversations": messages_match_conversations,
    "billing_matches_messages": billing_matches_messages,
}

# Which asset each check belongs to, for the Dagster asset checks.
CHECKS_BY_ASSET: dict[str, str] = {
    "ledger_matches_loaded_rows": "message_records",
    "records_match_messages": "messages",
    "messages_match_conversations": "conversations",
    "billing_matches_messages": "billing",
}

# The queue stages a check leaves out: while threads wait there, its watermark does not move.
_WAITS_ON: dict[str, tuple[str, ...]] = {
    "ledger_matches_loaded_rows": (),
    "records_match_messages": ("messages",),
    "messages_match_conversations": ("messages", "conversations"),
    "billing_matches_messages": ("messages", "conversations", "billing"),
}


def check_integrity(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> list[Finding]:
    """Every check (whole warehouse, or scoped to files collected since ``since``); empty = reconciles."""
    return [finding for check in CHECKS.values() for finding in check(con, since)]


def _key(name: str) -> str:
    return f"integrity.{name}.checked_to"


def watermark(con: duckdb.DuckDBPyConnection, name: str) -> datetime | None:
    """Where check ``name``'s scope starts: its last passing run's newest file minus the slack (None: never
    passed, so the whole warehouse)."""
    stored = get_setting(con, _key(name))
    return None if stored is None else datetime.fromisoformat(stored) - WATERMARK_SLACK


def run_scoped(
    con: duckdb.DuckDBPyConnection, name: str, full: bool = False, check: Check | None = None
) -> tuple[list[Finding], datetime | None]:
    """Run check ``name`` (or ``check`` in its place) from its watermark (or over everything when
    ``full``); when it passes, move the watermark to the newest file it covered, unless threads it
    leaves out are still queued. Returns the findings and the scope's start (None = whole warehouse).
    Writes only ``eur_settings``."""
    since = None if full else watermark(con, name)
    newest = con.execute("SELECT max(collected_at) FROM archive_files").fetchall()[0][0]
    findings = (check or CHECKS[name])(con, since)
    stages = _WAITS_ON[name]
    waiting = 0
    if stages:
        sql = "SELECT count(*) FROM pending_threads WHERE list_contains(?, stage)"
        waiting = con.execute(sql, [list(stages)]).fetchall()[0][0]
    if not findings and not waiting and newest is not None:
        with serial_section(con), transaction(con):
            set_setting(con, _key(name), newest.isoformat())
    return findings, since


@dataclass(frozen=True)
class BillingReconciliation:
    """The billing check's outcome: findings, where its scope started and the per-period counts it compared."""

    findings: list[Finding]
    since: datetime | None
    periods: list[tuple]
    mismatched: int


def reconcile_billing(con: duckdb.DuckDBPyConnection) -> BillingReconciliation:
    """Scoped ``billing_matches_messages`` plus the per-period comparison it is judged on; a period that
    disagrees is a finding even while threads are still queued."""
    counted: list[list[tuple]] = []

    def periods(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[tuple]:
        """billing_periods once per reconciliation: the check and the comparison share it (1.4 s at 750k messages)."""
        if not counted:
            counted.append(billing_periods(con, since))
        return counted[0]

    findings, since = run_scoped(
        con, "billing_matches_messages", check=functools.partial(billing_matches_messages, periods=periods)
    )
    rows = periods(con, since)
    bad = mismatched_periods(rows)
    if bad and not findings:
        findings.insert(0, Finding("billing_reconciles", f"{len(bad)} period(s) where billing and messages disagree"))
    return BillingReconciliation(findings, since, rows, len(bad))
