"""Mail in Dagster: the monthly ``mail_reports`` job and its schedule (``mail.schedule``, a cron in eur.yaml's
``timezone``), the ``budget_alerts`` asset after billing, and the ``budget_within_limits`` check (WARN).

Each body is one call into ``eur_pipeline.billing.mail`` / ``billing.budgets``. An SMTP failure fails the
step with its one-line reason and the RetryPolicy tries again; what was accepted is never sent twice.
"""

from datetime import datetime

import dagster as dg

from eur_pipeline.billing.budgets import budget_status, latest_period
from eur_pipeline.billing.mail import MailDeliveryError, default_period, send_budget_alerts, send_reports
from eur_pipeline.config import EurConfig
from eur_pipeline.defs.assets import EAGER, GROUP, POOL
from eur_pipeline.defs.metadata import markdown_rows
from eur_pipeline.defs.resources import EurResource

MAIL_RETRY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL)


class MailReportsConfig(dg.Config):
    period: str = ""  # YYYY-MM; empty = the previous month in the configured timezone
    force: bool = False


@dg.op(pool=POOL, retry_policy=MAIL_RETRY, description="Mail each mail.recipients entry its scope's report.")
def mail_reports(context: dg.OpExecutionContext, config: MailReportsConfig, eur: EurResource) -> None:
    cfg = eur.load()
    period = datetime.strptime(config.period, "%Y-%m").date() if config.period else None
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        try:
            outcomes = send_reports(con, cfg, period, force=config.force)
        except MailDeliveryError as exc:
            raise dg.Failure(description=str(exc), allow_retries=True) from None
    for outcome in outcomes:
        context.log.info(outcome.line())


@dg.job(description="The monthly report mails (mail.recipients); sent once per period and recipient.")
def mail_reports_job() -> None:
    mail_reports()


def build_mail_schedules(config: EurConfig | None) -> list[dg.ScheduleDefinition]:
    """The monthly schedule, when eur.yaml has a ``mail:`` block."""
    if config is None or config.mail is None:
        return []
    timezone = config.timezone

    @dg.schedule(
        name="mail_reports_monthly",
        cron_schedule=config.mail.schedule,
        execution_timezone=timezone,
        job=mail_reports_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Mails the previous month's reports on {config.mail.schedule!r} ({timezone}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        period = default_period(timezone, context.scheduled_execution_time).strftime("%Y-%m")
        return dg.RunRequest(
            run_key=f"mail-{period}",
            run_config={"ops": {"mail_reports": {"config": {"period": period}}}},
            tags={"eur/period": period},
        )

    return [_schedule]


@dg.asset(
    deps=["billing"],
    description="Budget alert mails: one to a scope's recipients the first time its budget is crossed in a period.",
    group_name=GROUP,
    kinds={"email"},
    pool=POOL,
    retry_policy=MAIL_RETRY,
    automation_condition=EAGER,
)
def budget_alerts(context: dg.AssetExecutionContext, eur: EurResource) -> dg.MaterializeResult:
    cfg = eur.load()
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        try:
            sent = send_budget_alerts(con, cfg)
        except MailDeliveryError as exc:
            raise dg.Failure(description=str(exc), allow_retries=True) from None
    for outcome in sent:
        context.log.info(outcome.line())
    return dg.MaterializeResult(metadata={"alerts_sent": len(sent), "mail_configured": cfg.mail is not None})


@dg.asset_check(
    asset="billing",
    pool=POOL,
    description="No department or cost center is over its budget (rates.yaml budgets:) in the newest period (WARN).",
)
def budget_within_limits(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        period = latest_period(con)
        lines = budget_status(con, period) if period else []
    over = [b for b in lines if b.over_budget]
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "period": str(period),
            "budget_lines": len(lines),
            "over_budget": len(over),
            "lines": dg.MetadataValue.md(
                markdown_rows(
                    ["scope", "name", "budget", "spent", "share", "over"],
                    [(b.scope, b.name, b.budget, b.spent, b.share, b.over_budget) for b in lines],
                )
            ),
        },
    )
