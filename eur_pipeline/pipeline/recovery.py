"""The way back: parse collected files again from their landing backups (``reprocess``), or build a
whole new warehouse from the backups alone (``rebuild``). Both are written to ``audit_log``.

Reprocess replaces a file's rows in one transaction (its old records, rejects and ledger row go with
the new load), so running it twice, or after a crash, leaves the tables as if the file had parsed
right the first time. The derived tables are refreshed for the threads it touched.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.compliance import audit
from eur_pipeline.config import EurConfig
from eur_pipeline.errors import UsageError
from eur_pipeline.names import shown
from eur_pipeline.pipeline.backups import list_backups
from eur_pipeline.pipeline.collect import load_landed
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.warehouse.connection import connect
from eur_pipeline.warehouse.ledger import FileIdentity, file_identities, ledger_status, record_sighting
from eur_pipeline.warehouse.loader import LoadOutcome
from eur_pipeline.warehouse.migrations import migrate

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What a reprocess or rebuild did, per file: ``(file_id, name, outcome, detail)``."""

    files: list[tuple[str, str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for f in self.files if f[2] == outcome)

    @property
    def failed(self) -> list[tuple[str, str, str, str]]:
        return [f for f in self.files if f[2] == "failed"]

    def summary(self, verb: str) -> str:
        counts = ", ".join(
            f"{self.count(o)} {o}" for o in ("parsed", "quarantined", "duplicate", "failed") if self.count(o)
        )
        return f"{verb} {len(self.files)} file(s) in {self.seconds:.1f} s: {counts or 'nothing to do'}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def refresh_derived(con: duckdb.DuckDBPyConnection, config: EurConfig) -> None:
    """messages → conversations → billing for every queued thread (as the assets do after a load)."""
    refresh_messages(con)
    refresh_conversations(con)
    refresh_billing(con, config)


def reprocess(
    con: duckdb.DuckDBPyConnection,
    config: EurConfig,
    file_ids: list[str] | None = None,
    quarantined: bool = False,
    actor: str | None = None,
) -> RecoveryReport:
    """Parse the given files (or every quarantined one) again from their landing backups."""
    started = time.monotonic()
    if quarantined:
        idents = file_identities(con, quarantined=True)
    else:
        idents = []
        for file_id in file_ids or []:
            found = file_identities(con, file_id=file_id)
            if not found:
                raise UsageError(f"no collected file with file_id {file_id!r} (see: SELECT file_id FROM archive_files)")
            idents += found
    report = RecoveryReport()
    for ident in idents:
        file_id, name, path = ident.file_id, ident.name, Path(ident.landing_path)
        if not ident.landing_path or not path.is_file():
            detail = f"landing backup {ident.landing_path or '(none)'} is missing; not reprocessed"
            report.files.append((file_id, name, "failed", detail))
            continue
        if sha256_of(path) != ident.sha256:
            detail = f"landing backup {path} no longer has the collected content (sha256 differs); not reprocessed"
            report.files.append((file_id, name, "failed", detail))
            continue
        outcome = load_landed(con, ident, path, config.landing_dir, replace=True)
        _note(report, ident, outcome)
        audit.record(
            con,
            "reprocess",
            {"file_id": file_id, "source": ident.source, "status": outcome.status, "records": outcome.record_count},
            actor,
        )
    refresh_derived(con, config)
    report.seconds = time.monotonic() - started
    return report


def rebuild(config: EurConfig, into: Path, actor: str | None = None) -> RecoveryReport:
    """A new warehouse at ``into`` from the landing backups alone (``into`` must not exist yet)."""
    started = time.monotonic()
    if into.exists():
        raise UsageError(f"{into} already exists; rebuild writes a new warehouse (choose another --into)")
    if isinstance(config.warehouse, Path) and into.resolve() == config.warehouse.resolve():
        raise UsageError(f"{into} is the configured warehouse; rebuild into a new file")
    formats = {s.name: s.format for s in config.sources}
    backups, sightings = list_backups(config.landing_dir, formats)
    report = RecoveryReport()
    con = connect(into)
    try:
        migrate(con)
        for backup in backups:
            ident = backup.ident
            sha = sha256_of(backup.path)
            if ident.sha256 and sha != ident.sha256:
                detail = f"landing backup {backup.path} does not hold its collected content; skipped"
                report.files.append((ident.file_id, ident.name, "failed", detail))
                log.warning("%s: %s", shown(ident.name), detail)
                continue
            ident = replace(ident, sha256=sha, landing_path=str(backup.path))
            if ledger_status(con, sha) is not None:
                record_sighting(con, ident)
                report.files.append((ident.file_id, ident.name, "duplicate", "same content already loaded"))
                continue
            outcome = load_landed(con, ident, backup.path, config.landing_dir)
            _note(report, ident, outcome)
        for sighting in sightings:  # the same content listed under other names
            if ledger_status(con, sighting.sha256) is not None:
                record_sighting(con, sighting)
        refresh_derived(con, config)
        audit.record(
            con,
            "rebuild",
            {
                "landing_dir": str(config.landing_dir),
                "into": str(into),
                "files": len(report.files),
                "parsed": report.count("parsed"),
                "quarantined": report.count("quarantined"),
                "failed": len(report.failed),
            },
            actor,
        )
    finally:
        con.close()
    report.seconds = time.monotonic() - started
    return report


def _note(report: RecoveryReport, ident: FileIdentity, outcome: LoadOutcome) -> None:
    detail = outcome.error or f"{outcome.record_count} records, {outcome.rejected_count} rejected"
    report.files.append((outcome.file_id, ident.name, outcome.status, detail))
    log.debug("%s/%s: %s (%s)", ident.source, shown(ident.name), outcome.status, detail)
