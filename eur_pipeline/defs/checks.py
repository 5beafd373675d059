"""Asset checks: the blocking pandera validation of conversations, and ledger/reconciliation checks."""

from __future__ import annotations

import dagster as dg

from eur_pipeline.defs.resources import EurResource
from eur_pipeline.pipeline.validation import conversations_to_check, validate_conversations


@dg.asset_check(
    asset="conversations",
    blocking=True,
    description="pandera ConversationSchema on the conversations this run refreshed; failures block billing.",
)
def conversations_schema(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        frame = conversations_to_check(con)
    failures = validate_conversations(frame)
    preview = failures.head(20).to_markdown(index=False) if len(failures) else "no failures"
    return dg.AssetCheckResult(
        passed=failures.empty,
        metadata={
            "rows_checked": len(frame),
            "failure_cases": len(failures),
            "failures": dg.MetadataValue.md(preview),
        },
    )


@dg.asset_check(
    asset="archive_files",
    description="Quarantined files (WARN): lists each file and why it was quarantined.",
)
def no_quarantined_files(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        rows = con.execute(
            "SELECT source, name, error FROM archive_files WHERE status = 'quarantined' ORDER BY collected_at DESC"
        ).fetchall()
    listing = "\n".join(f"- `{s}/{n}`: {e}" for s, n, e in rows[:50]) or "none"
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined_files": len(rows), "files": dg.MetadataValue.md(listing)},
    )


@dg.asset_check(
    asset="message_records",
    description="The ledger's record_count equals the rows loaded for every parsed file.",
)
def ledger_matches_records(eur: EurResource) -> dg.AssetCheckResult:
    with eur.warehouse() as con:
        rows = con.execute(
            """SELECT a.name, a.record_count, coalesce(r.n, 0) FROM archive_files a
               LEFT JOIN (SELECT file_id, count(*) AS n FROM message_records GROUP BY file_id) r USING (file_id)
               WHERE a.record_count <> coalesce(r.n, 0)"""
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"mismatched_files": len(rows), "examples": dg.MetadataValue.json([list(r) for r in rows[:20]])},
    )


ALL_CHECKS = [conversations_schema, no_quarantined_files, ledger_matches_records]
