"""Budgets: the ``budgets:`` of rates.yaml kept in the warehouse, and the lines a period overspends.

The ``budget_status`` view (sql/views_reporting.sql) does the arithmetic; this module only stores the
lines (``budget_lines``, replaced whenever billing refreshes) and reads the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb

from eur_pipeline.billing.rates import Rates


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One row of ``budget_status``."""

    period: date
    scope: str
    name: str
    budget: Decimal
    spent: Decimal
    share: Decimal | None
    over_budget: bool
    currency: str


def sync_budget_lines(con: duckdb.DuckDBPyConnection, rates: Rates) -> None:
    """Make ``budget_lines`` the rates file's budgets (call inside the caller's transaction)."""
    wanted = [(scope, name, amount, rates.currency) for scope, name, amount in rates.budgets.lines()]
    stored = con.execute("SELECT scope, name, budget, currency FROM budget_lines ORDER BY ALL").fetchall()
    if sorted(stored) == sorted(wanted):
        return
    con.execute("DELETE FROM budget_lines")
    if wanted:
        con.executemany("INSERT INTO budget_lines VALUES (?, ?, ?, ?)", wanted)


def budget_status(
    con: duckdb.DuckDBPyConnection, period: date | None = None, over_only: bool = False
) -> list[BudgetStatus]:
    """Rows of ``budget_status`` (one period, or all), optionally only the overspent ones."""
    rows = con.execute(
        "SELECT period, scope, name, budget, spent, share, over_budget, currency FROM budget_status "
        "WHERE ($period IS NULL OR period = $period) AND (NOT $over OR over_budget) ORDER BY period, scope, name",
        {"period": period, "over": over_only},
    ).fetchall()
    return [BudgetStatus(*r) for r in rows]


def latest_period(con: duckdb.DuckDBPyConnection) -> date | None:
    """The newest billed period (the one a budget check looks at)."""
    row = con.execute("SELECT max(period) FROM billing").fetchone()
    return row[0] if row else None


__all__ = ["BudgetStatus", "budget_status", "latest_period", "sync_budget_lines"]
