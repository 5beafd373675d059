"""Collect one source: list → ready → download → ledger + records in one transaction → remote completion.

The order is the reliability contract (docs/design.md): a remote file is deleted or moved only after its
data is committed; a failed completion is retried by the next run, which recognises the file by its
content (or by an unchanged name/size/mtime) and loads nothing twice. The next file downloads while
this one loads (``fetch_ahead``); nothing of that changes the order above for any one file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.errors import EurError, LocalFileError, SourceError
from eur_pipeline.faults import fault_point
from eur_pipeline.formats.registry import get_format
from eur_pipeline.names import ledger_name, shown
from eur_pipeline.pipeline import fetch_ahead
from eur_pipeline.pipeline import progress as progress_events
from eur_pipeline.pipeline.backups import note_backup
from eur_pipeline.pipeline.fetch_ahead import FetchAhead
from eur_pipeline.pipeline.landing import keep_backup, parse_scratch, staging_path
from eur_pipeline.pipeline.parse_worker import SplitParseFailed, parse_split, parser_for, split_cuts
from eur_pipeline.sources.base import RemoteFile, Source, ready_files
from eur_pipeline.sources.ledger_view import SourceLedger
from eur_pipeline.sources.registry import open_source, source_format
from eur_pipeline.warehouse.connection import sharing_cores, transaction
from eur_pipeline.warehouse.lake import source_claim
from eur_pipeline.warehouse.ledger import (
    FileIdentity,
    file_id_of,
    known_sighting,
    ledger_status,
    mark_completed,
    record_sighting,
)
from eur_pipeline.warehouse.loader import LoadOutcome, load_archive

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    source: str
    name: str  # as listed (may hold undecodable bytes as surrogates): show it with names.shown
    outcome: str  # parsed | quarantined | duplicate | skipped | failed
    records: int = 0
    rejects: int = 0
    detail: str | None = None
    file_id: str | None = None


@dataclass
class SourceReport:
    source: str
    files: list[FileResult] = field(default_factory=list)
    error: str | None = None  # the source could not be reached / listed
    warnings: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for f in self.files if f.outcome == outcome)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.count("failed") > 0


def _complete(
    con: duckdb.DuckDBPyConnection,
    src: Source | FetchAhead,
    cfg: SourceConfig,
    remote: RemoteFile,
    report: SourceReport,
) -> None:
    """Remote delete/move after the commit; failure is a warning, retried next run."""
    if cfg.on_success == "keep":
        return
    try:
        src.complete(remote)
    except (EurError, OSError) as exc:
        message = f"{cfg.name}: {shown(remote.name)}: remote {cfg.on_success} failed, will retry next run: {exc}"
        log.warning(message)
        report.warnings.append(message)
        return
    mark_completed(con, cfg.name, remote)


def _progress_logger(source: str, remote: RemoteFile, every_seconds: float = 5.0) -> Callable[[int], None]:
    """Log records loaded so far, at most every few seconds, so long files show progress."""
    started = last = time.monotonic()

    def report(loaded: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_seconds:
            last = now
            rate = loaded / max(now - started, 1e-9)
            log.info("%s: %s: %s records loaded (%.0f records/s)", source, shown(remote.name), f"{loaded:,}", rate)

    return report


def load_landed(
    con: duckdb.DuckDBPyConnection,
    ident: FileIdentity,
    path: Path,
    landing_dir: Path,
    on_batch: Callable[[int], None] | None = None,
    on_commit: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None,
    replace: bool = False,
    mapped: Any = None,
) -> LoadOutcome:
    """Load a landed file atomically: in parts in parallel when it can be cut, else whole
    (``replace``: a reprocessed file's earlier rows go in the same transaction). ``mapped``: what the
    source already mapped from the same bytes (``FetchedFile.mapped``), loaded instead of a parse."""
    if mapped is not None:
        fmt = get_format(ident.format)
        return load_archive(
            con, ident, lambda result: fmt.parse_mapped(mapped, result), on_batch, on_commit=on_commit, replace=replace
        )
    cuts = split_cuts(ident.format, path)
    if cuts is not None:
        log.info(
            "%s: parsing in %d processes (cut at bytes %s)", path.name, len(cuts) + 1, ", ".join(f"{c:,}" for c in cuts)
        )
        scratch = parse_scratch(landing_dir)
        try:
            return load_archive(
                con,
                ident,
                lambda result: parse_split(ident.format, path, cuts, result, scratch),
                on_batch,
                on_commit=on_commit,
                replace=replace,
            )
        except SplitParseFailed as exc:
            log.info("%s: %s; parsing it whole", path.name, exc)
    return load_archive(con, ident, parser_for(ident.format, path), on_batch, on_commit=on_commit, replace=replace)


def _collected_before(con: duckdb.DuckDBPyConnection, source: str, remote: RemoteFile) -> str | None:
    """The content sha256 when this listing entry was collected and not yet completed at the source
    (nothing to download), else None. A file we already deleted/moved that is listed again is a new
    upload (mtimes are whole seconds over SFTP, so name+size+mtime can repeat): its content decides."""
    known = known_sighting(con, source, remote)
    return known[0] if known is not None and not known[1] else None


def collect_file(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    cfg: SourceConfig,
    src: Source | FetchAhead,
    remote: RemoteFile,
    report: SourceReport,
) -> FileResult:
    """One file through the whole contract; never raises for a bad file (quarantine instead)."""
    collected = _collected_before(con, cfg.name, remote)
    if collected is not None:
        _complete(con, src, cfg, remote, report)
        return FileResult(cfg.name, remote.name, "skipped", detail="already collected", file_id=file_id_of(collected))

    staged = staging_path(config.landing_dir, cfg.name, remote.name)
    fetched = src.fetch(remote, staged)
    ident = FileIdentity(
        source=cfg.name,
        name=ledger_name(remote.name),
        size_bytes=fetched.size,
        sha256=fetched.sha256,
        remote_mtime=remote.mtime,
        format=source_format(cfg),
        landing_path="",  # set once the backup copy is kept
        collected_at=datetime.now(UTC),
    )
    if ledger_status(con, fetched.sha256) is not None:
        staged.unlink(missing_ok=True)
        note_backup(config.landing_dir, ident, kind="sighting")
        with transaction(con):
            record_sighting(con, ident)
            if fetched.on_commit:  # e.g. a database batch already loaded (a warehouse rebuilt from the
                fetched.on_commit(con, ident.file_id)  # landing copies): its ids move the watermark
        _complete(con, src, cfg, remote, report)
        return FileResult(
            cfg.name,
            remote.name,
            "duplicate",
            detail="same content already loaded",
            file_id=ident.file_id,
        )

    landed = keep_backup(staged, config.landing_dir, cfg.name, remote.name, fetched.sha256)
    ident = replace(ident, landing_path=str(landed))
    note_backup(config.landing_dir, ident)
    fault_point("before_commit")
    outcome = load_landed(
        con,
        ident,
        landed,
        config.landing_dir,
        on_batch=_progress_logger(cfg.name, remote),
        on_commit=fetched.on_commit,
        mapped=fetched.mapped,
    )
    if outcome.status == "quarantined":
        log.warning("%s: %s: quarantined: %s", cfg.name, shown(remote.name), outcome.error)
    fault_point("before_complete")
    _complete(con, src, cfg, remote, report)
    return FileResult(
        cfg.name,
        remote.name,
        outcome.status,
        outcome.record_count,
        outcome.rejected_count,
        outcome.error,
        outcome.file_id,
    )


def collect_source(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    cfg: SourceConfig,
    names: Iterable[str] | None = None,
    now: float | None = None,
    max_files: int | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> SourceReport:
    """Collect every ready file (or just ``names``, when a sensor chose them). Source outages are
    reported in ``SourceReport.error``, not raised, so one source never stops the others."""
    report = SourceReport(cfg.name)
    wanted = set(names) if names is not None else None
    try:
        with open_source(cfg) as src, contextlib.ExitStack() as claimed:
            fmt = get_format(source_format(cfg))
            if hasattr(src, "map_ahead") and hasattr(fmt, "map_batch"):
                src.map_ahead = fmt.map_batch  # the source maps each batch in its read-ahead thread
            if getattr(src, "reads_ahead", False):  # that thread takes a core from the loading connection
                claimed.enter_context(sharing_cores(con, helpers=1))
            resume = getattr(src, "resume", None)
            if resume is not None:  # a database source: batches follow the watermark, one lake writer at a time
                claimed.enter_context(source_claim(con, cfg.name))
                resume(SourceLedger(con, cfg.name))
            listing = src.list_files()
            if wanted is not None:
                candidates = sorted((f for f in listing if f.name in wanted and f.size > 0), key=lambda f: f.name)
            else:
                candidates = ready_files(listing, cfg.min_age_seconds, now=now)
            if max_files is not None:
                candidates = candidates[:max_files]
            for name, reason in getattr(src, "refused", []):
                if wanted is None or name in wanted:
                    result = FileResult(cfg.name, name, "quarantined", detail=f"{reason}; left at the source")
                    log.warning("%s: %s: not collected: %s", cfg.name, shown(name), result.detail)
                    report.files.append(result)
            progress_events.source_started(cfg.name, len(candidates))
            fetcher: Source | FetchAhead = src
            if not getattr(src, "reads_ahead", False) and len(candidates) > 1 and fetch_ahead.enabled():
                fetcher = FetchAhead(
                    src,
                    candidates,
                    stage=lambda r: staging_path(config.landing_dir, cfg.name, r.name),
                    wanted=lambda r: _collected_before(con, cfg.name, r) is None,
                )
                claimed.callback(fetcher.close)
            for remote in candidates:
                try:
                    result = collect_file(con, config, cfg, fetcher, remote, report)
                except SourceError as exc:
                    if not exc.retryable:
                        raise
                    result = FileResult(cfg.name, remote.name, "failed", detail=str(exc))
                    log.warning("%s", exc)
                report.files.append(result)
                progress_events.file_done(result)
                if progress:
                    progress(result)
    except (SourceError, LocalFileError) as exc:
        # a local disk fault stops this source: each further file would fail the same way, and
        # nothing was completed at the source for the file that hit it
        report.error = str(exc)
        log.debug("%s: source failed: %s", cfg.name, exc)  # reported once, by whoever reads the report
    progress_events.source_done(report)
    return report


def source_summary(report: SourceReport) -> str:
    parts = [
        f"{report.count(o)} {o}" for o in ("parsed", "quarantined", "duplicate", "skipped", "failed") if report.count(o)
    ]
    text = f"{report.source}: " + (", ".join(parts) or "nothing ready") + f"; {report.records:,} records"
    return text + (f" — FAILED: {report.error}" if report.error else "")
