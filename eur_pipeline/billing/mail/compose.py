"""One recipient entry's message: its scope's report as the HTML body (inline styles, no scripts), a
plain-text summary beside it, the scope's per-user CSV attached (and the printed PDF when there is one).

Everything in it comes from ``billing`` (counts and costs): no message body ever reaches a mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import duckdb

from eur_pipeline.billing.budgets import BudgetStatus
from eur_pipeline.billing.reports.csv_out import render_csv
from eur_pipeline.billing.reports.data import USER_COLUMNS, PeriodData, collect_period
from eur_pipeline.billing.reports.paths import PeriodReport, scope_dir, slug
from eur_pipeline.billing.reports.render import money2, month_label, render_mail_html
from eur_pipeline.billing.reports.scope import Scope
from eur_pipeline.config import EurConfig
from eur_pipeline.config.mail import MailConfig, MailRecipient


def scope_of(entry: MailRecipient) -> Scope:
    return Scope(entry.scope, entry.name)


def mail_key(entry: MailRecipient) -> str:
    """Identifies a recipient entry in ``mail_sent`` (scope, name and the sorted addresses)."""
    return f"{entry.scope}|{entry.name or ''}|{','.join(sorted(entry.to))}"


def attachment_name(scope: Scope, period: date) -> str:
    return f"chargeback-users-{slug(period)}-{scope.slug}.csv"


@dataclass(frozen=True)
class Composed:
    """A message ready to send, with what the command line reports about it."""

    message: EmailMessage
    subject: str
    html_bytes: int
    attachments: tuple[tuple[str, int], ...]  # (file name, bytes)
    users: int

    @property
    def size_bytes(self) -> int:
        return len(self.message.as_bytes())


def _pdf_for(config: EurConfig, scope: Scope, period: date) -> Path | None:
    out = config.resolved_reports_dir
    folder = out if scope.is_all else scope_dir(out, scope.slug)
    pdf = PeriodReport.under(folder, period).pdf
    return pdf if pdf.is_file() else None


def _text_summary(data: PeriodData, alerts: Sequence[BudgetStatus]) -> str:
    t = data.totals
    lines = [f"IM usage and chargeback — {month_label(data.period)} — {data.scope.label}", ""]
    lines += [f"* Budget exceeded: {a.name} spent {money2(a.spent)} of {money2(a.budget)} {a.currency}" for a in alerts]
    lines += [
        f"Active users: {t.active_users}",
        f"Messages sent: {t.messages_sent}",
        f"Conversations started: {t.conversations_started}",
        f"Total cost: {money2(t.total_cost)} {data.currency}",
        "",
        "The full report is the HTML part of this message; exact per-user amounts are in the attached CSV.",
    ]
    return "\n".join(lines) + "\n"


def compose(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    mail: MailConfig,
    entry: MailRecipient,
    period: date,
    alerts: Sequence[BudgetStatus] = (),
) -> Composed:
    """The message for ``entry`` (a report, or a budget alert when ``alerts`` is given)."""
    scope = scope_of(entry)
    data = collect_period(con, config, period, scope)
    cost = f"{money2(data.totals.total_cost)} {data.currency}"
    if alerts:
        subject = f"Budget exceeded: {scope.label} — {month_label(period)}: {cost}"
    else:
        subject = f"IM chargeback — {scope.label} — {month_label(period)}: {cost}"
    csv_name = attachment_name(scope, period)
    html = render_mail_html(data, subject, csv_name, alerts)
    csv_bytes = render_csv(USER_COLUMNS, data.users).encode("utf-8")

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = mail.sender
    msg["To"] = ", ".join(entry.to)
    msg["Date"] = formatdate(localtime=False)
    domain = parseaddr(mail.sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid("eur-chargeback", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_text_summary(data, alerts))
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(csv_bytes, maintype="text", subtype="csv", filename=csv_name)
    attachments = [(csv_name, len(csv_bytes))]
    pdf = None if alerts else _pdf_for(config, scope, period)
    if pdf is not None:
        pdf_bytes = pdf.read_bytes()
        pdf_name = f"chargeback-{slug(period)}-{scope.slug}.pdf"
        msg.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=pdf_name)
        attachments.append((pdf_name, len(pdf_bytes)))
    return Composed(msg, subject, len(html.encode("utf-8")), tuple(attachments), len(data.users))
