"""Per-period reports a finance person or IT manager reads without SQL, plus CSV exports for finance.

Each period gets one self-contained HTML file (inline CSS and JS, charts drawn as inline SVG by a
few lines of hand-written JS, no network at all — it can be mailed or opened offline) and two CSVs
(per cost center, per user) carrying the exact 4-decimal amounts; an ``index.html`` lists them.
Output depends only on the warehouse (no "generated at" stamp).

``data`` reads the figures into typed rows, ``render`` turns them into HTML through the Jinja2
templates in ``templates/`` (CSS and JS in ``static/``), ``csv_out`` writes the CSVs, ``digests``
decides which periods need rendering again and ``writer`` writes the files.
"""

from eur_pipeline.billing.reports.csv_out import render_csv
from eur_pipeline.billing.reports.data import (
    COST_CENTER_COLUMNS,
    USER_COLUMNS,
    PeriodData,
    collect_period,
    report_periods,
)
from eur_pipeline.billing.reports.paths import PeriodReport, ReportSet
from eur_pipeline.billing.reports.render import render_html, render_index
from eur_pipeline.billing.reports.writer import write_reports

__all__ = [
    "COST_CENTER_COLUMNS",
    "USER_COLUMNS",
    "PeriodData",
    "PeriodReport",
    "ReportSet",
    "collect_period",
    "render_csv",
    "render_html",
    "render_index",
    "report_periods",
    "write_reports",
]
