"""The HTML pages: typed period data in, self-contained HTML text out (pure, no I/O but the package's files).

Markup lives in ``templates/``; ``static/report.css`` and ``static/report.js`` are inlined into every
page, so a page can be mailed or opened offline. Autoescaping is on; every value is escaped with
:func:`html.escape` (``finalize`` below) so pages stay byte-identical to the earlier renderer's.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

import css_inline
import jinja2
from markupsafe import Markup

from eur_pipeline.billing.reports.data import PeriodData, PeriodSummary, Rollup, Sums, Totals, add_months
from eur_pipeline.billing.reports.paths import PeriodReport, slug

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def money2(value: Decimal | None) -> str:
    """Display amount: 2 places half-up with thousands separators (the CSVs keep the exact 4 places)."""
    value = Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value:,.2f}"


def count(value: int | None) -> str:
    return f"{int(value or 0):,}"


def month_label(period: date) -> str:
    return period.strftime("%B %Y")


class Delta(NamedTuple):
    """Change vs the previous period: display text and a direction ('up', 'down', 'flat')."""

    text: str
    dir: str


def delta(now: Decimal | int | None, before: Decimal | int | None) -> Delta | None:
    """``None`` when there is no previous period to compare with."""
    if before is None:
        return None
    now_d, before_d = Decimal(now or 0), Decimal(before or 0)
    if before_d == 0:
        return Delta("new" if now_d else "±0", "up" if now_d else "flat")
    pct = ((now_d - before_d) * 100 / before_d).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return Delta(f"{pct:+}%", "up" if pct > 0 else "down" if pct < 0 else "flat")


class Column(NamedTuple):
    title: str
    numeric: bool  # right-aligned, tabular figures


@dataclass(frozen=True)
class Table:
    """A table as shown: display text per cell (formatted here, escaped by the template)."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[object, ...], ...]
    foot: tuple[object, ...] | None = None


class PageLinks(NamedTuple):
    """Where one period's page links to (file names in the same folder; ``None``: no such page)."""

    cost_centers_csv: str
    users_csv: str
    prev: str | None
    next: str | None
    index: str
    scopes: tuple[tuple[str, str], ...] = ()  # (label, href) of this period's per-scope reports


def _rollup_table(first: str, rows: Sequence[Rollup], totals: Totals, currency: str) -> Table:
    def cells(label: str | None, r: Rollup | Totals) -> tuple[object, ...]:
        sums = (r.active_users, r.messages_sent, r.messages_received, r.conversations_started)
        return (label, *map(count, sums), money2(r.total_cost))

    columns = (first, "Active users", "Sent", "Received", "Conv. started", f"Total ({currency})")
    return Table(
        tuple(Column(title, i > 0) for i, title in enumerate(columns)),
        tuple(cells(r.label, r) for r in rows),
        cells("Total", totals),
    )


def _top_table(data: PeriodData) -> Table:
    columns = (
        Column("#", True),
        Column("User", False),
        Column("JID", False),
        Column("Department", False),
        Column("Site", False),
        Column("Sent", True),
        Column("Received", True),
        Column("Conversations", True),
        Column(f"Total ({data.currency})", True),
    )
    rows = tuple(
        (
            r.rank,
            r.name or r.user_jid,
            r.user_jid,
            r.department or "—",
            r.site or "—",
            count(r.messages_sent),
            count(r.messages_received),
            count(r.conversations),
            money2(r.total_cost),
        )
        for r in data.top
    )
    return Table(columns, rows)


def _cost_center_table(data: PeriodData) -> Table:
    columns = tuple(
        Column(title, i > 0)
        for i, title in enumerate(
            ("Cost center", "Active users", "Sent", "Usage", "Fees", "Markup", "Tax", f"Total ({data.currency})")
        )
    )

    def cells(label: str | None, r: Sums) -> tuple[object, ...]:
        amounts = (r.usage_cost, r.fee, r.markup, r.tax, r.total_cost)
        return (label, count(r.active_users), count(r.messages_sent), *map(money2, amounts))

    return Table(columns, tuple(cells(r.cost_center, r) for r in data.by_cost_center), cells("Total", data.totals))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)  # exact text; the charts only scale bars with it
    if isinstance(value, date):
        return value.isoformat()
    return value


def _script_json(data: Any) -> Markup:
    """JSON safe inside <script>: no '</script>', no HTML-significant characters."""
    text = json.dumps(_jsonable(data), ensure_ascii=False, separators=(",", ":"))
    return Markup(
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _chart_data(data: PeriodData) -> dict[str, Any]:
    """What report.js draws."""
    return {
        "currency": data.currency,
        "weekdays": list(WEEKDAYS),
        "by_site": [{"label": r.label, "total_cost": r.total_cost} for r in data.by_site],
        "by_department": [{"label": r.label, "total_cost": r.total_cost} for r in data.by_department],
        "top": [{"label": r.name or r.user_jid, "messages_total": r.messages_total} for r in data.top],
        "heatmap": data.heatmap,
        "trend": [{"period": slug(r.period), "messages": r.messages, "total_cost": r.total_cost} for r in data.trend],
        "daily": [{"day": r.day.strftime("%d"), "n": r.n} for r in data.daily],
    }


def _escape(value: object) -> object:
    """Autoescape with :func:`html.escape` (``&#x27;``), as the pages always had, not markupsafe's ``&#39;``;
    ``None`` shows as nothing."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def _static(name: str) -> Markup:
    return Markup(files(__package__).joinpath("static", name).read_text(encoding="utf-8"))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        finalize=_escape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(money2=money2, count=count, month_label=month_label)
    env.globals.update(css=_static("report.css"), js=_static("report.js"), mail_css=_static("mail.css"), delta=delta)
    return env


def _common(data: PeriodData) -> dict[str, Any]:
    """What the page and the mail both show: the period's bounds and the four tables."""
    return {
        "next_month": add_months(data.period, 1),
        "slug": slug(data.period),
        "site_table": _rollup_table("Site", data.by_site, data.totals, data.currency),
        "department_table": _rollup_table("Department", data.by_department, data.totals, data.currency),
        "top_table": _top_table(data),
        "cost_center_table": _cost_center_table(data),
    }


def render_html(data: PeriodData, links: PageLinks) -> str:
    """One period's report page."""
    conv = data.conversations
    share = f"{Decimal(conv.multiparty * 100) / Decimal(conv.conversations):.1f}%" if conv.conversations else "—"
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            d=data,
            links=links,
            previous_slug=slug(data.previous) if data.previous else None,
            **_common(data),
            multiparty_share=share,
            median_messages=f"{Decimal(str(conv.median_messages)):.0f}",
            median_minutes=f"{Decimal(str(conv.median_seconds)) / 60:.1f}",
            chart_json=_script_json(_chart_data(data)),
        )
    )


def render_mail_html(data: PeriodData, subject: str, attachment: str | None, alerts: Sequence[Any] = ()) -> str:
    """The report as a mail body: the same figures and tables, no scripts, every style inline (mail
    clients drop ``<style>`` blocks and never run scripts). ``alerts``: budget lines to flag on top."""
    page = (
        _environment()
        .get_template("mail.html.j2")
        .render(
            d=data,
            subject=subject,
            attachment=attachment,
            alerts=list(alerts),
            **_common(data),
        )
    )
    return css_inline.inline(page)


def render_index(entries: Sequence[tuple[PeriodReport, PeriodSummary]]) -> str:
    """The page listing every period, newest first."""
    return _environment().get_template("index.html.j2").render(entries=list(reversed(entries)))
