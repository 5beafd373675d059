"""The data layer: typed rows whose figures agree with billing, on the small fixed warehouse."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from eur_pipeline.billing.compute import billing_totals
from eur_pipeline.billing.reports.data import (
    USER_COLUMNS,
    CostCenterBill,
    PeriodData,
    TopTalker,
    Totals,
    UserBill,
    collect_period,
    period_summaries,
    report_periods,
)

from ..helpers import Warehouse
from .small import small_warehouse

JAN, FEB, MAY = date(2024, 1, 1), date(2024, 2, 1), date(2024, 5, 1)
AMOUNTS = ("usage_cost", "fee", "markup", "tax", "total_cost")


def test_periods_and_typed_rows_of_one_period(warehouse: Warehouse, tmp_path: Path) -> None:
    config = small_warehouse(warehouse, tmp_path)
    assert report_periods(warehouse.con) == [JAN, FEB, MAY]
    data = collect_period(warehouse.con, config, FEB)
    assert isinstance(data, PeriodData) and data.period == FEB and data.previous == JAN
    assert isinstance(data.totals, Totals) and data.previous_totals is not None
    assert data.currency == "EUR" and data.timezone == "Europe/Paris"
    totals = billing_totals(warehouse.con, FEB)
    for column in AMOUNTS:  # exact Decimals, equal to the billing table's sums
        assert getattr(data.totals, column) == totals[column]
        assert isinstance(getattr(data.totals, column), Decimal)
        assert sum(getattr(r, column) for r in data.by_cost_center) == totals[column]
        assert sum(getattr(r, column) for r in data.users) == totals[column]
    assert all(isinstance(r, CostCenterBill) for r in data.by_cost_center)
    assert all(isinstance(r, UserBill) for r in data.users)
    assert [r.user_jid for r in data.users] == sorted(r.user_jid for r in data.users)
    assert all(isinstance(r, TopTalker) for r in data.top)
    assert [r.rank for r in data.top] == sorted(r.rank for r in data.top) and data.top[0].rank == 1
    assert data.top[0].messages_total == max(r.messages_sent + r.messages_received for r in data.users)


def test_local_time_figures(warehouse: Warehouse, tmp_path: Path) -> None:
    config = small_warehouse(warehouse, tmp_path)
    data = collect_period(warehouse.con, config, FEB)
    # 00:10 Paris on Thursday 1 Feb counts in February; 23:30 on 31 Jan does not
    assert len(data.heatmap) == 7 and all(len(row) == 24 for row in data.heatmap)
    assert data.heatmap[3][0] == 1
    assert sum(map(sum, data.heatmap)) == sum(d.n for d in data.daily) == 5
    assert [(d.day.day, d.n) for d in data.daily] == [(1, 1), (5, 2), (12, 1), (29, 1)]
    assert data.conversations.conversations == 3 and data.conversations.multiparty == 1
    jan = collect_period(warehouse.con, config, JAN)
    assert sum(map(sum, jan.heatmap)) == 1 and jan.previous is None and jan.previous_totals is None


def test_trend_and_a_period_after_a_gap(warehouse: Warehouse, tmp_path: Path) -> None:
    config = small_warehouse(warehouse, tmp_path)
    data = collect_period(warehouse.con, config, MAY)
    assert [t.period for t in data.trend] == [JAN, FEB, MAY]  # oldest first, ending with this period
    assert data.previous is None  # April was not billed: no deltas
    assert data.trend[-1].total_cost == data.totals.total_cost


def test_a_period_without_billing_is_all_zero(warehouse: Warehouse, tmp_path: Path) -> None:
    config = small_warehouse(warehouse, tmp_path)
    data = collect_period(warehouse.con, config, date(2023, 6, 1))
    assert data.totals.users == 0 and data.totals.total_cost == 0 and data.totals.currency is None
    assert data.currency == "USD" and data.users == () and data.top == ()
    assert data.conversations.conversations == 0 and data.conversations.median_seconds == 0


def test_user_csv_columns_are_the_billing_table(warehouse: Warehouse, tmp_path: Path) -> None:
    """The per-user CSV carries every billing column, in the table's order."""
    small_warehouse(warehouse, tmp_path)
    table = tuple(name for name, *_ in warehouse.con.execute("DESCRIBE billing").fetchall())
    assert table == USER_COLUMNS


def test_index_summaries(warehouse: Warehouse, tmp_path: Path) -> None:
    small_warehouse(warehouse, tmp_path)
    summaries = period_summaries(warehouse.con)
    assert sorted(summaries) == [JAN, FEB, MAY]
    for period, summary in summaries.items():
        assert summary.total_cost == billing_totals(warehouse.con, period)["total_cost"]
