"""Integrity checks in plain SQL: the ledger, records, messages, conversations and billing reconcile.

Each check returns a list of :class:`Finding` (empty = passed) and never writes. Threads still
queued in ``pending_threads`` for a later stage are not yet expected to reconcile, so the
downstream checks leave them out; billing is only reconciled when the queue is empty.
The Dagster asset checks call these after each materialization (see :data:`CHECKS_BY_ASSET`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

EXAMPLES = 20


@dataclass(frozen=True)
class Finding:
    """One broken invariant: which check, what is wrong in one sentence, and a few offending rows."""

    check: str
    message: str
    examples: list[tuple] = field(default_factory=list)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def ledger_matches_loaded_rows(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Per file: ``record_count`` / ``rejected_count`` equal the rows loaded; quarantined files load nothing;
    no record belongs to a file missing from the ledger; one ledger row per content."""
    found: list[Finding] = []
    rows = _rows(
        con,
        """SELECT a.file_id, a.name, a.status, a.record_count, coalesce(r.n, 0), a.rejected_count, coalesce(j.n, 0)
           FROM archive_files a
           LEFT JOIN (SELECT file_id, count(*) AS n FROM message_records GROUP BY ALL) r USING (file_id)
           LEFT JOIN (SELECT file_id, count(*) AS n FROM rejected_records GROUP BY ALL) j USING (file_id)
           WHERE a.record_count <> coalesce(r.n, 0) OR a.rejected_count <> coalesce(j.n, 0)
              OR (a.status = 'quarantined' AND coalesce(r.n, 0) + coalesce(j.n, 0) > 0)
           ORDER BY a.file_id""",
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
    orphans = _rows(
        con,
        """SELECT file_id, count(*) FROM (
               SELECT file_id FROM message_records UNION ALL SELECT file_id FROM rejected_records)
           WHERE file_id NOT IN (SELECT file_id FROM archive_files) GROUP BY ALL ORDER BY 1""",
    )
    if orphans:
        found.append(
            Finding(
                "ledger_matches_loaded_rows", f"rows of {len(orphans)} file(s) not in the ledger", orphans[:EXAMPLES]
            )
        )
    dupes = _rows(
        con,
        """SELECT file_id, record_no, count(*) FROM message_records GROUP BY ALL HAVING count(*) > 1
           ORDER BY 1, 2 LIMIT 20""",
    )
    if dupes:
        found.append(Finding("ledger_matches_loaded_rows", "a record was loaded more than once", dupes))
    return found


def records_match_messages(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Per thread (not queued at 'messages'): every record is folded into exactly one logical message."""
    rows = _rows(
        con,
        """WITH r AS (SELECT thread_key(thread_id, sender, recipient) AS thread_id, count(*) AS n
                     FROM message_records GROUP BY ALL),
                m AS (SELECT thread_id, sum(record_count) AS n FROM messages GROUP BY ALL)
           SELECT thread_id, coalesce(r.n, 0), coalesce(m.n, 0)
           FROM r FULL JOIN m USING (thread_id)
           WHERE coalesce(r.n, 0) <> coalesce(m.n, 0)
             AND thread_id NOT IN (SELECT thread_id FROM pending_threads WHERE stage = 'messages')
           ORDER BY 1""",
    )
    if not rows:
        return []
    return [
        Finding(
            "records_match_messages",
            f"{len(rows)} thread(s) whose records and messages disagree (thread, records, records in messages)",
            rows[:EXAMPLES],
        )
    ]


def messages_match_conversations(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Per thread (not queued at 'messages' or 'conversations'): one conversation whose message_count,
    start and end agree with its messages."""
    rows = _rows(
        con,
        """WITH m AS (SELECT thread_id, count(*) AS n, min(sent_at) AS lo, max(sent_at) AS hi
                     FROM messages GROUP BY ALL)
           SELECT thread_id, m.n, c.message_count
           FROM m FULL JOIN conversations c USING (thread_id)
           WHERE (m.n IS DISTINCT FROM c.message_count OR m.lo IS DISTINCT FROM c.started_at
                  OR m.hi IS DISTINCT FROM c.ended_at)
             AND thread_id NOT IN (SELECT thread_id FROM pending_threads WHERE stage IN ('messages', 'conversations'))
           ORDER BY 1""",
    )
    if not rows:
        return []
    return [
        Finding(
            "messages_match_conversations",
            f"{len(rows)} thread(s) whose conversation row disagrees with its messages (thread, messages, count)",
            rows[:EXAMPLES],
        )
    ]


def billing_matches_messages(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """With the queue empty: billing counts every message sent and received and every conversation
    started exactly once, and each row's total is usage + fee + markup + tax."""
    pending = _rows(con, "SELECT count(*) FROM pending_threads")[0][0]
    if pending:
        return []
    found: list[Finding] = []
    totals = _rows(
        con,
        """SELECT (SELECT count(*) FROM messages), (SELECT coalesce(sum(messages_sent), 0) FROM billing),
                  (SELECT coalesce(sum(recipient_count), 0) FROM messages),
                  (SELECT coalesce(sum(messages_received), 0) FROM billing),
                  (SELECT count(*) FROM conversations),
                  (SELECT coalesce(sum(conversations_started), 0) FROM billing)""",
    )[0]
    labels = ("messages sent", "messages received", "conversations started")
    for i, label in enumerate(labels):
        expected, billed = totals[2 * i], totals[2 * i + 1]
        if expected != billed:
            found.append(
                Finding("billing_matches_messages", f"billing counts {billed} {label}, the warehouse holds {expected}")
            )
    bad_totals = _rows(
        con,
        """SELECT period, user_jid, usage_cost, fee, markup, tax, total_cost FROM billing
           WHERE total_cost <> usage_cost + fee + markup + tax ORDER BY 1, 2 LIMIT 20""",
    )
    if bad_totals:
        found.append(Finding("billing_matches_messages", "total_cost is not usage + fee + markup + tax", bad_totals))
    return found


CHECKS: dict[str, Callable[[duckdb.DuckDBPyConnection], list[Finding]]] = {
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


def check_integrity(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Every check; an empty list means the warehouse reconciles."""
    return [finding for check in CHECKS.values() for finding in check(con)]
