"""SMTP delivery with smtplib: optional STARTTLS (certificate verified) and login.

Every failure — server down, TLS refused, login refused, a recipient or the message refused — is a
:class:`MailDeliveryError` whose text is one line naming the server; the password never appears in it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from eur_pipeline.config.mail import MailConfig


class MailDeliveryError(Exception):
    """The SMTP server could not be reached or did not accept a message (exit code 1; Dagster retries)."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = ", ".join(f"{addr} ({code})" for addr, (code, _msg) in exc.recipients.items())
        return f"recipients refused: {codes}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"refused ({exc.smtp_code}): {' '.join(text.split())}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SmtpSender:
    """One SMTP session for a batch of messages (``with SmtpSender(cfg) as s: s.send(msg)``)."""

    def __init__(self, config: MailConfig, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        cafile = str(config.ca_file) if config.ca_file else None
        self.tls_context = tls_context or ssl.create_default_context(cafile=cafile)
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        cfg = self.config
        try:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailDeliveryError(f"SMTP server {cfg.server} cannot be reached: {_reason(exc)}") from None
        try:
            smtp.ehlo()
            if cfg.starttls:
                smtp.starttls(context=self.tls_context)
                smtp.ehlo()
            if cfg.username:
                assert cfg.password is not None  # validated with the configuration
                smtp.login(cfg.username, cfg.password.get_secret_value())
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            step = "login" if isinstance(exc, smtplib.SMTPAuthenticationError) else "session"
            raise MailDeliveryError(f"SMTP server {cfg.server} refused the {step}: {_reason(exc)}") from None
        self._smtp = smtp
        return self

    def send(self, message: EmailMessage) -> None:
        """Returns only once the server accepted the message for every recipient."""
        assert self._smtp is not None
        try:
            refused = self._smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailDeliveryError(
                f"SMTP server {self.config.server} did not take the message: {_reason(exc)}"
            ) from None
        if refused:
            raise MailDeliveryError(
                f"SMTP server {self.config.server} refused some recipients: {', '.join(sorted(refused))}"
            )

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None
