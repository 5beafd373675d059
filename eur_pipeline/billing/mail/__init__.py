"""Monthly reports by mail ("burst" distribution) and budget alerts.

``compose`` builds one message per recipient entry (the scope's report as an inline-styled HTML body,
the scope's per-user CSV attached), ``smtp`` delivers it (STARTTLS and login optional; every failure is
one line naming ``host:port``), ``ledger`` remembers what the server accepted (``mail_sent``, plus an
``audit_log`` row) so nothing is sent twice, and ``send`` ties them together for a period.
"""

from eur_pipeline.billing.mail.send import MailOutcome, default_period, send_budget_alerts, send_reports
from eur_pipeline.billing.mail.smtp import MailDeliveryError

__all__ = ["MailDeliveryError", "MailOutcome", "default_period", "send_budget_alerts", "send_reports"]
