"""What one ingest run collects: either exactly the files of its partition keys (a sensor's batch,
or one file re-run from the UI), or every ready file of the selected sources (``eur-pipeline run``,
schedules, "Materialize all"). Plain Python: the Dagster asset is one call into :func:`ingest`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb

from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.errors import ConfigError, SourceError
from eur_pipeline.names import shown
from eur_pipeline.pipeline.collect import FileResult, SourceReport, collect_source
from eur_pipeline.pipeline.file_keys import partition_key, source_of
from eur_pipeline.sources.registry import open_source
from eur_pipeline.warehouse.ledger import collected_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """A file (or source) this run could not collect, and whether a retry can help."""

    text: str
    retryable: bool


@dataclass
class IngestOutcome:
    reports: list[SourceReport] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    already_collected: list[str] = field(default_factory=list)  # partition re-runs of files already loaded

    @property
    def files(self) -> list[FileResult]:
        return [f for r in self.reports for f in r.files]

    def count(self, outcome: str) -> int:
        return sum(r.count(outcome) for r in self.reports)


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
            listed = [f.name for f in src.list_files()]  # the source applies the pattern
        by_key.update({partition_key(source.name, n): n for n in listed})
    present = sorted(by_key[k] for k in keys if k in by_key)
    rest = keys - {partition_key(source.name, n) for n in present}
    collected: list[tuple[str, str]] = []
    if rest:
        for done in collected_files(con, source.name):
            key = partition_key(source.name, done.name)
            if key in rest:
                collected.append((done.name, done.describe()))
                rest.discard(key)
    return present, collected, rest


def _collect_keys(
    con: duckdb.DuckDBPyConnection,
    cfg: EurConfig,
    keys: Iterable[str],
    hints: list[str],
    progress: Callable[[FileResult], None] | None,
) -> IngestOutcome:
    outcome = IngestOutcome()
    by_source: dict[str, set[str]] = {}
    for key in keys:
        by_source.setdefault(source_of(key), set()).add(key)
    for name, wanted in sorted(by_source.items()):
        try:
            source = cfg.source(name)
        except ConfigError as exc:
            outcome.failures += [Failure(f"{k}: {exc}", False) for k in sorted(wanted)]
            continue
        try:
            present, collected, unknown = _resolve_keys(con, source, wanted, hints)
        except SourceError as exc:
            outcome.failures.append(Failure(f"{name}: cannot list the source: {exc}", exc.retryable))
            continue
        outcome.already_collected += [
            f"{name}/{shown(n)}: already collected ({row}); nothing to load" for n, row in collected
        ]
        outcome.failures += [Failure(f"{k}: not at the source and never collected", False) for k in sorted(unknown)]
        if not present:
            continue
        report = collect_source(con, cfg, source, names=present, progress=progress)
        outcome.reports.append(report)
        if report.error:
            outcome.failures.append(Failure(f"{name}: {report.error}", True))
        outcome.failures += [
            Failure(f"{name}/{shown(f.name)}: {f.detail}", True) for f in report.files if f.outcome == "failed"
        ]
        missing = set(present) - {f.name for f in report.files}
        outcome.failures += [
            Failure(f"{name}/{shown(m)}: gone from the source before it was collected", False) for m in sorted(missing)
        ]
    return outcome


def _collect_ready(
    con: duckdb.DuckDBPyConnection,
    cfg: EurConfig,
    sources: list[str],
    files: list[str],
    progress: Callable[[FileResult], None] | None,
) -> IngestOutcome:
    """Every ready file of the selected sources. A source outage is reported (and fails
    ``eur-pipeline run``), never blocks the other sources or the downstream refresh."""
    outcome = IngestOutcome()
    for source in cfg.sources:
        if sources and source.name not in sources:
            continue
        report = collect_source(con, cfg, source, names=files or None, progress=progress)
        outcome.reports.append(report)  # a failed source is reported once, by the report's summary
    return outcome


def ingest(
    con: duckdb.DuckDBPyConnection,
    cfg: EurConfig,
    keys: list[str] | None,
    sources: list[str] | None = None,
    files: list[str] | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> IngestOutcome:
    """Collect this run's files: exactly ``keys`` (partition keys; ``files`` is the sensor's hint that
    saves a listing), or, with ``keys`` None, every ready file of ``sources`` (empty = all)."""
    if keys is not None:
        return _collect_keys(con, cfg, keys, files or [], progress)
    return _collect_ready(con, cfg, sources or [], files or [], progress)
