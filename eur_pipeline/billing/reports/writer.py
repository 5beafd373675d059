"""Write each period's page and CSVs and the index, skipping periods whose inputs did not change.

A file is rewritten only when its content changed (atomically: temp file + rename), so a re-run
leaves the reports untouched; a period whose digest matches the one recorded when it was written
(and whose files are all there) is not even queried or rendered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import duckdb

from eur_pipeline.billing.reports.csv_out import render_csv
from eur_pipeline.billing.reports.data import (
    COST_CENTER_COLUMNS,
    USER_COLUMNS,
    PeriodData,
    collect_period,
    period_scopes,
    period_summaries,
    report_periods,
)
from eur_pipeline.billing.reports.digests import DIGESTS, period_digests, read_digests
from eur_pipeline.billing.reports.paths import INDEX, PeriodReport, ReportSet, page_name, scope_dir, slug
from eur_pipeline.billing.reports.pdf import print_pdfs
from eur_pipeline.billing.reports.render import PageLinks, render_html, render_index
from eur_pipeline.config import EurConfig


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic write (temp + rename), skipped when the content is already there."""
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_files(report: PeriodReport, data: PeriodData, links: PageLinks) -> None:
    report.html.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(report.html, render_html(data, links))
    _write_if_changed(report.cost_centers_csv, render_csv(COST_CENTER_COLUMNS, data.by_cost_center))
    _write_if_changed(report.users_csv, render_csv(USER_COLUMNS, data.users))


def _write_period(
    con: duckdb.DuckDBPyConnection, config: EurConfig, report: PeriodReport, links: PageLinks
) -> list[PeriodReport]:
    """The period's page and CSVs, then one set per department, cost center and site billed in it."""
    scopes = [
        (scope, PeriodReport.under(scope_dir(report.html.parent, scope.slug), report.period))
        for scope in period_scopes(con, report.period)
    ]
    root = report.html.parent
    links = links._replace(scopes=tuple((s.label, one.html.relative_to(root).as_posix()) for s, one in scopes))
    _write_files(report, collect_period(con, config, report.period), links)
    scoped = []
    for scope, one in scopes:
        scope_links = PageLinks(
            cost_centers_csv=one.cost_centers_csv.name,
            users_csv=one.users_csv.name,
            prev=None,
            next=None,
            index=f"../../{report.html.name}",
        )
        _write_files(one, collect_period(con, config, report.period, scope), scope_links)
        scoped.append(one)
    return scoped


def write_reports(
    con: duckdb.DuckDBPyConnection, config: EurConfig, periods: Iterable[date] | None = None
) -> ReportSet:
    """Write the HTML report and the two CSVs of each period (default: every billed period) and
    refresh ``index.html``, under ``config.resolved_reports_dir``. Reads only."""
    out_dir = config.resolved_reports_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    all_periods = report_periods(con)
    wanted = set(all_periods if periods is None else periods)
    digests_path = out_dir / DIGESTS
    done = read_digests(digests_path)
    digests = period_digests(con, config.timezone, all_periods)
    written: list[PeriodReport] = []
    rendered: list[date] = []
    scoped: list[PeriodReport] = []
    for i, period in enumerate(all_periods):
        if period not in wanted:
            continue
        key = slug(period)
        report = PeriodReport.under(out_dir, period)
        if (
            done.get(key) != digests[key]
            or not all(p.exists() for p in report.files)
            or (config.report_pdf and not report.pdf.exists())
        ):
            rendered.append(period)
            links = PageLinks(
                cost_centers_csv=report.cost_centers_csv.name,
                users_csv=report.users_csv.name,
                prev=page_name(all_periods[i - 1]) if i > 0 else None,
                next=page_name(all_periods[i + 1]) if i + 1 < len(all_periods) else None,
                index=INDEX,
            )
            scoped += _write_period(con, config, report, links)
            done.pop(key, None)  # recorded again once every file (and PDF) of the period is written
        written.append(report)

    pdfs: list[Path] = []
    if config.report_pdf:
        pages = [r for r in written if r.period in rendered] + scoped
        pdfs = print_pdfs([(r.html, r.pdf) for r in pages])
    for period in rendered:
        done[slug(period)] = digests[slug(period)]
    summaries = period_summaries(con)
    listed = [PeriodReport.under(out_dir, p) for p in all_periods]
    index = out_dir / INDEX
    _write_if_changed(index, render_index([(r, summaries[r.period]) for r in listed if r.html.exists()]))
    _write_if_changed(digests_path, json.dumps({k: v for k, v in done.items() if k in digests}, sort_keys=True))
    return ReportSet(
        directory=out_dir,
        index=index,
        periods=tuple(written),
        rendered=tuple(rendered),
        scoped=tuple(scoped),
        pdfs=tuple(pdfs),
    )
