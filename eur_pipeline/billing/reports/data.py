"""What a report shows, read from the warehouse into typed rows (amounts stay exact ``Decimal``).

Only reads; nothing here formats or writes. Field names are the query's column names, so a row type
is checked against its query each time it is built (a renamed column fails loudly, not silently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import duckdb

from eur_pipeline.billing.compute import period_bounds
from eur_pipeline.billing.reports.scope import ALL, Scope
from eur_pipeline.config import EurConfig


@dataclass(frozen=True, slots=True)
class Sums:
    """Billing rows summed: how many users, what they did, what it costs."""

    users: int
    active_users: int
    messages_sent: int
    messages_received: int
    conversations_started: int
    usage_cost: Decimal
    fee: Decimal
    markup: Decimal
    tax: Decimal
    total_cost: Decimal


@dataclass(frozen=True, slots=True)
class Totals(Sums):
    """One period's sums (all zero, currency ``None``, for a period without billing)."""

    currency: str | None


@dataclass(frozen=True, slots=True)
class Rollup:
    """One site's or department's figures (``label`` is the site or department)."""

    label: str | None
    users: int
    active_users: int
    messages_sent: int
    messages_received: int
    conversations_started: int
    total_cost: Decimal


@dataclass(frozen=True, slots=True)
class CostCenterBill(Sums):
    """One cost center's bill (a row of the cost-center CSV)."""

    period: date
    cost_center: str | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class UserBill:
    """One user's bill; the fields, in order, are the per-user CSV's columns."""

    period: date
    user_jid: str
    extension: str | None
    name: str | None
    site: str | None
    department: str | None
    cost_center: str | None
    rate_plan: str | None
    messages_sent: int
    messages_received: int
    conversations: int
    conversations_started: int
    usage_cost: Decimal
    fee: Decimal
    markup: Decimal
    tax: Decimal
    total_cost: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class TopTalker:
    """A user among the period's busiest (rank 1 = most messages sent + received)."""

    rank: int
    user_jid: str
    name: str | None
    department: str | None
    site: str | None
    messages_sent: int
    messages_received: int
    messages_total: int
    conversations: int
    total_cost: Decimal


@dataclass(frozen=True, slots=True)
class DayCount:
    """Messages sent on one local day."""

    day: date
    n: int


@dataclass(frozen=True, slots=True)
class ConversationStats:
    """Conversations started in the period (medians are 0 when there are none)."""

    conversations: int
    multiparty: int
    median_messages: float
    median_seconds: float


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One period of the trend chart."""

    period: date
    messages: int
    total_cost: Decimal
    active_users: int


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    """One line of the index page."""

    period: date
    active_users: int
    messages_sent: int
    total_cost: Decimal
    currency: str | None


@dataclass(frozen=True, slots=True)
class PeriodData:
    """Every figure one period's report and CSVs show."""

    period: date
    previous: date | None  # the month before, when it was billed
    timezone: str
    currency: str
    totals: Totals
    previous_totals: Totals | None
    by_site: tuple[Rollup, ...]
    by_department: tuple[Rollup, ...]
    by_cost_center: tuple[CostCenterBill, ...]
    top: tuple[TopTalker, ...]  # at most 10
    heatmap: tuple[tuple[int, ...], ...]  # messages per [ISO weekday - 1][local hour]
    daily: tuple[DayCount, ...]
    conversations: ConversationStats
    trend: tuple[TrendPoint, ...]  # up to 12 billed periods, oldest first, ending with this one
    users: tuple[UserBill, ...]
    scope: Scope = ALL
    fallback_sites: tuple[tuple[str, str], ...] = ()  # (source, site) for users the directory does not list


def column_names(row_type: type[Any]) -> tuple[str, ...]:
    """A row type's columns, in order (a query selects exactly these)."""
    return tuple(f.name for f in fields(row_type))


USER_COLUMNS = column_names(UserBill)
COST_CENTER_COLUMNS = ("period", "cost_center", "currency", *column_names(Sums))

Row = TypeVar("Row")


def _fetch(
    con: duckdb.DuckDBPyConnection, row_type: type[Row], sql: str, params: Sequence[Any] | dict[str, Any]
) -> list[Row]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [row_type(**dict(zip(names, values, strict=True))) for values in cur.fetchall()]


def add_months(period: date, delta: int) -> date:
    """The first day of the month ``delta`` months from ``period``'s."""
    index = period.year * 12 + period.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


