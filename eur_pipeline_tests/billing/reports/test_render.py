"""Formatting rules the pages show, and escaping of every value the templates output."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from eur_pipeline.billing.reports.data import PeriodSummary, period_summaries
from eur_pipeline.billing.reports.paths import PeriodReport
from eur_pipeline.billing.reports.render import Delta, count, delta, money2, render_index

from ..helpers import Warehouse
from .small import small_warehouse


def test_amounts_and_counts_as_displayed() -> None:
    assert money2(Decimal("1234.5")) == "1,234.50"
    assert money2(Decimal("0.0050")) == "0.01"  # half-up, not banker's rounding
    assert money2(Decimal("2.0250")) == "2.03"
    assert money2(None) == "0.00"
    assert count(1234567) == "1,234,567" and count(None) == "0"


def test_change_vs_previous_period() -> None:
    assert delta(5, None) is None  # no previous period
    assert delta(0, 0) == Delta("±0", "flat")
    assert delta(3, 0) == Delta("new", "up")
    assert delta(110, 100) == Delta("+10.0%", "up")
    assert delta(Decimal("90"), Decimal("100")) == Delta("-10.0%", "down")
    assert delta(100, 100) == Delta("+0.0%", "flat")


def test_index_escapes_values_and_lists_newest_first(warehouse: Warehouse, tmp_path: Path) -> None:
    small_warehouse(warehouse, tmp_path)
    summaries = sorted(period_summaries(warehouse.con).items())
    entries = [(PeriodReport.under(tmp_path, p), s) for p, s in summaries]
    page = render_index(entries)
    assert page.index("May 2024") < page.index("February 2024") < page.index("January 2024")
    assert page.count("<tr>") == 1 + 3
    assert str(tmp_path) not in page  # links are file names beside the index, never folders
    assert render_index([]).count("no billing data yet") == 1
    period, summary = summaries[0]
    odd = PeriodSummary(period, summary.active_users, summary.messages_sent, summary.total_cost, "<b>&'\"")
    assert "3.94 &lt;b&gt;&amp;&#x27;&quot;</td>" in render_index([(PeriodReport.under(tmp_path, period), odd)])
