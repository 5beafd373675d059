"""Assets: the table names of docs/design.md. Each materialization is one call into the plain-Python core.

``archive_files`` / ``message_records`` are partitioned per file (dynamic partitions, added by the
source sensors). One run takes a whole range of partitions (single-run backfill policy), so a batch
of 200 files is one run start-up. A run with no partition (``eur-pipeline run``, the per-source
schedules, "Materialize all" in the UI) collects every ready file instead.

Downstream tables are unpartitioned and incremental (``pending_threads`` queue). The sensors'
runs include them, so an upload reaches ``billing`` in the same run; their eager automation
condition covers runs that materialized only the ingest assets (e.g. one partition re-run from the
UI). All writers share the ``eur_warehouse`` pool (limit 1 in dagster.yaml): DuckDB allows one
writer process.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.billing.reports import write_reports
from eur_pipeline.defs.metadata import markdown_rows, markdown_table, table_metadata
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.pipeline.collect import FileResult, source_summary
from eur_pipeline.pipeline.ingest import ingest as ingest_files
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages

POOL = "eur_warehouse"
GROUP = "eur_pipeline"
RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
# eager, but not blocked by archive_files partitions that were never (or not yet) materialized:
# an unpartitioned child sees every per-file partition as one of its deps.
EAGER = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()).with_label("eager")


class IngestConfig(dg.Config):
    """Which sources and files to collect; empty means every ready file of every source.

    With partitions, ``files`` is only a hint from the sensor (saves a listing); the partition keys
    decide what is collected."""

    sources: list[str] = Field(default_factory=list, description="source names; empty = all")
    files: list[str] = Field(default_factory=list, description="file names within the source(s); empty = all ready")


def _log_file(context: dg.AssetExecutionContext, r: FileResult) -> None:
    text = f"{r.source}/{r.name}: {r.outcome}" + (f" ({r.records} records)" if r.records else "")
    if r.detail and r.outcome != "parsed":
        text += f" — {r.detail}"
    (context.log.warning if r.outcome in ("quarantined", "failed") else context.log.info)(text)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "archive_files",
            description="Ledger of collected archive files (one row per distinct content): status, "
            "quarantine reason, record counts, landing backup path. One partition per file.",
            group_name=GROUP,
            kinds={"duckdb", "sftp", "xml"},
            partitions_def=ARCHIVE_PARTITIONS,
        ),
        dg.AssetSpec(
            "message_records",
            deps=["archive_files"],
            description="One row per <message> element loaded; refused elements go to rejected_records.",
            group_name=GROUP,
            kinds={"duckdb", "xml"},
            partitions_def=ARCHIVE_PARTITIONS,
        ),
    ],
    partitions_def=ARCHIVE_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=POOL,
    retry_policy=RETRY,
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, eur: EurResource) -> Iterator[dg.MaterializeResult]:
    """Collect files: download → verify → backup → ledger + records in one transaction → remote
    completion. Partitioned runs take exactly their files; failures name each file and cause."""
    cfg = eur.load()
    partitioned = context.has_partition_key or context.has_partition_key_range
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        outcome = ingest_files(
            con,
            cfg,
            list(context.partition_keys) if partitioned else None,
            config.sources,
            config.files,
            progress=lambda r: _log_file(context, r),
        )
        for line in outcome.already_collected:
            context.log.info(line)
        for report in outcome.reports:
            context.log.info(source_summary(report))
            for warning in report.warnings:
                context.log.warning(warning)
        if outcome.failures:
            # the committed files stay committed; a retry (or re-execution) skips them by sighting
            texts = [f.text for f in outcome.failures]
            raise dg.Failure(
                description=f"{len(texts)} file(s) not collected: " + "; ".join(texts[:20]),
                metadata={"failures": dg.MetadataValue.md("\n".join(f"- {t}" for t in texts))},
                allow_retries=any(f.retryable for f in outcome.failures),
            )
        files = outcome.files
        reports = outcome.reports
        ledger = table_metadata(
            con,
            "archive_files",
            "SELECT source, name, status, record_count, rejected_count, error FROM archive_files "
            "ORDER BY collected_at DESC LIMIT 10",
        )
        ledger.update(
            {
                "files_parsed": outcome.count("parsed"),
                "files_quarantined": outcome.count("quarantined"),
                "files_duplicate": outcome.count("duplicate"),
                "records_loaded": sum(r.records for r in reports),
                "failed_sources": dg.MetadataValue.json({r.source: r.error for r in reports if r.error}),
                "failed_files": dg.MetadataValue.json(
                    [f"{f.source}/{f.name}: {f.detail}" for f in files if f.outcome == "failed"]
                ),
                "this_run": dg.MetadataValue.md(
                    markdown_rows(
                        ["source", "name", "outcome", "records", "rejected", "detail"],
                        [(f.source, f.name, f.outcome, f.records, f.rejects, f.detail or "") for f in files[:50]],
                    )
                ),
            }
        )
        records = table_metadata(
            con,
            "message_records",
            "SELECT file_id, record_no, direction, sent_at, thread_id, sender, recipient, body "
            "FROM message_records ORDER BY sent_at DESC LIMIT 5",
        )
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
    """Refresh the threads queued by ingest (incremental, one transaction)."""
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
    """Refresh the threads queued by messages; billing waits for the blocking schema check."""
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
    """Recompute the billing months the queued threads touch."""
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


@dg.asset(
    deps=["billing"],
    description="Per-period HTML report (offline, self-contained) and chargeback CSVs per cost center and "
    "per user, under reports_dir; rewritten only when their content changes.",
    group_name=GROUP,
    kinds={"html", "csv"},
    pool=POOL,
    retry_policy=RETRY,
    automation_condition=EAGER,
)
def reports(context: dg.AssetExecutionContext, eur: EurResource) -> dg.MaterializeResult:
    """Render the reports from billing (runs after the blocking billing reconciliation check)."""
    cfg = eur.load()
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        written = write_reports(con, cfg)
    latest = written.latest
    meta: dict[str, object] = {
        "reports_dir": dg.MetadataValue.path(str(written.directory)),
        "index": dg.MetadataValue.url(written.index.resolve().as_uri()),
        "periods": len(written.periods),
        "periods_rendered": len(written.rendered),
    }
    if latest is not None:
        meta["latest_report"] = dg.MetadataValue.url(latest.html.resolve().as_uri())
        meta["latest_cost_centers_csv"] = dg.MetadataValue.path(str(latest.cost_centers_csv))
        meta["latest_users_csv"] = dg.MetadataValue.path(str(latest.users_csv))
    meta["files"] = dg.MetadataValue.md("\n".join(f"- [{p.name}]({p.resolve().as_uri()})" for p in written.paths[:40]))
    return dg.MaterializeResult(metadata=meta)


ALL_ASSETS = [ingest, messages, conversations, billing, reports]
