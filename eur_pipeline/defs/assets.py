"""Assets: table names of DESIGN.md. Each materialization is one call into the plain-Python core.

All writers share the ``eur_warehouse`` pool (limit 1 in dagster.yaml): DuckDB allows one writer.
Downstream assets are eager, so a sensor-triggered ingest is followed by messages → conversations →
billing automatically; the default job also runs them all in one run.
"""

import dagster as dg
from pydantic import Field

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.defs.metadata import markdown_table, table_metadata
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.pipeline.collect import collect_source, source_summary
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages

POOL = "eur_warehouse"
GROUP = "eur_pipeline"
RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
EAGER = dg.AutomationCondition.eager()


class IngestConfig(dg.Config):
    """Which sources and files to collect; empty means every ready file of every source."""

    sources: list[str] = Field(default_factory=list, description="source names; empty = all")
    files: list[str] = Field(default_factory=list, description="file names within the source(s); empty = all ready")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "archive_files",
            description="Ledger of collected archive files (one row per distinct content): status, errors, counts.",
            group_name=GROUP,
            kinds={"duckdb", "sftp"},
        ),
        dg.AssetSpec(
            "message_records",
            deps=["archive_files"],
            description="One row per <message> element loaded; rejected elements go to rejected_records.",
            group_name=GROUP,
            kinds={"duckdb", "xml"},
        ),
    ],
    pool=POOL,
    retry_policy=RETRY,
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, eur: EurResource):
    """Collect ready files from each source: download → verify → backup → ledger + records in one
    transaction → remote completion. One source's outage is reported, never blocks the others."""
    cfg = eur.load()
    selected = [s for s in cfg.sources if not config.sources or s.name in config.sources]
    reports = []
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        for source in selected:
            report = collect_source(
                con,
                cfg,
                source,
                names=config.files or None,
                progress=lambda r: context.log.info(
                    f"{r.source}/{r.name}: {r.outcome}"
                    + (f" ({r.records} records)" if r.records else "")
                    + (f" — {r.detail}" if r.detail and r.outcome != "parsed" else "")
                ),
            )
            context.log.info(source_summary(report))
            for warning in report.warnings:
                context.log.warning(warning)
            reports.append(report)
        failed = {r.source: r.error for r in reports if r.error}
        ledger = table_metadata(
            con,
            "archive_files",
            "SELECT source, name, status, record_count, rejected_count, error FROM archive_files "
            "ORDER BY collected_at DESC LIMIT 10",
        )
        ledger.update(
            {
                "files_parsed": sum(r.count("parsed") for r in reports),
                "files_quarantined": sum(r.count("quarantined") for r in reports),
                "files_duplicate": sum(r.count("duplicate") for r in reports),
                "records_loaded": sum(r.records for r in reports),
                "failed_sources": dg.MetadataValue.json(failed),
                "per_source": dg.MetadataValue.md("\n".join(f"- {source_summary(r)}" for r in reports) or "none"),
            }
        )
        records = table_metadata(con, "message_records", "SELECT * EXCLUDE (extra) FROM message_records LIMIT 5")
    for source, error in failed.items():
        context.log.error(f"source {source} failed: {error}")
    yield dg.MaterializeResult(asset_key="archive_files", metadata=ledger)
    yield dg.MaterializeResult(asset_key="message_records", metadata=records)


@dg.asset(
    deps=["message_records"],
    description="Logical messages: IN/OUT copies folded into one row with its sorted recipients.",
    group_name=GROUP,
    kinds={"duckdb", "sql"},
    pool=POOL,
    retry_policy=RETRY,
    automation_condition=EAGER,
)
def messages(context: dg.AssetExecutionContext, eur: EurResource) -> dg.MaterializeResult:
    with eur.warehouse(on_wait=context.log.warning) as con:
        threads = refresh_messages(con)
        meta = table_metadata(
            con,
            "messages",
            "SELECT thread_id, sent_at, sender, recipients, body FROM messages ORDER BY sent_at DESC LIMIT 5",
        )
    return dg.MaterializeResult(metadata={**meta, "threads_refreshed": threads})


@dg.asset(
    deps=["messages"],
    description="One row per thread (conversation); validated by a blocking pandera check.",
    group_name=GROUP,
    kinds={"duckdb", "sql", "pandera"},
    pool=POOL,
    retry_policy=RETRY,
    automation_condition=EAGER,
)
def conversations(context: dg.AssetExecutionContext, eur: EurResource) -> dg.MaterializeResult:
    with eur.warehouse(on_wait=context.log.warning) as con:
        threads = refresh_conversations(con)
        meta = table_metadata(
            con,
            "conversations",
            "SELECT thread_id, started_at, message_count, participant_count, initiator FROM conversations "
            "ORDER BY started_at DESC LIMIT 5",
        )
    return dg.MaterializeResult(metadata={**meta, "threads_refreshed": threads})


@dg.asset(
    deps=["conversations"],
    description="Usage and cost per period (month, configured timezone) × user, with directory attributes.",
    group_name=GROUP,
    kinds={"duckdb", "sql"},
    pool=POOL,
    retry_policy=RETRY,
    automation_condition=EAGER,
)
def billing(context: dg.AssetExecutionContext, eur: EurResource) -> dg.MaterializeResult:
    cfg = eur.load()
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        rows = refresh_billing(con, cfg)
        meta = table_metadata(
            con,
            "billing",
            "SELECT period, user_jid, name, department, messages_sent, messages_received, total_cost, currency "
            "FROM billing ORDER BY period DESC, messages_sent DESC LIMIT 10",
        )
        meta["top_users"] = dg.MetadataValue.md(
            markdown_table(
                con,
                "SELECT user_jid, sum(messages_sent) AS sent, sum(messages_received) AS received, "
                "sum(total_cost) AS total_cost FROM billing GROUP BY user_jid ORDER BY sent DESC LIMIT 10",
            )
        )
    return dg.MaterializeResult(metadata={**meta, "rows_refreshed": rows})


ALL_ASSETS = [ingest, messages, conversations, billing]
