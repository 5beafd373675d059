"""Budgets: rates.yaml budgets:, the budget_status view, the WARN check and the one-time alert mail."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from eur_pipeline.billing.budgets import budget_status
from eur_pipeline.billing.mail import default_period, send_budget_alerts
from eur_pipeline.billing.rates import parse_rates
from eur_pipeline.config.loader import load_config
from eur_pipeline.definitions import build_definitions
from eur_pipeline.errors import ConfigError
from eur_pipeline.warehouse.migrations import open_warehouse

from .conftest import MARKER, SmtpServer, write_setup


def test_budget_status_per_period_and_line(tmp_path: Path) -> None:
    config = load_config(write_setup(tmp_path, {}))
    con = open_warehouse(config.warehouse)
    try:
        rows = {(b.scope, b.name): b for b in budget_status(con)}
    finally:
        con.close()
    eng, cc100 = rows["department", "Engineering"], rows["cost_center", "CC-100"]
    assert (eng.period, eng.budget, eng.spent, eng.share, eng.over_budget) == (
        date(2026, 11, 1),
        Decimal("5.0000"),
        Decimal("5.3000"),  # alice 3.20 + bob 2.10
        Decimal("1.0600"),
        True,
    )
    assert (cc100.spent, cc100.share, cc100.over_budget) == (Decimal("3.1000"), Decimal("0.3100"), False)


def test_budgets_are_validated_with_the_rates_file(tmp_path: Path) -> None:
    bad = "currency: EUR\ndefault_plan: s\nplans: {s: {}}\nbudgets:\n  department: {Engineering: -5}\n"
    with pytest.raises(ConfigError, match=r"rates.yaml: line 5: budgets.department.Engineering"):
        parse_rates(bad, tmp_path / "rates.yaml")
    with pytest.raises(ConfigError, match=r"budgets.site"):
        parse_rates("default_plan: s\nplans: {s: {}}\nbudgets: {site: {Paris: 1}}\n", tmp_path / "rates.yaml")


def test_alert_goes_once_to_the_scope_over_budget(smtp_server: SmtpServer, tmp_path: Path) -> None:
    config = load_config(write_setup(tmp_path, {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port}))
    con = open_warehouse(config.warehouse)
    try:
        sent = send_budget_alerts(con, config)
        again = send_budget_alerts(con, config)
        audit = con.execute("SELECT count(*) FROM audit_log WHERE detail->>'kind' = 'budget_alert'").fetchone()
    finally:
        con.close()
    assert [o.entry.name for o in sent] == ["Engineering"] and again == []
    (mail,) = smtp_server.inbox.received
    assert mail.rcpt_tos == ["eng-head@example.com"]
    assert mail.message["Subject"] == "Budget exceeded: Engineering (department) — November 2026: 5.30 EUR"
    html = mail.message.get_body(preferencelist=("html",)).get_content()
    assert "has spent 5.30 EUR of its 5.00 EUR budget" in html and "(106.0%)" in html
    assert MARKER.encode() not in mail.raw
    assert audit == (1,)


def test_dagster_check_warns_and_schedule_mails_last_month(smtp_server: SmtpServer, tmp_path: Path) -> None:
    path = write_setup(tmp_path, {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port})
    defs = build_definitions(str(path))
    schedule = defs.get_schedule_def("mail_reports_monthly")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 7 2 * *", "UTC")
    tick = datetime(2026, 12, 2, 7, 0, tzinfo=ZoneInfo("UTC"))
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.run_config == {"ops": {"mail_reports": {"config": {"period": "2026-11"}}}}
    assert default_period("Europe/Paris", datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))) == date(
        2026, 11, 1
    )

    job = defs.resolve_job_def("mail_reports_job")
    result = job.execute_in_process(run_config=request.run_config, instance=dg.DagsterInstance.ephemeral())
    assert result.success and len(smtp_server.inbox.received) == 4

    from eur_pipeline.defs.mail import budget_alerts, budget_within_limits

    result = dg.materialize(
        [budget_alerts],
        resources={"eur": defs.resources["eur"]},
        selection=None,
    )
    assert result.success and len(smtp_server.inbox.received) == 5  # the Engineering alert
    check = defs.resolve_asset_graph()  # the WARN check is registered on billing
    assert dg.AssetCheckKey(dg.AssetKey("billing"), "budget_within_limits") in check.asset_check_keys
    outcome = budget_within_limits(eur=defs.resources["eur"])
    assert not outcome.passed and outcome.severity == dg.AssetCheckSeverity.WARN
    assert outcome.metadata["over_budget"].value == 1 and outcome.metadata["period"].value == "2026-11-01"


def test_failing_smtp_fails_the_dagster_step_and_is_retried(tmp_path: Path) -> None:
    from eur_pipeline.defs.mail import MAIL_RETRY, mail_reports

    from .conftest import free_port

    assert MAIL_RETRY.max_retries == 3 and mail_reports.retry_policy == MAIL_RETRY
    port = free_port()
    defs = build_definitions(str(write_setup(tmp_path, {"smtp_host": "127.0.0.1", "smtp_port": port})))

    @dg.job(resource_defs={"eur": defs.resources["eur"]})
    def quick_retry() -> None:  # the job's op with its retry delay shortened for the test
        mail_reports.with_retry_policy(dg.RetryPolicy(max_retries=1, delay=0))()

    result = quick_retry.execute_in_process(
        run_config={"ops": {"mail_reports": {"config": {"period": "2026-11"}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events) == 1
    failure = result.failure_data_for_node("mail_reports")
    assert failure is not None and failure.error.cause is not None
    assert failure.error.cause.message.strip() == (
        f"dagster._core.definitions.events.Failure: SMTP server 127.0.0.1:{port} cannot be reached: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
