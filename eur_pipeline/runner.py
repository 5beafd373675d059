"""Run the whole pipeline once, in-process through Dagster, and explain the result in one line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from eur_pipeline.config import EurConfig
from eur_pipeline.config.loader import find_config_path, load_config
from eur_pipeline.warehouse.connection import WarehouseLockedError, connect, warehouse_exists
from eur_pipeline.warehouse.migrations import open_warehouse


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    reason: str
    summary: str
    failed_sources: dict[str, str]


def _step_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            message = (error.message if error else "unknown error").strip().splitlines()
            cause = error.cause.message.strip().splitlines()[0] if error and error.cause else None
            text = message[0] if message else "failed"
            return f"step {event.step_key} failed: {cause or text}"
    return "run failed"


def _ingest_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization  # type: ignore[union-attr]
            if mat.asset_key == dg.AssetKey("archive_files"):
                return {k: v.value for k, v in mat.metadata.items()}
    return {}


def warehouse_summary(config: EurConfig) -> str:
    if not warehouse_exists(config.warehouse):
        return "warehouse: (not created)"
    con = connect(config.warehouse, read_only=True, wait_seconds=30)
    try:
        counts = con.execute(
            """SELECT (SELECT count(*) FROM archive_files WHERE status = 'parsed'),
                      (SELECT count(*) FROM archive_files WHERE status = 'quarantined'),
                      (SELECT count(*) FROM message_records), (SELECT count(*) FROM rejected_records),
                      (SELECT count(*) FROM messages), (SELECT count(*) FROM conversations),
                      (SELECT count(*) FROM billing)"""
        ).fetchone()
    finally:
        con.close()
    assert counts is not None
    return (
        f"warehouse {config.warehouse}: {counts[0]} files parsed, {counts[1]} quarantined, "
        f"{counts[2]:,} records ({counts[3]:,} rejected), {counts[4]:,} messages, "
        f"{counts[5]:,} conversations, {counts[6]:,} billing rows"
    )


def run_pipeline(config_path: str | None = None, log_level: str = "INFO") -> RunOutcome:
    """Materialize every asset once (checks included). Quarantined files do not fail the run; an
    unreachable source or a failed step does, with a one-line reason."""
    path = str(find_config_path(config_path))
    config = load_config(path)  # fail fast with the key and reason before Dagster starts
    try:  # and with the warehouse's real problem (a folder, another file), in one line, before any step
        open_warehouse(config.warehouse).close()
    except WarehouseLockedError as exc:
        return RunOutcome(False, str(exc), "warehouse: (locked)", {})
    from eur_pipeline.definitions import PIPELINE_JOB, build_definitions
    from eur_pipeline.defs.console import LOGGERS, run_logging

    defs = build_definitions(path, loggers=LOGGERS)
    job = defs.resolve_job_def(PIPELINE_JOB.name)
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=run_logging(log_level),
        )
    meta = _ingest_metadata(result)
    failed = dict(meta.get("failed_sources") or {})
    summary = warehouse_summary(config)
    if not result.success:
        return RunOutcome(False, _step_failure(result), summary, failed)
    if failed:
        names = ", ".join(f"{k} ({v})" for k, v in failed.items())
        return RunOutcome(False, f"source(s) failed: {names}", summary, failed)
    failed_files = list(meta.get("failed_files") or [])
    if failed_files:
        more = f" (+{len(failed_files) - 1} more)" if len(failed_files) > 1 else ""
        reason = f"{len(failed_files)} file(s) not collected, retried next run: {failed_files[0]}{more}"
        return RunOutcome(False, reason, summary, failed)
    return RunOutcome(True, "ok", summary, failed)
