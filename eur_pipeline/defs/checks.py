"""Asset checks. Severity is chosen by consequence:

- ``conversations_schema`` (ERROR, blocking): an invalid conversation must not reach billing.
- ``billing_reconciles`` (ERROR, blocking): billed counts must equal the messages they bill.
- ``ledger_matches_loaded_rows``, ``records_match_messages``, ``messages_match_conversations`` (ERROR):
  the plain-SQL invariants of ``pipeline.integrity``; ``billing_reconciles`` applies its billing ones.
  Each runs scoped: only the files collected since it last passed (a watermark per check in
  ``eur_settings``), their threads and the billing periods those touch — cost follows the change.
- ``integrity_full_sweep`` (ERROR): every invariant over the whole warehouse, daily at
  ``FULL_SWEEP_CRON`` through the automation sensor (not part of the pipeline job's runs); it also
  sees what no scope can (rows changed outside a run, records of no file).
- ``rejected_share`` (ERROR): a recently collected file lost more than ``rejected_share_threshold`` of
  its records — billing undercounts it; the good records still flow, so it does not block.
- ``no_quarantined_files`` (WARN): files quarantined in the last ``RECENT_DAYS``, with their reasons;
  the pipeline carries on without them by design.
- ``freshness_<source>`` (ERROR): no new archive from that source for ``freshness_hours`` — the
  collector-side twin of Presence Services' "Upload Failures Threshold". Evaluated in every run that
  ingests and, through the automation sensor, at the top of every hour (no upload means no run).

Checks read the warehouse, so they share the writers' pool: a check never waits on a DuckDB lock.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from eur_pipeline.billing.compute import billing_totals
from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.defs.assets import POOL
from eur_pipeline.defs.metadata import markdown_rows, plain_text
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.pipeline.integrity import CHECKS as INTEGRITY_CHECKS
from eur_pipeline.pipeline.integrity import CHECKS_BY_ASSET, Finding, check_integrity, reconcile_billing, run_scoped
from eur_pipeline.pipeline.validation import check_conversations
from eur_pipeline.warehouse.ledger import last_sighting, quarantined_since, rejected_share_over

RECENT_DAYS = 7
FRESHNESS_CRON = "0 * * * *"
FULL_SWEEP_CRON = "30 2 * * *"


def _recent() -> datetime:
    return datetime.now(UTC) - timedelta(days=RECENT_DAYS)


@dg.asset_check(
    asset="conversations",
    blocking=True,
    pool=POOL,
    description="pandera ConversationSchema on the conversations this run refreshed; failures block billing.",
)
def conversations_schema(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        checked, failures = check_conversations(con)
    preview = failures.head(20).to_markdown(index=False) if len(failures) else "no failures"
    return dg.AssetCheckResult(
        passed=failures.empty,
        metadata={
            "rows_checked": checked,
            "failure_cases": len(failures),
            "failures": dg.MetadataValue.md(preview),
        },
    )


@dg.asset_check(
    asset="archive_files",
    pool=POOL,
    description=f"Quarantined files (WARN) collected in the last {RECENT_DAYS} days, each with its reason.",
)
def no_quarantined_files(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        rows, total = quarantined_since(con, _recent())
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_recently": len(rows),
            "quarantined_ever": total,
            "files": dg.MetadataValue.md(markdown_rows(["source", "name", "reason"], rows[:50])),
        },
    )


def build_integrity_check(name: str, asset: str) -> dg.AssetChecksDefinition:
    """An ERROR check around one plain-SQL invariant of ``pipeline.integrity`` (threads still queued
    for a later stage are left out, so a half-finished run is not reported as broken)."""
    check = INTEGRITY_CHECKS[name]

    @dg.asset_check(asset=asset, name=name, pool=POOL, description=plain_text(check.__doc__, name))
    def _check(eur: EurResource) -> dg.AssetCheckResult:
        with eur.warehouse() as con:
            findings, since = run_scoped(con, name)
        return integrity_result(findings, scope=_scope_text(since))

    return _check


def _scope_text(since: object) -> str:
    return "whole warehouse" if since is None else f"files collected since {since}"


def build_full_sweep() -> dg.AssetChecksDefinition:
    """Every ``pipeline.integrity`` invariant over the whole warehouse, once a day (the per-run checks
    are scoped to what changed). Left out of the pipeline job; the automation sensor runs it."""

    @dg.asset_check(
        asset="billing",
        name=FULL_SWEEP,
        pool=POOL,
        description="Daily full sweep: every integrity invariant over the whole warehouse (the per-run checks "
        "look only at what the runs since their last pass changed).",
        automation_condition=dg.AutomationCondition.cron_tick_passed(FULL_SWEEP_CRON).with_label("daily"),
    )
    def _check(eur: EurResource) -> dg.AssetCheckResult:
        with eur.warehouse() as con:
            findings = check_integrity(con)
        return integrity_result(findings, scope=_scope_text(None))

    return _check


def integrity_result(findings: list[Finding], **metadata: object) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not findings,
        metadata={
            **metadata,
            "findings": dg.MetadataValue.md("\n".join(f"- {f.message}" for f in findings) or "none"),
            "examples": dg.MetadataValue.json({f.message: [list(map(str, r)) for r in f.examples] for f in findings}),
        },
    )


FULL_SWEEP = "integrity_full_sweep"
INTEGRITY = [build_integrity_check(name, asset) for name, asset in CHECKS_BY_ASSET.items() if asset != "billing"]


@dg.asset_check(
    asset="message_records",
    pool=POOL,
    description=f"No file collected in the last {RECENT_DAYS} days has a rejected-record share above "
    "rejected_share_threshold (eur.yaml).",
)
def rejected_share(eur: EurResource) -> dg.AssetCheckResult:
    cfg = eur.load()
    with eur.warehouse(cfg) as con:
        rows, overall = rejected_share_over(con, _recent(), cfg.rejected_share_threshold)
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={
            "threshold": cfg.rejected_share_threshold,
            "recent_share": overall,
            "files_over_threshold": len(rows),
            "files": dg.MetadataValue.md(markdown_rows(["source", "name", "rejected", "records", "share"], rows[:50])),
        },
    )


@dg.asset_check(
    asset="billing",
    blocking=True,
    pool=POOL,
    description="Billing reconciles with messages: per period the runs since the last pass touched, "
    "sum(messages_sent) = count(messages), sum(messages_received) = sum(recipient_count) and "
    "sum(conversations_started) = conversations started.",
)
def billing_reconciles(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        outcome = reconcile_billing(con)
        totals = billing_totals(con)
    return integrity_result(
        outcome.findings,
        scope=_scope_text(outcome.since),
        periods=len(outcome.periods),
        periods_mismatched=outcome.mismatched,
        per_period=dg.MetadataValue.md(
            markdown_rows(
                ["period", "messages", "billed_sent", "deliveries", "billed_received"],
                [r[:5] for r in outcome.periods[-24:]],
            )
        ),
        total_cost=str(totals["total_cost"]),
    )


def build_freshness_check(source: SourceConfig) -> dg.AssetChecksDefinition:
    assert source.freshness_hours is not None
    hours = source.freshness_hours

    @dg.asset_check(
        asset="archive_files",
        name=f"freshness_{source.name.replace('-', '_').replace('.', '_')}",
        pool=POOL,
        description=f"A new archive arrived from {source.name!r} within the last {hours:g} h (ERROR otherwise).",
        automation_condition=dg.AutomationCondition.cron_tick_passed(FRESHNESS_CRON).with_label("hourly"),
    )
    def _check(eur: EurResource) -> dg.AssetCheckResult:
        with eur.warehouse() as con:
            last = last_sighting(con, source.name)
        age = (datetime.now(UTC) - last).total_seconds() / 3600 if last else None
        return dg.AssetCheckResult(
            passed=age is not None and age <= hours,
            metadata={
                "source": source.name,
                "last_archive_at": str(last) if last else "never",
                "hours_since_last_archive": round(age, 2) if age is not None else -1,
                "freshness_hours": hours,
            },
        )

    return _check


def build_checks(config: EurConfig | None) -> list[dg.AssetChecksDefinition]:
    sources = config.sources if config else []
    return [
        conversations_schema,
        no_quarantined_files,
        *INTEGRITY,
        rejected_share,
        billing_reconciles,
        build_full_sweep(),
        *(build_freshness_check(s) for s in sources if s.freshness_hours),
    ]
