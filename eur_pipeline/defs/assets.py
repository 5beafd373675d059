"""Assets: the table names of docs/design.md. Each materialization is one call into the plain-Python core.

Every asset is unpartitioned, so "Materialize all" in the UI (Lineage or job page) launches one run
at once: ``ingest`` collects every ready file, the downstream assets refresh what it queued. A run
can instead name its files (``IngestConfig.keys``): the source sensors send a batch of up to 200
per run; one file is re-run from the ``rerun_file`` job (``defs.jobs``), the only place with
per-file partitions — a partitioned asset in the graph would make "Materialize all" ask for
partitions (Dagster's UI opens its partition picker whenever one selected asset is partitioned).

Downstream tables are incremental (``pending_threads`` queue); their eager automation condition
covers runs that only collected (e.g. a per-file re-run). All writers share the ``eur_warehouse``
pool (limit 1): DuckDB allows one writer process.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.billing.reports import write_reports
from eur_pipeline.defs.metadata import markdown_rows, markdown_table, table_metadata
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, partition_key
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.names import shown
from eur_pipeline.pipeline.collect import FileResult, source_summary
from eur_pipeline.pipeline.ingest import ingest as ingest_files
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages

POOL = "eur_warehouse"
GROUP = "eur_pipeline"
RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
EAGER = dg.AutomationCondition.eager().with_label("eager")
LEDGER_PREVIEW = (
    "SELECT source, name, status, record_count AS records, rejected_count AS rejected, error AS why "
    "FROM archive_files ORDER BY collected_at DESC LIMIT 20"
)


class IngestConfig(dg.Config):
    """Which files to collect. All empty (the default): every ready file of every source."""

    sources: list[str] = Field(default_factory=list, description="Source names to collect from; empty = all.")
    files: list[str] = Field(
        default_factory=list, description="File names within the source(s); empty = every ready file."
    )
    keys: list[str] = Field(
        default_factory=list,
        description="Exact files as '<source>:<name>' keys (a sensor batch or a re-run); each missing one fails.",
    )


def _log_file(context: dg.OpExecutionContext, r: FileResult) -> None:
    text = f"{r.source}/{shown(r.name)}: {r.outcome}" + (f" ({r.records} records)" if r.records else "")
    if r.detail and r.outcome != "parsed":
        text += f" — {r.detail}"
    (context.log.warning if r.outcome in ("quarantined", "failed") else context.log.info)(text)


def collect_metadata(
    context: dg.OpExecutionContext, eur: EurResource, keys: list[str] | None, sources: list[str], files: list[str]
) -> dict[str, dict[str, Any]]:
    """Collect (exactly ``keys``, or every ready file of ``sources``/``files``) and return the
    metadata of ``archive_files`` and ``message_records``; raises a ``Failure`` naming each file
    not collected. Shared by the ingest asset and the per-file ``rerun_file`` job."""
    cfg = eur.load()
    with eur.warehouse(cfg, on_wait=context.log.warning) as con:
        outcome = ingest_files(con, cfg, keys, sources, files, progress=lambda r: _log_file(context, r))
        for line in outcome.already_collected:
            context.log.info(line)
        for report in outcome.reports:
            (context.log.error if report.error else context.log.info)(source_summary(report))
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
        files_done = outcome.files
        reports = outcome.reports
        # every file seen becomes a partition of the rerun_file job, however it was collected
        seen = {partition_key(f.source, f.name) for f in files_done}
        seen = sorted(seen - set(context.instance.get_dynamic_partitions(ARCHIVE_PARTITIONS.name))) if seen else []
        if seen:
            context.instance.add_dynamic_partitions(ARCHIVE_PARTITIONS.name, seen)
        ledger = table_metadata(con, "archive_files", LEDGER_PREVIEW)
        ledger.update(
            {
                "files_parsed": outcome.count("parsed"),
                "files_quarantined": outcome.count("quarantined"),
                "files_duplicate": outcome.count("duplicate"),
                "records_loaded": sum(r.records for r in reports),
                "failed_sources": dg.MetadataValue.json({r.source: r.error for r in reports if r.error}),
                "failed_files": dg.MetadataValue.json(
                    [f"{f.source}/{shown(f.name)}: {f.detail}" for f in files_done if f.outcome == "failed"]
                ),
                "this_run": dg.MetadataValue.md(
                    markdown_rows(
                        ["source", "name", "outcome", "records", "rejected", "why"],
                        [
                            (f.source, shown(f.name), f.outcome, f.records, f.rejects, f.detail or "")
                            for f in files_done[:50]
                        ],
                    )
                ),
            }
        )
        records = table_metadata(
            con,
            "message_records",
            # never a body (the UI has no login and the event log keeps it): its length only
            "SELECT file_id, record_no, direction, sent_at, thread_id, sender, recipient, length(body) AS body_chars "
            "FROM message_records ORDER BY sent_at DESC LIMIT 5",
        )
    return {"archive_files": ledger, "message_records": records}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "archive_files",
            description="Ledger of collected archive files, one row per distinct content: status (parsed or "
            "quarantined), why a file was quarantined, record counts and landing backup path. The latest "
            "materialization lists every file of its run and the newest 20 of the ledger. To re-run one "
            "file, launch the rerun_file job with that file's partition.",
            group_name=GROUP,
            kinds={"duckdb", "sftp", "xml"},
        ),
        dg.AssetSpec(
            "message_records",
            deps=["archive_files"],
            description="One row per <message> element loaded; refused elements go to rejected_records.",
            group_name=GROUP,
            kinds={"duckdb", "xml"},
        ),
    ],
    pool=POOL,
    retry_policy=RETRY,
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, eur: EurResource) -> Iterator[dg.MaterializeResult]:
    """Collect files: download, verify, back up, then ledger row and records in one transaction, then the
    remote completion. With keys, exactly those files; otherwise every ready file."""
    meta = collect_metadata(context.op_execution_context, eur, config.keys or None, config.sources, config.files)
    for key, metadata in meta.items():
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


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
            "SELECT thread_id, sent_at, sender, recipients, length(body) AS body_chars FROM messages "
            "ORDER BY sent_at DESC LIMIT 5",
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
                "sum(total_cost) AS total_cost FROM billing GROUP BY user_jid "
                "ORDER BY sent + received DESC, sent DESC LIMIT 10",
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
        "scoped_reports_rendered": len(written.scoped),
        "pdfs_printed": len(written.pdfs),
    }
    if latest is not None:
        meta["latest_report"] = dg.MetadataValue.url(latest.html.resolve().as_uri())
        meta["latest_cost_centers_csv"] = dg.MetadataValue.path(str(latest.cost_centers_csv))
        meta["latest_users_csv"] = dg.MetadataValue.path(str(latest.users_csv))
    meta["files"] = dg.MetadataValue.md("\n".join(f"- [{p.name}]({p.resolve().as_uri()})" for p in written.paths[:40]))
    return dg.MaterializeResult(metadata=meta)


ALL_ASSETS = [ingest, messages, conversations, billing, reports]
