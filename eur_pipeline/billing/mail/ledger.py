"""``mail_sent``: what the SMTP server accepted, so a re-run sends nothing twice (and audit_log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb

from eur_pipeline.compliance.audit import record
from eur_pipeline.warehouse.connection import transaction


@dataclass(frozen=True, slots=True)
class SentMail:
    """One accepted message, as recorded."""

    kind: str  # 'report' | 'budget_alert'
    period: date
    mail_key: str
    scope: str
    name: str | None
    recipients: tuple[str, ...]
    subject: str
    message_id: str
    size_bytes: int


def sent_at(con: duckdb.DuckDBPyConnection, kind: str, period: date, mail_key: str) -> datetime | None:
    """When this mail was accepted before, or None."""
    row = con.execute(
        "SELECT min(sent_at) FROM mail_sent WHERE kind = ? AND period = ? AND mail_key = ?", [kind, period, mail_key]
    ).fetchone()
    return row[0] if row else None


def record_sent(con: duckdb.DuckDBPyConnection, mail: SentMail, actor: str | None = None) -> None:
    """Record an accepted message and its audit row, together (call only after the server took it)."""
    with transaction(con):
        con.execute(
            "INSERT INTO mail_sent VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                mail.kind,
                mail.period,
                mail.mail_key,
                mail.scope,
                mail.name,
                ",".join(mail.recipients),
                mail.subject,
                mail.message_id,
                mail.size_bytes,
                datetime.now(UTC),
            ],
        )
        record(
            con,
            "mail_sent",
            {
                "kind": mail.kind,
                "period": mail.period.isoformat(),
                "scope": mail.scope,
                "name": mail.name,
                "to": list(mail.recipients),
                "subject": mail.subject,
                "message_id": mail.message_id,
                "bytes": mail.size_bytes,
            },
            actor=actor,
        )
