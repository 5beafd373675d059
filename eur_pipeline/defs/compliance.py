"""Dagster layer of compliance: the ``search_index`` asset and the daily retention purge.

Metadata here is counts only: never a body, a search query or a hold's reason (those live in the
warehouse's ``audit_log`` and ``legal_holds``).
"""

import dagster as dg

from eur_pipeline.compliance.search_index import sync
from eur_pipeline.compliance.store import run_purge
from eur_pipeline.defs.assets import EAGER, GROUP, POOL, RETRY
from eur_pipeline.defs.resources import EurResource

PURGE_CRON = "15 3 * * *"


@dg.asset(
    deps=["messages"],
    description="Full-text index (tantivy) over the stored message bodies, in step with messages "
    "(new bodies added, erased ones gone). Empty unless privacy.bodies is keep.",
    group_name=GROUP,
    kinds={"tantivy"},
    pool=POOL,
    retry_policy=RETRY,
    automation_condition=EAGER,
)
def search_index(context: dg.AssetExecutionContext, eur: EurResource) -> dg.MaterializeResult:
    cfg = eur.load()
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        report = sync(con, cfg.resolved_search_index)
    return dg.MaterializeResult(
        metadata={
            "documents": report.documents,
            "added": report.added,
            "removed": report.removed,
            "rebuilt": report.rebuilt,
            "threads_read": report.threads,
            "dagster/row_count": report.documents,
        }
    )


@dg.op(pool=POOL, description="Apply eur.yaml's retention now (audited in the warehouse's audit_log).")
def purge_retention(context: dg.OpExecutionContext, eur: EurResource) -> dg.Output[None]:
    report, synced = run_purge(
        eur.load(), eur.lock_wait_seconds, on_wait=context.log.warning, actor="dagster:eur_purge_daily"
    )
    counts = {k: v for k, v in report.counts().items() if isinstance(v, int)}
    context.log.info("purge: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    for warning in report.warnings:
        context.log.warning(warning)
    return dg.Output(None, metadata={**counts, "index_documents": synced.documents})


@dg.job(description="Retention purge (eur.yaml `retention`), then the search index brought in step.")
def eur_purge_job() -> None:
    purge_retention()


PURGE_SCHEDULE = dg.ScheduleDefinition(
    name="eur_purge_daily",
    job=eur_purge_job,
    cron_schedule=PURGE_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily retention purge: bodies, records and landing backups past their retention days "
    "(legal holds exempt); conversations and billing are never changed.",
)

COMPLIANCE_ASSETS = [search_index]
