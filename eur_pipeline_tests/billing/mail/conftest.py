"""A real SMTP server (aiosmtpd) on a free loopback port, plain or STARTTLS + login with a throwaway
self-signed certificate; and a small hand-worked billing month with a mail: block pointing at it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.config.loader import load_config
from eur_pipeline.warehouse.migrations import open_warehouse

from ..helpers import Warehouse, jid

USER, PASSWORD = "reports", "s3cret-smtp-pw"
MARKER = "SECRET-BODY-MARKER-7731"  # a message body that must never reach a mail

DIRECTORY = """handle,name,department,cost_center,site
alice@im.example.com,Alice Archer,Engineering,CC-200,Corporation 1/Paris
bob@im.example.com,Bob Brown,Engineering,CC-200,Corporation 1/Lyon
carol@im.example.com,Carol Chen,Sales,CC-100,Corporation 1/Paris
"""
RATES = """currency: EUR
default_plan: standard
plans:
  standard: {per_message_sent: 0.10, per_conversation_started: 1.00, monthly_fee_per_active_user: 2.00}
budgets:
  department: {Engineering: 5.00}
  cost_center: {CC-100: 10.00}
"""
RECIPIENTS = [
    {"scope": "all", "to": ["finance@example.com"]},
    {"scope": "department", "name": "Engineering", "to": ["eng-head@example.com"]},
    {"scope": "cost_center", "name": "CC-100", "to": ["cc100@example.com"]},
    {"scope": "site", "name": "Corporation 1/Avaya IM", "to": ["avaya-site@example.com", "ops@example.com"]},
]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Inbox:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    ca_file: Path | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    try:
        yield SmtpServer(controller.hostname, controller.port, inbox)
    finally:
        controller.stop()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def tls_smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """STARTTLS required before anything, login required before mail."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        ready_timeout=10,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        yield SmtpServer(controller.hostname, controller.port, inbox, ca_file=cert)
    finally:
        controller.stop()


def november(wh: Warehouse) -> None:
    """Hand-worked November 2026 (UTC). T1 Alice↔Bob, 3 messages; T2 Carol→Alice+Dave, Dave→Carol.

    standard: 0.10 per message sent, 1.00 per conversation started, 2.00 fee per active user:
    alice 2 sent, 1 started → 0.20 + 1.00 + 2.00 = 3.20;  bob 1 sent → 2.10;
    carol 1 sent, 1 started → 3.10;  dave (not in the directory) 1 sent → 2.10.  All: 10.50,
    Engineering 5.30 (over its 5.00 budget), Sales / CC-100 3.10, site Corporation 1/Avaya IM 2.10.
    """
    alice, bob, carol, dave = (jid(u) for u in ("alice", "bob", "carol", "dave"))
    wh.message("T1", alice, [bob], "2026-11-03 09:00:00+00", body=MARKER)
    wh.message("T1", bob, [alice], "2026-11-03 09:01:00+00", body=MARKER + " reply")
    wh.message("T1", alice, [bob], "2026-11-03 09:02:00+00", body="<script>alert(1)</script>")
    wh.message("T2", carol, [alice, dave], "2026-11-10 10:00:00+00", body=MARKER)
    wh.message("T2", dave, [carol], "2026-11-10 10:05:00+00", body="ok")
    wh.settle()


def write_setup(tmp_path: Path, mail: dict[str, Any]) -> Path:
    """eur.yaml + directory + rates + a billed warehouse (closed again); returns the eur.yaml path."""
    (tmp_path / "directory.csv").write_text(DIRECTORY, encoding="utf-8")
    (tmp_path / "rates.yaml").write_text(RATES, encoding="utf-8")
    config = {
        "warehouse": "./warehouse.duckdb",
        "landing_dir": "./landing",
        "timezone": "UTC",
        "directory": "./directory.csv",
        "rates": "./rates.yaml",
        "sources": [{"name": "lab", "kind": "local", "path": "./in", "site": "Corporation 1/Avaya IM"}],
        "mail": {
            "sender": "IM chargeback <chargeback@example.com>",
            "timeout_seconds": 10,
            "recipients": RECIPIENTS,
            **mail,
        },
    }
    path = tmp_path / "eur.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    con = open_warehouse(tmp_path / "warehouse.duckdb")
    try:
        november(Warehouse(con))
        refresh_billing(con, load_config(path))
    finally:
        con.close()
    return path
