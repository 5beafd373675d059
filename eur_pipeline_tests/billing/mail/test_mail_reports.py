"""eur-pipeline mail-reports against a real SMTP server: who gets what, exact totals, once only, failures."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from eur_pipeline.cli import main

from .conftest import MARKER, PASSWORD, USER, Received, SmtpServer, free_port, write_setup


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["mail-reports", *args])
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(r: Received) -> tuple[str, list[dict[str, str]]]:
    (att,) = list(r.message.iter_attachments())
    assert att.get_content_type() == "text/csv"
    return att.get_filename() or "", list(csv.DictReader(io.StringIO(att.get_content())))


def html_of(r: Received) -> str:
    part = r.message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def ledger(tmp_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def tls_login(server: SmtpServer) -> dict[str, object]:
    """STARTTLS against the throwaway CA, then login with the password from the environment."""
    return {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "starttls": True,
        "ca_file": str(server.ca_file),
        "username": USER,
        "password": "${EUR_SMTP_PASSWORD}",
    }


def test_each_recipient_gets_its_scope_once(
    smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_setup(tmp_path, {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port})
    code, out, err = run_cli(capsys, "--config", str(config), "--period", "2026-11")
    assert (code, err) == (0, "")
    inbox = smtp_server.inbox
    assert len(inbox.received) == 4
    assert sorted(tuple(r.rcpt_tos) for r in inbox.received) == sorted(
        [
            ("finance@example.com",),
            ("eng-head@example.com",),
            ("cc100@example.com",),
            ("avaya-site@example.com", "ops@example.com"),
        ]
    )
    assert all(r.mail_from == "chargeback@example.com" for r in inbox.received)

    # the department head: only Engineering's users, in the body and in the CSV, with exact totals
    (eng,) = inbox.to("eng-head@example.com")
    assert eng.message["Subject"] == "IM chargeback — Engineering (department) — November 2026: 5.30 EUR"
    name, rows = csv_rows(eng)
    assert name == "chargeback-users-2026-11-department-engineering.csv"
    assert [r["user_jid"] for r in rows] == ["alice@im.example.com", "bob@im.example.com"]
    assert [r["total_cost"] for r in rows] == ["3.2000", "2.1000"]
    body = html_of(eng)
    assert "Alice Archer" in body and "Bob Brown" in body
    assert "Carol" not in body and "carol@" not in body and "dave@" not in body
    assert ">5.30<" in body  # the total tile

    (finance,) = inbox.to("finance@example.com")
    _, rows = csv_rows(finance)
    assert sum(Decimal(r["total_cost"]) for r in rows) == Decimal("10.5000")
    assert {r["user_jid"].split("@")[0] for r in rows} == {"alice", "bob", "carol", "dave"}
    assert ">10.50<" in html_of(finance)

    (cc100,) = inbox.to("cc100@example.com")
    assert [r["user_jid"] for r in csv_rows(cc100)[1]] == ["carol@im.example.com"]
    (site,) = inbox.to("ops@example.com")
    assert [(r["user_jid"], r["total_cost"]) for r in csv_rows(site)[1]] == [("dave@im.example.com", "2.1000")]
    assert "(no department)" in html_of(site) and "Corporation 1/Avaya IM" in html_of(site)

    for r in inbox.received:
        html = html_of(r)
        # readable in a mail client: no scripts, no style block (inlined), styles on the elements
        assert "<script" not in html and "<style" not in html and 'style="' in html
        # reports hold counts and costs only: no archived body, anywhere in the raw message
        assert MARKER.encode() not in r.raw and b"alert(1)" not in r.raw

    assert ledger(tmp_path, "SELECT count(*) FROM mail_sent WHERE kind = 'report'") == [(4,)]
    audit = ledger(tmp_path, "SELECT actor, detail->>'to', detail->>'scope' FROM audit_log WHERE action = 'mail_sent'")
    assert len(audit) == 4 and all(actor for actor, _, _ in audit)
    assert len(out.splitlines()) == 4 and all(line.startswith("sent: ") for line in out.splitlines())

    # a re-run sends nothing twice
    code, out, err = run_cli(capsys, "--config", str(config), "--period", "2026-11")
    assert code == 0 and len(inbox.received) == 4
    assert all(line.startswith("already sent: ") for line in out.splitlines())
    # a dry run composes but neither sends nor records
    code, out, _ = run_cli(capsys, "--config", str(config), "--period", "2026-11", "--dry-run", "--force")
    assert code == 0 and len(inbox.received) == 4 and out.count("dry run: ") == 4
    # --force sends again, and records again
    code, _, _ = run_cli(capsys, "--config", str(config), "--period", "2026-11", "--force")
    assert code == 0 and len(inbox.received) == 8
    assert ledger(tmp_path, "SELECT count(*) FROM mail_sent") == [(8,)]


def test_smtp_down_is_one_line_exit_1_and_nothing_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    config = write_setup(tmp_path, {"smtp_host": "127.0.0.1", "smtp_port": port})
    code, out, err = run_cli(capsys, "--config", str(config), "--period", "2026-11")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"127.0.0.1:{port}" in err and "cannot be reached" in err
    assert ledger(tmp_path, "SELECT count(*) FROM mail_sent") == [(0,)]
    assert ledger(tmp_path, "SELECT count(*) FROM audit_log") == [(0,)]


def test_starttls_and_login(
    tls_smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EUR_SMTP_PASSWORD", PASSWORD)
    config = write_setup(tmp_path, tls_login(tls_smtp_server))
    code, out, err = run_cli(capsys, "--config", str(config), "--period", "2026-11")
    assert (code, err) == (0, "")
    assert len(tls_smtp_server.inbox.received) == 4
    assert PASSWORD not in out


def test_wrong_password_is_refused_in_one_line_without_the_password(
    tls_smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EUR_SMTP_PASSWORD", "wrong-" + PASSWORD)
    config = write_setup(tmp_path, tls_login(tls_smtp_server))
    code, out, err = run_cli(capsys, "--config", str(config), "--period", "2026-11")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"{tls_smtp_server.host}:{tls_smtp_server.port}" in err and "login" in err
    assert PASSWORD not in err + out
    assert tls_smtp_server.inbox.received == []
    assert ledger(tmp_path, "SELECT count(*) FROM mail_sent") == [(0,)]


def test_untrusted_certificate_is_refused(
    tls_smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the CA file the self-signed certificate is not trusted: nothing is sent in the clear."""
    mail = {"smtp_host": tls_smtp_server.host, "smtp_port": tls_smtp_server.port, "starttls": True}
    config = write_setup(tmp_path, mail)
    code, _, err = run_cli(capsys, "--config", str(config), "--period", "2026-11")
    assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in err
    assert tls_smtp_server.inbox.received == []


