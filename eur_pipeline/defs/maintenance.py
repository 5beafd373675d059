"""Scheduled lake upkeep (``warehouse.maintenance``): hourly compaction, daily snapshot expiry.

Running by default only when the warehouse is a DuckLake; on a DuckDB file each is a CHECKPOINT."""

import dagster as dg

from eur_pipeline.config import EurConfig
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.warehouse.maintenance import MaintenanceReport, compact, expire
from eur_pipeline.warehouse.target import LakeConfig

POOL = "eur_warehouse"


def _result(context: dg.OpExecutionContext, report: MaintenanceReport | None) -> dg.Output[None]:
    if report is None:
        context.log.info("DuckDB-file warehouse: checkpointed")
        return dg.Output(None)
    context.log.info(report.summary())
    shape = {
        f"{when}_{k}": v for when, s in (("before", report.before), ("after", report.after)) for k, v in vars(s).items()
    }
    return dg.Output(None, metadata={**shape, **report.detail})


@dg.op(pool=POOL, description="Flush inlined rows to Parquet and merge adjacent small files.")
def compact_lake(context: dg.OpExecutionContext, eur: EurResource) -> dg.Output[None]:
    with eur.warehouse(on_wait=context.log.warning) as con:
        return _result(context, compact(con))


@dg.op(pool=POOL, description="Expire snapshots older than a week; delete files unused for a day.")
def expire_lake_snapshots(context: dg.OpExecutionContext, eur: EurResource) -> dg.Output[None]:
    with eur.warehouse(on_wait=context.log.warning) as con:
        return _result(context, expire(con))


@dg.job(description="Lake compaction: inlined rows to Parquet, small files merged.")
def eur_lake_compaction() -> None:
    compact_lake()


@dg.job(description="Lake snapshot expiry and cleanup of the files only expired snapshots used.")
def eur_lake_snapshot_expiry() -> None:
    expire_lake_snapshots()


MAINTENANCE_JOBS = [eur_lake_compaction, eur_lake_snapshot_expiry]


def build_maintenance_schedules(config: EurConfig | None) -> list[dg.ScheduleDefinition]:
    lake = config is not None and isinstance(config.warehouse, LakeConfig)
    status = dg.DefaultScheduleStatus.RUNNING if lake else dg.DefaultScheduleStatus.STOPPED
    return [
        dg.ScheduleDefinition(job=eur_lake_compaction, cron_schedule="17 * * * *", default_status=status),
        dg.ScheduleDefinition(job=eur_lake_snapshot_expiry, cron_schedule="43 3 * * *", default_status=status),
    ]
