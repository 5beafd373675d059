"""Jobs for the way back, launchable from the UI: ``reprocess_quarantined`` and ``rebuild_warehouse``.

Each op is one call into ``eur_pipeline.pipeline.recovery`` (the same code as ``eur-pipeline
reprocess`` / ``rebuild``); both write ``audit_log``. Reprocess writes the warehouse, so it takes the
warehouse pool; rebuild writes a new file and only reads the landing backups.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from eur_pipeline.defs.assets import POOL
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.names import shown
from eur_pipeline.pipeline.recovery import RecoveryReport, rebuild, reprocess


class ReprocessConfig(dg.Config):
    file_ids: list[str] = Field(
        default_factory=list, description="archive_files.file_id values; empty = every quarantined file"
    )


class RebuildConfig(dg.Config):
    into: str = Field(
        default="",
        description="the new warehouse file (must not exist); empty = rebuilt-<UTC time>.duckdb beside the warehouse",
    )


def _actor(context: dg.OpExecutionContext) -> str | None:
    return context.run.tags.get("dagster/user")


def _finish(context: dg.OpExecutionContext, report: RecoveryReport, verb: str) -> dg.Output[None]:
    for file_id, name, outcome, detail in report.files[:200]:
        (context.log.warning if outcome == "failed" else context.log.info)(
            f"{file_id} {shown(name)}: {outcome} ({detail})"
        )
    if report.failed:
        raise dg.Failure(
            description=f"{report.summary(verb)}; first failure: {report.failed[0][3]}", allow_retries=False
        )
    return dg.Output(
        None,
        metadata={
            "files": len(report.files),
            "parsed": report.count("parsed"),
            "quarantined": report.count("quarantined"),
            "seconds": round(report.seconds, 2),
        },
    )


@dg.op(pool=POOL, description="Parse files again from their landing backups, exactly once; audited.")
def reprocess_files(context: dg.OpExecutionContext, config: ReprocessConfig, eur: EurResource) -> dg.Output[None]:
    cfg = eur.load()
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        report = reprocess(con, cfg, file_ids=config.file_ids, quarantined=not config.file_ids, actor=_actor(context))
    return _finish(context, report, "reprocessed")


@dg.op(description="Build a new warehouse from the landing backups alone; audited in the new warehouse.")
def rebuild_from_landing(context: dg.OpExecutionContext, config: RebuildConfig, eur: EurResource) -> dg.Output[None]:
    cfg = eur.load()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    beside = cfg.warehouse.parent if isinstance(cfg.warehouse, Path) else cfg.landing_dir.parent  # a lake: no file
    into = Path(config.into) if config.into else beside / f"rebuilt-{stamp}.duckdb"
    report = rebuild(cfg, into, actor=_actor(context))
    context.log.info(f"rebuilt warehouse: {into}")
    return _finish(context, report, f"rebuilt {into}:")


@dg.job(description="Parse every quarantined file (or the configured file_ids) again from its landing backup.")
def reprocess_quarantined() -> None:
    reprocess_files()


@dg.job(description="Build a new warehouse from the landing backups alone (config: into).")
def rebuild_warehouse() -> None:
    rebuild_from_landing()


RECOVERY_JOBS = [reprocess_quarantined, rebuild_warehouse]
