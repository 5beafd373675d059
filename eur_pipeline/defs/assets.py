"""Assets: table names of DESIGN.md. Each materialization is one call into the plain-Python core.

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
import duckdb
from pydantic import Field

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.billing.reports import write_reports
from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.defs.metadata import markdown_rows, markdown_table, table_metadata
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, partition_key, source_of
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.errors import ConfigError, SourceError
from eur_pipeline.names import shown
from eur_pipeline.pipeline.collect import FileResult, SourceReport, collect_source, source_summary
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.sources.base import is_candidate_name
from eur_pipeline.sources.registry import open_source

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
    text = f"{r.source}/{shown(r.name)}: {r.outcome}" + (f" ({r.records} records)" if r.records else "")
    if r.detail and r.outcome != "parsed":
        text += f" — {r.detail}"
    (context.log.warning if r.outcome in ("quarantined", "failed") else context.log.info)(text)


def _resolve_keys(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, keys: set[str], hints: list[str]
) -> tuple[list[str], list[tuple[str, str]], set[str]]:
    """Partition keys → (names still at the source, (name, ledger row) already collected, unknown keys).

    A key names a file that is either still at the source (collect it), or gone because it was
    collected and deleted/moved (report its ledger row: content is never loaded twice, and the
    landing backup holds the bytes), or neither (reported as a failure)."""
    by_key = {partition_key(source.name, n): n for n in hints}
    if not keys <= by_key.keys():
        with open_source(source) as src:
            listed = [f.name for f in src.list_files() if is_candidate_name(f.name, source.pattern)]
        by_key.update({partition_key(source.name, n): n for n in listed})
    present = sorted(by_key[k] for k in keys if k in by_key)
    rest = keys - {partition_key(source.name, n) for n in present}
    collected: list[tuple[str, str]] = []
    if rest:
        rows = con.execute(
            """SELECT s.name, format('file_id {}, {}, {} records, backup {}', a.file_id, a.status, a.record_count,
                                     coalesce(a.landing_path, '(none)'))
               FROM file_sightings s JOIN archive_files a USING (sha256)
               WHERE s.source = ? ORDER BY s.seen_at""",
            [source.name],
        ).fetchall()
        for name, row in rows:
            key = partition_key(source.name, name)
            if key in rest:
                collected.append((name, row))
                rest.discard(key)
    return present, collected, rest


def _collect_partitions(
    context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection, cfg: EurConfig, config: IngestConfig
) -> tuple[list[SourceReport], list[tuple[str, bool]]]:
    """Collect the files of this run's partition keys; returns the reports and the failures, each
    ``(what failed and why, whether a retry can help)``."""
    by_source: dict[str, set[str]] = {}
    for key in context.partition_keys:
        by_source.setdefault(source_of(key), set()).add(key)
    reports, failures = [], []
    for name, keys in sorted(by_source.items()):
        try:
            source = cfg.source(name)
        except ConfigError as exc:
            failures += [(f"{k}: {exc}", False) for k in sorted(keys)]
            continue
        try:
            present, collected, unknown = _resolve_keys(con, source, keys, config.files)
        except SourceError as exc:
            failures.append((f"{name}: cannot list the source: {exc}", exc.retryable))
            continue
        for file_name, ledger in collected:
            context.log.info(f"{name}/{shown(file_name)}: already collected ({ledger}); nothing to load")
        failures += [(f"{k}: not at the source and never collected", False) for k in sorted(unknown)]
        if present:
            report = collect_source(con, cfg, source, names=present, progress=lambda r: _log_file(context, r))
            reports.append(report)
            if report.error:
                failures.append((f"{name}: {report.error}", True))
            failures += [(f"{name}/{shown(f.name)}: {f.detail}", True) for f in report.files if f.outcome == "failed"]
            missing = set(present) - {f.name for f in report.files}
            failures += [
                (f"{name}/{shown(m)}: gone from the source before it was collected", False) for m in sorted(missing)
            ]
    return reports, failures


def _collect_all(
    context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection, cfg: EurConfig, config: IngestConfig
) -> list[SourceReport]:
    """Unpartitioned run: every ready file of the selected sources. A source outage is reported (and
    fails ``eur-pipeline run``), never blocks the other sources or the downstream refresh."""
    reports = []
    for source in cfg.sources:
        if config.sources and source.name not in config.sources:
            continue
        report = collect_source(con, cfg, source, names=config.files or None, progress=lambda r: _log_file(context, r))
        reports.append(report)
    return reports


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
        if partitioned:
            reports, failures = _collect_partitions(context, con, cfg, config)
        else:
            reports, failures = _collect_all(context, con, cfg, config), []
        for report in reports:
            (context.log.error if report.error else context.log.info)(source_summary(report))
            for warning in report.warnings:
                context.log.warning(warning)
        if failures:
            # the committed files stay committed; a retry (or re-execution) skips them by sighting
            texts = [text for text, _ in failures]
            raise dg.Failure(
                description=f"{len(texts)} file(s) not collected: " + "; ".join(texts[:20]),
                metadata={"failures": dg.MetadataValue.md("\n".join(f"- {t}" for t in texts))},
                allow_retries=any(retryable for _, retryable in failures),
            )
        files = [f for r in reports for f in r.files]
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
                "failed_sources": dg.MetadataValue.json({r.source: r.error for r in reports if r.error}),
                "failed_files": dg.MetadataValue.json(
                    [f"{f.source}/{shown(f.name)}: {f.detail}" for f in files if f.outcome == "failed"]
                ),
                "this_run": dg.MetadataValue.md(
                    markdown_rows(
                        ["source", "name", "outcome", "records", "rejected", "detail"],
                        [
                            (f.source, shown(f.name), f.outcome, f.records, f.rejects, f.detail or "")
                            for f in files[:50]
                        ],
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
