"""The finance CSVs: exact values (4-place amounts as stored), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from eur_pipeline.billing.reports.data import CostCenterBill, UserBill

_TEXT_COLUMNS = {"user_jid", "name", "site", "department", "cost_center", "rate_plan"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(column: str, value: object) -> str:
    """Exact text; text cells that a spreadsheet would run as a formula get a leading quote."""
    if value is None:
        return ""
    text = str(value)
    if column in _TEXT_COLUMNS and text[:1] in _FORMULA_STARTS:
        return "'" + text
    return text


def render_csv(columns: Sequence[str], rows: Iterable[UserBill | CostCenterBill]) -> str:
    """A header of ``columns``, then each row's fields of those names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(c, getattr(row, c)) for c in columns])
    return out.getvalue()
