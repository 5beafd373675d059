"""Send a period's reports (and first-time budget alerts) to every recipient entry, exactly once each.

Messages are composed first (reads only); the SMTP session opens only when something is due. Each
message is recorded in ``mail_sent`` and ``audit_log`` right after the server accepted it, so a
failure part-way leaves the sent ones recorded and the rest due for the retry — never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import duckdb

from eur_pipeline.billing.budgets import BudgetStatus, budget_status, latest_period
from eur_pipeline.billing.mail.compose import Composed, compose, mail_key
from eur_pipeline.billing.mail.ledger import SentMail, record_sent, sent_at
from eur_pipeline.billing.mail.smtp import SmtpSender
from eur_pipeline.billing.reports.data import add_months
from eur_pipeline.config import EurConfig
from eur_pipeline.config.mail import MailConfig, MailRecipient
from eur_pipeline.errors import ConfigError
from eur_pipeline.warehouse.lake import named_claim


@dataclass(frozen=True)
class MailOutcome:
    """What happened to one recipient entry's mail."""

    entry: MailRecipient
    status: str  # 'sent' | 'already sent' | 'dry run'
    subject: str
    size_bytes: int
    attachments: tuple[tuple[str, int], ...]
    users: int

    def line(self) -> str:
        files = ", ".join(f"{name} ({size:,} B)" for name, size in self.attachments)
        who = self.entry.scope if self.entry.name is None else f"{self.entry.scope} {self.entry.name}"
        return (
            f"{self.status}: {who} → {', '.join(self.entry.to)}: {self.subject!r}, "
            f"{self.size_bytes:,} B, {self.users} user(s), attached {files}"
        )


def default_period(timezone: str, now: datetime | None = None) -> date:
    """The month before ``now`` (default: the current time) in ``timezone``."""
    local = (now or datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone))
    return add_months(date(local.year, local.month, 1), -1)


def _mail_config(config: EurConfig) -> MailConfig:
    if config.mail is None:
        raise ConfigError("no mail: block in the configuration (smtp_host, sender, recipients)")
    return config.mail


SenderFactory = Callable[[MailConfig], SmtpSender]


def _deliver(
    con: duckdb.DuckDBPyConnection,
    mail: MailConfig,
    kind: str,
    period: date,
    due: list[tuple[MailRecipient, str, Composed]],
    actor: str | None,
    sender_factory: SenderFactory,
) -> list[MailOutcome]:
    out: list[MailOutcome] = []
    if not due:
        return out
    with sender_factory(mail) as smtp:
        for entry, key, composed in due:
            smtp.send(composed.message)  # MailDeliveryError: the ones before stay recorded
            record_sent(
                con,
                SentMail(
                    kind=kind,
                    period=period,
                    mail_key=key,
                    scope=entry.scope,
                    name=entry.name,
                    recipients=entry.to,
                    subject=composed.subject,
                    message_id=str(composed.message["Message-ID"]),
                    size_bytes=composed.size_bytes,
                ),
                actor=actor,
            )
            out.append(_outcome(entry, "sent", composed))
    return out


def _outcome(entry: MailRecipient, status: str, c: Composed) -> MailOutcome:
    return MailOutcome(entry, status, c.subject, c.size_bytes, c.attachments, c.users)


def send_reports(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    period: date | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    actor: str | None = None,
    sender_factory: SenderFactory = SmtpSender,
) -> list[MailOutcome]:
    """Mail each ``mail.recipients`` entry its scope's report for ``period`` (default: last month).

    An entry already sent for the period is skipped unless ``force``; ``dry_run`` composes and reports
    without connecting or recording. Raises MailDeliveryError (one line, naming host:port)."""
    mail = _mail_config(config)
    period = period or default_period(config.timezone)
    with named_claim(con, "mail", "mail sending"):  # on a lake: two writers never both send one mail
        return _send_reports(con, config, mail, period, dry_run, force, actor, sender_factory)


def _send_reports(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    mail: MailConfig,
    period: date,
    dry_run: bool,
    force: bool,
    actor: str | None,
    sender_factory: SenderFactory,
) -> list[MailOutcome]:
    outcomes: list[MailOutcome] = []
    due: list[tuple[MailRecipient, str, Composed]] = []
    for entry in mail.recipients:
        key = mail_key(entry)
        composed = compose(con, config, mail, entry, period)
        if dry_run:
            outcomes.append(_outcome(entry, "dry run", composed))
        elif not force and sent_at(con, "report", period, key) is not None:
            outcomes.append(_outcome(entry, "already sent", composed))
        else:
            due.append((entry, key, composed))
    return outcomes + _deliver(con, mail, "report", period, due, actor, sender_factory)


def send_budget_alerts(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    period: date | None = None,
    *,
    actor: str | None = None,
    sender_factory: SenderFactory = SmtpSender,
) -> list[MailOutcome]:
    """One alert to a scope's recipients the first time its budget is crossed in ``period`` (default:
    the newest billed period). Lines without a recipient entry of their scope send nothing."""
    if config.mail is None:
        return []
    mail = config.mail
    period = period or latest_period(con)
    if period is None:
        return []
    with named_claim(con, "mail", "mail sending"):
        return _send_alerts(con, config, mail, period, actor, sender_factory)


def _send_alerts(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    mail: MailConfig,
    period: date,
    actor: str | None,
    sender_factory: SenderFactory,
) -> list[MailOutcome]:
    over: dict[tuple[str, str], BudgetStatus] = {
        (b.scope, b.name): b for b in budget_status(con, period, over_only=True)
    }
    due = []
    for entry in mail.recipients:
        line = over.get((entry.scope, entry.name or ""))
        if line is None:
            continue
        key = f"{mail_key(entry)}|budget"
        if sent_at(con, "budget_alert", period, key) is None:
            due.append((entry, key, compose(con, config, mail, entry, period, alerts=[line])))
    return _deliver(con, mail, "budget_alert", period, due, actor, sender_factory)