def test_no_mail_block_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_setup(tmp_path, {})
    text = config.read_text().split("mail:")[0]
    config.write_text(text)
    code, _, err = run_cli(capsys, "--config", str(config))
    assert code == 2 and "no mail: block" in err and str(config) in err


def test_department_mail_renders_in_chromium_without_scripts(
    smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eur_pipeline_tests.browser import open_page

    config = write_setup(tmp_path, {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port})
    assert run_cli(capsys, "--config", str(config), "--period", "2026-11")[0] == 0
    (eng,) = smtp_server.inbox.to("eng-head@example.com")
    page_file = tmp_path / "mail.html"
    page_file.write_text(html_of(eng), encoding="utf-8")
    probe = """(() => ({text: document.body.innerText, scripts: document.scripts.length,
      kpiBorder: getComputedStyle(document.querySelector('.kpi td')).borderTopStyle,
      headBg: getComputedStyle(document.querySelector('.head')).backgroundColor}))()"""
    page = open_page(page_file, probe, screenshot_name="mail-2026-11-department-engineering")
    assert page.errors == [] and page.external_requests == [] and page.value["scripts"] == 0
    assert page.value["kpiBorder"] == "solid" and page.value["headBg"] == "rgb(15, 23, 42)"  # inline styles apply
    assert "Alice Archer" in page.value["text"] and "5.30" in page.value["text"]