def report_periods(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Every billed period, oldest first."""
    return [p for (p,) in con.execute("SELECT DISTINCT period FROM billing ORDER BY period").fetchall()]


_TOTALS_SQL = (
    "SELECT count(*) AS users, "
    "count(*) FILTER (WHERE messages_sent + messages_received > 0) AS active_users, "
    "coalesce(sum(messages_sent), 0) AS messages_sent, coalesce(sum(messages_received), 0) AS messages_received, "
    "coalesce(sum(conversations_started), 0) AS conversations_started, "
    "coalesce(sum(usage_cost), 0) AS usage_cost, coalesce(sum(fee), 0) AS fee, "
    "coalesce(sum(markup), 0) AS markup, coalesce(sum(tax), 0) AS tax, "
    "coalesce(sum(total_cost), 0) AS total_cost, min(currency) AS currency "
    "FROM billing_in_scope($scope_kind, $scope_name) WHERE period = $period"
)
_ROLLUP_SQL = (
    "SELECT {key} AS label, users, active_users, messages_sent, messages_received, conversations_started, "
    "total_cost FROM billing_rollup_of($scope_kind, $scope_name) WHERE dimension = '{key}' AND period = $period "
    "ORDER BY total_cost DESC, messages_sent DESC, label"
)
# a message or conversation is in a scope when its sender / initiator is billed in it that period
_IN_SCOPE = (
    "($scope_kind = 'all' OR {who} IN "
    "(SELECT user_jid FROM billing_in_scope($scope_kind, $scope_name) WHERE period = $period))"
)


def collect_period(con: duckdb.DuckDBPyConnection, config: EurConfig, period: date, scope: Scope = ALL) -> PeriodData:
    """All figures one period's report shows, for the users of ``scope``."""
    tz = config.timezone
    prev = add_months(period, -1)
    sp = scope.params
    totals = _fetch(con, Totals, _TOTALS_SQL, {**sp, "period": period})[0]
    previous = _fetch(con, Totals, _TOTALS_SQL, {**sp, "period": prev})[0]
    has_previous = previous.users > 0
    by_site = _fetch(con, Rollup, _ROLLUP_SQL.format(key="site"), {**sp, "period": period})
    by_department = _fetch(con, Rollup, _ROLLUP_SQL.format(key="department"), {**sp, "period": period})
    by_cost_center = _fetch(
        con,
        CostCenterBill,
        f"SELECT {', '.join(COST_CENTER_COLUMNS)} FROM billing_rollup_of($scope_kind, $scope_name) "
        "WHERE dimension = 'cost_center' AND period = $period ORDER BY cost_center",
        {**sp, "period": period},
    )
    top = _fetch(
        con,
        TopTalker,
        "SELECT rank, user_jid, name, department, site, messages_sent, messages_received, messages_total, "
        "conversations, total_cost FROM top_talkers_of($scope_kind, $scope_name) WHERE period = $period "
        "ORDER BY rank, user_jid LIMIT 10",
        {**sp, "period": period},
    )
    lo, hi = period_bounds([period], tz)
    local = (
        "SELECT timezone($tz, sent_at) AS local_at FROM messages WHERE sent_at >= $lo AND sent_at < $hi AND "
        + _IN_SCOPE.format(who="sender")
    )
    params = {"tz": tz, "lo": lo, "hi": hi, "period": period, **sp}
    heat = [[0] * 24 for _ in range(7)]
    for dow, hour, n in con.execute(
        f"SELECT isodow(local_at) AS dow, hour(local_at) AS hour, count(*) AS n FROM ({local}) "
        "WHERE date_trunc('month', local_at)::DATE = $period GROUP BY ALL",
        params,
    ).fetchall():
        heat[dow - 1][hour] = n
    daily = _fetch(
        con,
        DayCount,
        f"SELECT local_at::DATE AS day, count(*) AS n FROM ({local}) "
        "WHERE date_trunc('month', local_at)::DATE = $period GROUP BY day ORDER BY day",
        params,
    )
    conv = _fetch(
        con,
        ConversationStats,
        "SELECT count(*) AS conversations, count(*) FILTER (WHERE is_multiparty) AS multiparty, "
        "coalesce(median(message_count), 0) AS median_messages, "
        "coalesce(median(duration_seconds), 0) AS median_seconds "
        "FROM conversations WHERE started_at >= $lo AND started_at < $hi "
        "AND date_trunc('month', timezone($tz, started_at))::DATE = $period AND " + _IN_SCOPE.format(who="initiator"),
        params,
    )[0]
    trend = _fetch(
        con,
        TrendPoint,
        "SELECT period, sum(messages_sent) AS messages, sum(total_cost) AS total_cost, "
        "count(*) FILTER (WHERE messages_sent + messages_received > 0) AS active_users "
        "FROM billing_in_scope($scope_kind, $scope_name) WHERE period <= $period "
        "GROUP BY period ORDER BY period DESC LIMIT 12",
        {**sp, "period": period},
    )[::-1]
    users = _fetch(
        con,
        UserBill,
        f"SELECT {', '.join(USER_COLUMNS)} FROM billing_in_scope($scope_kind, $scope_name) "
        "WHERE period = $period ORDER BY user_jid",
        {**sp, "period": period},
    )
    return PeriodData(
        period=period,
        previous=prev if has_previous else None,
        timezone=tz,
        currency=totals.currency or "USD",
        totals=totals,
        previous_totals=previous if has_previous else None,
        by_site=tuple(by_site),
        by_department=tuple(by_department),
        by_cost_center=tuple(by_cost_center),
        top=tuple(top),
        heatmap=tuple(tuple(row) for row in heat),
        daily=tuple(daily),
        conversations=conv,
        trend=tuple(trend),
        users=tuple(users),
        scope=scope,
        fallback_sites=tuple(sorted({(s.name, s.site) for s in config.sources})),
    )


def period_scopes(con: duckdb.DuckDBPyConnection, period: date) -> list[Scope]:
    """Every department, cost center and site billed in ``period``, as report scopes."""
    rows = con.execute(
        "SELECT DISTINCT dimension, CASE dimension WHEN 'department' THEN department "
        "WHEN 'cost_center' THEN cost_center ELSE site END AS name FROM billing_rollup "
        "WHERE period = ? AND dimension IN ('department', 'cost_center', 'site') ORDER BY ALL",
        [period],
    ).fetchall()
    return [Scope(kind, name) for kind, name in rows]


def period_summaries(con: duckdb.DuckDBPyConnection) -> dict[date, PeriodSummary]:
    """The index page's figures of every billed period."""
    rows = _fetch(
        con,
        PeriodSummary,
        "SELECT period, count(*) FILTER (WHERE messages_sent + messages_received > 0) AS active_users, "
        "sum(messages_sent) AS messages_sent, sum(total_cost) AS total_cost, min(currency) AS currency "
        "FROM billing GROUP BY period",
        [],
    )
    return {r.period: r for r in rows}
