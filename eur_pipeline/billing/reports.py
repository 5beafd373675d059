"""Per-period reports a finance person or IT manager reads without SQL, plus CSV exports for finance.

Each period gets one self-contained HTML file (inline CSS and JS, charts drawn as inline SVG by a
few lines of hand-written JS, no network at all — it can be mailed or opened offline) and two CSVs
(per cost center, per user) carrying the exact 4-decimal amounts; an ``index.html`` lists them.
Output depends only on the warehouse (no "generated at" stamp), and a file is rewritten only when
its content changed, so re-running leaves reports untouched. A period whose inputs did not change
(a digest of its billing rows, of the 12 periods before it that the trend and deltas show, its
neighbours, the timezone and this module's code, kept in ``.report-digests.json`` beside the
reports) is not even queried or rendered: a run that touched one month renders one or a few pages.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb

from eur_pipeline.billing.compute import period_bounds
from eur_pipeline.config import EurConfig

USER_COLUMNS = (
    "period",
    "user_jid",
    "extension",
    "name",
    "site",
    "department",
    "cost_center",
    "rate_plan",
    "messages_sent",
    "messages_received",
    "conversations",
    "conversations_started",
    "usage_cost",
    "fee",
    "markup",
    "tax",
    "total_cost",
    "currency",
)
COST_CENTER_COLUMNS = (
    "period",
    "cost_center",
    "currency",
    "users",
    "active_users",
    "messages_sent",
    "messages_received",
    "conversations_started",
    "usage_cost",
    "fee",
    "markup",
    "tax",
    "total_cost",
)
_TEXT_COLUMNS = {"user_jid", "name", "site", "department", "cost_center", "rate_plan"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class PeriodReport:
    """The files written for one billing period."""

    period: date
    html: Path
    cost_centers_csv: Path
    users_csv: Path


@dataclass(frozen=True)
class ReportSet:
    """Everything :func:`write_reports` wrote: link these from the asset metadata."""

    directory: Path
    index: Path
    periods: tuple[PeriodReport, ...]
    rendered: tuple[date, ...] = ()  # the periods queried and rendered (the others were up to date)

    @property
    def latest(self) -> PeriodReport | None:
        return self.periods[-1] if self.periods else None

    @property
    def paths(self) -> list[Path]:
        out = [self.index]
        for p in self.periods:
            out += [p.html, p.cost_centers_csv, p.users_csv]
        return out


def _month(period: date, delta: int) -> date:
    index = period.year * 12 + period.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


def _label(period: date) -> str:
    return period.strftime("%B %Y")


def _slug(period: date) -> str:
    return period.strftime("%Y-%m")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def _money2(value: Decimal | None) -> str:
    """Display amount: 2 places half-up with thousands separators (the CSVs keep the exact 4 places)."""
    value = Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value:,.2f}"


def _int(value: int | None) -> str:
    return f"{int(value or 0):,}"


def _delta(now: Decimal | int | None, before: Decimal | int | None) -> dict[str, str] | None:
    """Change vs the previous period, as display text and a direction ('up', 'down', 'flat')."""
    if before is None:
        return None
    now_d, before_d = Decimal(now or 0), Decimal(before or 0)
    if before_d == 0:
        text = "new" if now_d else "±0"
        return {"text": text, "dir": "up" if now_d else "flat"}
    pct = ((now_d - before_d) * 100 / before_d).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    direction = "up" if pct > 0 else "down" if pct < 0 else "flat"
    return {"text": f"{pct:+}%", "dir": direction}


def collect_period(con: duckdb.DuckDBPyConnection, config: EurConfig, period: date) -> dict[str, Any]:
    """All figures one period's report shows (JSON-able apart from Decimals, which are kept exact)."""
    tz = config.timezone
    prev = _month(period, -1)
    totals_sql = (
        "SELECT count(*) AS users, "
        "count(*) FILTER (WHERE messages_sent + messages_received > 0) AS active_users, "
        "coalesce(sum(messages_sent), 0) AS messages_sent, coalesce(sum(messages_received), 0) AS messages_received, "
        "coalesce(sum(conversations_started), 0) AS conversations_started, "
        "coalesce(sum(usage_cost), 0) AS usage_cost, coalesce(sum(fee), 0) AS fee, "
        "coalesce(sum(markup), 0) AS markup, coalesce(sum(tax), 0) AS tax, "
        "coalesce(sum(total_cost), 0) AS total_cost, min(currency) AS currency "
        "FROM billing WHERE period = ?"
    )
    totals = _rows(con, totals_sql, [period])[0]
    previous = _rows(con, totals_sql, [prev])[0]
    has_previous = previous["users"] > 0

    roll_up = (
        "SELECT {key} AS label, users, active_users, messages_sent, messages_received, conversations_started, "
        "total_cost FROM {view} WHERE period = ? ORDER BY total_cost DESC, messages_sent DESC, label"
    )
    by_site = _rows(con, roll_up.format(key="site", view="billing_by_site"), [period])
    by_department = _rows(con, roll_up.format(key="department", view="billing_by_department"), [period])
    by_cost_center = _rows(
        con,
        "SELECT * FROM billing_by_cost_center WHERE period = ? ORDER BY cost_center",
        [period],
    )
    top = _rows(
        con,
        "SELECT rank, user_jid, name, department, site, messages_sent, messages_received, messages_total, "
        "conversations, total_cost FROM top_talkers WHERE period = ? ORDER BY rank, user_jid LIMIT 10",
        [period],
    )
    lo, hi = period_bounds([period], tz)
    local = "SELECT timezone($tz, sent_at) AS local_at FROM messages WHERE sent_at >= $lo AND sent_at < $hi"
    params = {"tz": tz, "lo": lo, "hi": hi, "period": period}
    heat = [[0] * 24 for _ in range(7)]
    for row in _rows(
        con,
        f"SELECT isodow(local_at) AS dow, hour(local_at) AS hour, count(*) AS n FROM ({local}) "
        "WHERE date_trunc('month', local_at)::DATE = $period GROUP BY ALL",
        params,
    ):
        heat[row["dow"] - 1][row["hour"]] = row["n"]
    daily = _rows(
        con,
        f"SELECT local_at::DATE AS day, count(*) AS n FROM ({local}) "
        "WHERE date_trunc('month', local_at)::DATE = $period GROUP BY day ORDER BY day",
        params,
    )
    conv = _rows(
        con,
        "SELECT count(*) AS conversations, count(*) FILTER (WHERE is_multiparty) AS multiparty, "
        "coalesce(median(message_count), 0) AS median_messages, "
        "coalesce(median(duration_seconds), 0) AS median_seconds "
        "FROM conversations WHERE started_at >= $lo AND started_at < $hi "
        "AND date_trunc('month', timezone($tz, started_at))::DATE = $period",
        params,
    )[0]
    trend = _rows(
        con,
        "SELECT period, sum(messages_sent) AS messages, sum(total_cost) AS total_cost, "
        "count(*) FILTER (WHERE messages_sent + messages_received > 0) AS active_users "
        "FROM billing WHERE period <= ? GROUP BY period ORDER BY period DESC LIMIT 12",
        [period],
    )[::-1]
    users = _rows(
        con,
        f"SELECT {', '.join(USER_COLUMNS)} FROM billing WHERE period = ? ORDER BY user_jid",
        [period],
    )
    return {
        "period": period,
        "previous": prev if has_previous else None,
        "timezone": tz,
        "currency": totals["currency"] or "USD",
        "totals": totals,
        "previous_totals": previous if has_previous else None,
        "by_site": by_site,
        "by_department": by_department,
        "by_cost_center": by_cost_center,
        "top": top,
        "heatmap": heat,
        "daily": daily,
        "conversations": conv,
        "trend": trend,
        "users": users,
    }


def _csv_cell(column: str, value: Any) -> str:
    """Exact text; text cells that a spreadsheet would run as a formula get a leading quote."""
    if value is None:
        return ""
    text = str(value)
    if column in _TEXT_COLUMNS and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def render_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(c, row.get(c)) for c in columns])
    return out.getvalue()


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no '</script>', no HTML-significant characters."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


CSS = """
:root{--ink:#1e293b;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--accent:#2563eb;--up:#15803d;--down:#b91c1c}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}header{background:#0f172a;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#cbd5e1}header a{color:#93c5fd}
main{padding:20px 32px;max-width:1280px;margin:auto}section{background:#fff;border:1px solid var(--line);
border-radius:8px;padding:16px 20px;margin-bottom:18px}h2{font-size:16px;margin:0 0 12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:18px}.grid>section{margin:0}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.kpi{border:1px solid var(--line);border-radius:8px;padding:12px}.kpi .v{font-size:22px;font-weight:600}
.kpi .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.d{font-size:12px}.d.up{color:var(--up)}.d.down{color:var(--down)}.d.flat{color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:5px 8px;border-bottom:1px solid var(--line);
text-align:left}th{color:var(--muted);font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tfoot td{font-weight:600;border-top:2px solid var(--line)}.muted{color:var(--muted)}
svg.chart{display:block;width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:var(--ink)}.nav{float:right}footer{color:var(--muted);padding:0 32px 24px;
max-width:1280px;margin:auto}@media print{header{background:#fff;color:#000}section{break-inside:avoid}}
"""

# Hand-written SVG charts: no library, no network. Each chart marks itself drawn (data-drawn="1").
JS = r"""
(function(){
"use strict";
var NS="http://www.w3.org/2000/svg";
var D=JSON.parse(document.getElementById("report-data").textContent);
function el(tag,attrs,parent,text){var n=document.createElementNS(NS,tag);
 for(var k in attrs){n.setAttribute(k,attrs[k]);} if(text!==undefined){n.textContent=text;}
 if(parent){parent.appendChild(n);} return n;}
function svg(host,w,h,name){var s=el("svg",{viewBox:"0 0 "+w+" "+h,"class":"chart",role:"img",
 "data-chart":name,"aria-label":host.getAttribute("data-title")||name});host.appendChild(s);return s;}
function done(s){s.setAttribute("data-drawn","1");}
function nf(v){return Number(v).toLocaleString("en-US");}
function hbar(host,items,valueKey,fmt,color,width){
 var w=width||560,row=24,left=200,right=90,h=Math.max(1,items.length)*row+8;var s=svg(host,w,h,host.id);
 var max=0;items.forEach(function(it){max=Math.max(max,Number(it[valueKey]));});
 if(!items.length){el("text",{x:8,y:18},s,"no data");}
 items.forEach(function(it,i){var y=4+i*row;var v=Number(it[valueKey]);
  var bw=max>0?(w-left-right)*v/max:0;
  var label=String(it.label);if(label.length>30){label=label.slice(0,29)+"\u2026";}
  el("text",{x:left-8,y:y+15,"text-anchor":"end"},s,label);
  var r=el("rect",{x:left,y:y+3,width:Math.max(bw,1),height:row-8,rx:3,fill:color},s);
  el("title",{},r,it.label+": "+fmt(it[valueKey]));
  el("text",{x:left+Math.max(bw,1)+6,y:y+15},s,fmt(it[valueKey]));});
 done(s);}
function heatmap(host,m){
 var cell=38,left=44,top=22,w=left+24*cell+8,h=top+7*cell+34;var s=svg(host,w,h,"heatmap");
 var max=0;m.forEach(function(r){r.forEach(function(v){max=Math.max(max,v);});});
 for(var hr=0;hr<24;hr+=1){if(hr%3===0){el("text",{x:left+hr*cell+cell/2,y:14,"text-anchor":"middle"},s,
  (hr<10?"0":"")+hr+"h");}}
 m.forEach(function(r,d){el("text",{x:left-8,y:top+d*cell+cell/2+4,"text-anchor":"end"},s,D.weekdays[d]);
  r.forEach(function(v,hr){var t=max>0?v/max:0;
   var c="rgb("+Math.round(241-(241-29)*t)+","+Math.round(245-(245-78)*t)+","+Math.round(249-(249-216)*t)+")";
   var x=el("rect",{x:left+hr*cell+1,y:top+d*cell+1,width:cell-2,height:cell-2,rx:3,fill:c,"class":"cell"},s);
   el("title",{},x,D.weekdays[d]+" "+hr+":00\u2013"+(hr+1)+":00 \u2014 "+nf(v)+" messages");});});
 var ly=top+7*cell+14;el("text",{x:left,y:ly+10},s,"fewer");
 for(var i=0;i<=10;i+=1){var t=i/10;el("rect",{x:left+44+i*18,y:ly,width:16,height:12,fill:"rgb("+
  Math.round(241-(241-29)*t)+","+Math.round(245-(245-78)*t)+","+Math.round(249-(249-216)*t)+")"},s);}
 el("text",{x:left+44+11*18+4,y:ly+10},s,"more (max "+nf(max)+" / hour)");
 done(s);}
function columns(host,items,labelKey,valueKey,color,lineKey,lineColor){
 var w=1100,h=260,left=48,right=lineKey?64:16,top=16,bottom=40;var s=svg(host,w,h,host.id);
 var n=Math.max(items.length,1),slot=(w-left-right)/n,max=0,lmax=0;
 items.forEach(function(it){max=Math.max(max,Number(it[valueKey]));if(lineKey){lmax=Math.max(lmax,Number(it[lineKey]));}});
 var ph=h-top-bottom;el("line",{x1:left,y1:top+ph,x2:w-right,y2:top+ph,stroke:"#94a3b8"},s);
 el("text",{x:left-6,y:top+8,"text-anchor":"end"},s,nf(max));
 if(!items.length){el("text",{x:left+8,y:top+20},s,"no data");}
 var pts=[];
 items.forEach(function(it,i){var v=Number(it[valueKey]);var bh=max>0?ph*v/max:0;var x=left+i*slot;
  var r=el("rect",{x:x+slot*0.15,y:top+ph-bh,width:slot*0.7,height:Math.max(bh,0.5),fill:color,rx:2},s);
  el("title",{},r,it[labelKey]+": "+nf(v));
  if(n<=16||i%Math.ceil(n/16)===0){el("text",{x:x+slot/2,y:h-bottom+14,"text-anchor":"middle"},s,String(it[labelKey]));}
  if(lineKey){var lv=Number(it[lineKey]);
   pts.push([x+slot/2,top+ph-(lmax>0?ph*lv/lmax:0),it[labelKey]+": "+it[lineKey]]);}});
 if(lineKey&&pts.length){el("polyline",{points:pts.map(function(p){return p[0]+","+p[1];}).join(" "),fill:"none",
  stroke:lineColor,"stroke-width":2},s);
  pts.forEach(function(p){var c=el("circle",{cx:p[0],cy:p[1],r:3.5,fill:lineColor},s);el("title",{},c,p[2]);});
  el("text",{x:w-right+6,y:top+8},s,D.currency+" "+nf(lmax));}
 done(s);}
var money=function(v){return D.currency+" "+
 Number(v).toLocaleString("en-US",{minimumFractionDigits:2,maximumFractionDigits:2});};
hbar(document.getElementById("chart-site"),D.by_site,"total_cost",money,"#2563eb");
hbar(document.getElementById("chart-department"),D.by_department,"total_cost",money,"#7c3aed");
hbar(document.getElementById("chart-top"),D.top,"messages_total",nf,"#0891b2",1100);
heatmap(document.getElementById("chart-heatmap"),D.heatmap);
columns(document.getElementById("chart-trend"),D.trend,"period","messages","#93c5fd","total_cost","#b91c1c");
columns(document.getElementById("chart-daily"),D.daily,"day","n","#60a5fa");
document.body.setAttribute("data-charts-drawn",String(document.querySelectorAll("svg.chart[data-drawn]").length));
})();
"""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)  # exact text; the charts only scale bars with it
    if isinstance(value, date):
        return value.isoformat()
    return value


def _kpi(label: str, value: str, delta: dict[str, str] | None, prev_label: str | None) -> str:
    if delta is None:
        d = '<div class="d flat">no previous period</div>'
    else:
        d = f'<div class="d {delta["dir"]}">{_e(delta["text"])} vs {_e(prev_label)}</div>'
    return f'<div class="kpi"><div class="l">{_e(label)}</div><div class="v">{_e(value)}</div>{d}</div>'


def _table(
    headers: Sequence[tuple[str, str, bool]], rows: Sequence[dict[str, Any]], foot: dict[str, str] | None = None
) -> str:
    """headers: (key, title, numeric); values are pre-formatted or escaped here."""
    head = "".join(f'<th class="{"n" if num else ""}">{_e(title)}</th>' for _, title, num in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if num else ""}">{_e(r.get(k))}</td>' for k, _, num in headers) + "</tr>"
        for r in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="muted">no data</td></tr>'
    tfoot = ""
    if foot is not None:
        tfoot = (
            "<tfoot><tr>"
            + "".join(f'<td class="{"n" if num else ""}">{_e(foot.get(k, ""))}</td>' for k, _, num in headers)
            + "</tr></tfoot>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{tfoot}</table>"


def render_html(data: dict[str, Any], files: dict[str, str], nav: dict[str, str | None]) -> str:
    """One period's report page (pure: data in, HTML text out)."""
    period: date = data["period"]
    cur = data["currency"]
    t, p = data["totals"], data["previous_totals"]
    prev_label = _slug(data["previous"]) if data["previous"] else None

    def pv(key: str) -> Any:
        return p[key] if p else None

    kpis = "".join(
        [
            _kpi("Active users", _int(t["active_users"]), _delta(t["active_users"], pv("active_users")), prev_label),
            _kpi(
                "Messages sent", _int(t["messages_sent"]), _delta(t["messages_sent"], pv("messages_sent")), prev_label
            ),
            _kpi(
                "Conversations started",
                _int(t["conversations_started"]),
                _delta(t["conversations_started"], pv("conversations_started")),
                prev_label,
            ),
            _kpi(
                f"Total cost ({cur})", _money2(t["total_cost"]), _delta(t["total_cost"], pv("total_cost")), prev_label
            ),
        ]
    )
    cost_split = (
        f"usage {_money2(t['usage_cost'])} + fees {_money2(t['fee'])} + markup {_money2(t['markup'])} "
        f"+ tax {_money2(t['tax'])} = {_money2(t['total_cost'])} {cur}"
    )

    def fmt_rollup(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "label": r["label"],
                "active_users": _int(r["active_users"]),
                "messages_sent": _int(r["messages_sent"]),
                "messages_received": _int(r["messages_received"]),
                "conversations_started": _int(r["conversations_started"]),
                "total_cost": _money2(r["total_cost"]),
            }
            for r in rows
        ]

    rollup_headers = [
        ("label", "", False),
        ("active_users", "Active users", True),
        ("messages_sent", "Sent", True),
        ("messages_received", "Received", True),
        ("conversations_started", "Conv. started", True),
        ("total_cost", f"Total ({cur})", True),
    ]
    site_headers = [("label", "Site", False), *rollup_headers[1:]]
    dept_headers = [("label", "Department", False), *rollup_headers[1:]]
    total_foot = {
        "label": "Total",
        "active_users": _int(t["active_users"]),
        "messages_sent": _int(t["messages_sent"]),
        "messages_received": _int(t["messages_received"]),
        "conversations_started": _int(t["conversations_started"]),
        "total_cost": _money2(t["total_cost"]),
    }
    top_rows = [
        {
            "rank": r["rank"],
            "who": r["name"] or r["user_jid"],
            "user_jid": r["user_jid"],
            "department": r["department"] or "—",
            "site": r["site"] or "—",
            "messages_sent": _int(r["messages_sent"]),
            "messages_received": _int(r["messages_received"]),
            "conversations": _int(r["conversations"]),
            "total_cost": _money2(r["total_cost"]),
        }
        for r in data["top"]
    ]
    cc_rows = [
        {
            "cost_center": r["cost_center"],
            "active_users": _int(r["active_users"]),
            "messages_sent": _int(r["messages_sent"]),
            "usage_cost": _money2(r["usage_cost"]),
            "fee": _money2(r["fee"]),
            "markup": _money2(r["markup"]),
            "tax": _money2(r["tax"]),
            "total_cost": _money2(r["total_cost"]),
        }
        for r in data["by_cost_center"]
    ]
    cc_foot = {
        "cost_center": "Total",
        "active_users": _int(t["active_users"]),
        "messages_sent": _int(t["messages_sent"]),
        "usage_cost": _money2(t["usage_cost"]),
        "fee": _money2(t["fee"]),
        "markup": _money2(t["markup"]),
        "tax": _money2(t["tax"]),
        "total_cost": _money2(t["total_cost"]),
    }
    conv = data["conversations"]
    share = (
        f"{Decimal(conv['multiparty'] * 100) / Decimal(conv['conversations']):.1f}%" if conv["conversations"] else "—"
    )
    chart_data = _jsonable(
        {
            "currency": cur,
            "weekdays": list(WEEKDAYS),
            "by_site": [{"label": r["label"], "total_cost": r["total_cost"]} for r in data["by_site"]],
            "by_department": [{"label": r["label"], "total_cost": r["total_cost"]} for r in data["by_department"]],
            "top": [{"label": r["name"] or r["user_jid"], "messages_total": r["messages_total"]} for r in data["top"]],
            "heatmap": data["heatmap"],
            "trend": [
                {"period": _slug(r["period"]), "messages": r["messages"], "total_cost": r["total_cost"]}
                for r in data["trend"]
            ],
            "daily": [{"day": r["day"].strftime("%d"), "n": r["n"]} for r in data["daily"]],
        }
    )
    nav_links = " · ".join(
        f'<a href="{_e(href)}">{_e(text)}</a>'
        for text, href in (
            ("← previous", nav.get("prev")),
            ("all periods", nav.get("index")),
            ("next →", nav.get("next")),
        )
        if href
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>IM usage and chargeback — {_e(_label(period))}</title>
<style>{CSS}</style></head>
<body>
<header><span class="nav">{nav_links}</span><h1>IM usage and chargeback — {_e(_label(period))}</h1>
<p>Period {_e(period.isoformat())} to {_e((_month(period, 1)).isoformat())} (exclusive), timezone {
        _e(data["timezone"])
    },
amounts in {_e(cur)}. Finance exports: <a href="{_e(files["cost_centers"])}">per cost center (CSV)</a> ·
<a href="{_e(files["users"])}">per user (CSV)</a></p></header>
<main>
<section><h2>This period</h2><div class="kpis">{kpis}</div>
<p class="muted">{_e(cost_split)}. Displayed amounts are rounded to 2 places; the CSV exports carry the exact
4-place amounts, which add up to the totals.</p></section>
<section><h2>Trend — messages sent (bars) and total cost (line), last {len(data["trend"])} period(s)</h2>
<div id="chart-trend" data-title="Trend of messages and cost"></div></section>
<div class="grid">
<section><h2>Cost by site</h2><div id="chart-site" data-title="Cost by site"></div>
{_table(site_headers, fmt_rollup(data["by_site"]), total_foot)}</section>
<section><h2>Cost by department</h2><div id="chart-department" data-title="Cost by department"></div>
{_table(dept_headers, fmt_rollup(data["by_department"]), total_foot)}</section>
</div>
<section><h2>Top 10 users by messages (sent + received)</h2>
<div id="chart-top" data-title="Top 10 users"></div>
{
        _table(
            [
                ("rank", "#", True),
                ("who", "User", False),
                ("user_jid", "JID", False),
                ("department", "Department", False),
                ("site", "Site", False),
                ("messages_sent", "Sent", True),
                ("messages_received", "Received", True),
                ("conversations", "Conversations", True),
                ("total_cost", f"Total ({cur})", True),
            ],
            top_rows,
        )
    }</section>
<section><h2>When people chat — messages by weekday and hour ({_e(data["timezone"])})</h2>
<div id="chart-heatmap" data-title="Hour of day by weekday heatmap"></div></section>
<section><h2>Messages per day</h2><div id="chart-daily" data-title="Messages per day"></div></section>
<section><h2>Cost centers</h2>
{
        _table(
            [
                ("cost_center", "Cost center", False),
                ("active_users", "Active users", True),
                ("messages_sent", "Sent", True),
                ("usage_cost", "Usage", True),
                ("fee", "Fees", True),
                ("markup", "Markup", True),
                ("tax", "Tax", True),
                ("total_cost", f"Total ({cur})", True),
            ],
            cc_rows,
            cc_foot,
        )
    }</section>
<section><h2>Conversations</h2><p>{_int(conv["conversations"])} conversations started;
{_int(conv["multiparty"])} with three or more participants ({share});
median {_e(f"{Decimal(str(conv['median_messages'])):.0f}")} messages and
{_e(f"{Decimal(str(conv['median_seconds'])) / 60:.1f}")} minutes from first to last message.</p></section>
</main>
<footer>eur-pipeline chargeback report · {_e(_slug(period))}</footer>
<script type="application/json" id="report-data">{_script_json(chart_data)}</script>
<script>{JS}</script>
</body></html>
"""


def render_index(entries: Sequence[tuple[PeriodReport, dict[str, Any]]]) -> str:
    rows = "".join(
        f'<tr><td><a href="{_e(r.html.name)}">{_e(_label(r.period))}</a></td>'
        f'<td class="n">{_int(t["active_users"])}</td><td class="n">{_int(t["messages_sent"])}</td>'
        f'<td class="n">{_money2(t["total_cost"])} {_e(t["currency"] or "")}</td>'
        f'<td><a href="{_e(r.cost_centers_csv.name)}">cost centers</a> · '
        f'<a href="{_e(r.users_csv.name)}">users</a></td></tr>'
        for r, t in reversed(entries)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>IM usage and chargeback reports</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>{CSS}</style></head><body><header><h1>IM usage and chargeback reports</h1></header><main><section>
<table><thead><tr><th>Period</th><th class="n">Active users</th><th class="n">Messages sent</th>
<th class="n">Total cost</th><th>CSV</th></tr></thead>
<tbody>{rows or '<tr><td colspan="5">no billing data yet</td></tr>'}
</tbody></table></section></main></body></html>
"""


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic write (temp + rename), skipped when the content is already there."""
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def report_periods(con: duckdb.DuckDBPyConnection) -> list[date]:
    return [p for (p,) in con.execute("SELECT DISTINCT period FROM billing ORDER BY period").fetchall()]


DIGESTS = ".report-digests.json"
_CODE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def period_digests(con: duckdb.DuckDBPyConnection, config: EurConfig, periods: list[date]) -> dict[str, str]:
    """Per period (slug): a digest of everything its files show — its billing rows and those of the 12
    periods before it (deltas, trend), its neighbours (navigation), the timezone and the renderer."""
    billed = {
        p: f"{n}:{h}"
        for p, n, h in con.execute(
            "SELECT period, count(*), bit_xor(hash(b)) FROM billing b GROUP BY period"
        ).fetchall()
    }
    out = {}
    for i, period in enumerate(periods):
        window = [_month(period, -k) for k in range(13)]
        payload = [
            _CODE,
            config.timezone,
            [billed.get(p) for p in window],
            _slug(periods[i - 1]) if i > 0 else None,
            _slug(periods[i + 1]) if i + 1 < len(periods) else None,
        ]
        out[_slug(period)] = hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()
    return out


def _read_digests(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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
    done = _read_digests(digests_path)
    digests = period_digests(con, config, all_periods)
    written: list[PeriodReport] = []
    rendered: list[date] = []
    for i, period in enumerate(all_periods):
        if period not in wanted:
            continue
        slug = _slug(period)
        report = PeriodReport(
            period=period,
            html=out_dir / f"report-{slug}.html",
            cost_centers_csv=out_dir / f"chargeback-cost-centers-{slug}.csv",
            users_csv=out_dir / f"chargeback-users-{slug}.csv",
        )
        files_there = all(p.exists() for p in (report.html, report.cost_centers_csv, report.users_csv))
        if done.get(slug) == digests[slug] and files_there:
            written.append(report)
            continue
        rendered.append(period)
        data = collect_period(con, config, period)
        nav = {
            "prev": f"report-{_slug(all_periods[i - 1])}.html" if i > 0 else None,
            "next": f"report-{_slug(all_periods[i + 1])}.html" if i + 1 < len(all_periods) else None,
            "index": "index.html",
        }
        files = {"cost_centers": report.cost_centers_csv.name, "users": report.users_csv.name}
        _write_if_changed(report.html, render_html(data, files, nav))
        _write_if_changed(report.cost_centers_csv, render_csv(COST_CENTER_COLUMNS, data["by_cost_center"]))
        _write_if_changed(report.users_csv, render_csv(USER_COLUMNS, data["users"]))
        written.append(report)
        done[slug] = digests[slug]

    index_entries = []
    totals_sql = (
        "SELECT period, count(*) FILTER (WHERE messages_sent + messages_received > 0) AS active_users, "
        "sum(messages_sent) AS messages_sent, sum(total_cost) AS total_cost, min(currency) AS currency "
        "FROM billing GROUP BY period"
    )
    totals = {r["period"]: r for r in _rows(con, totals_sql, [])}
    for period in all_periods:
        slug = _slug(period)
        entry = PeriodReport(
            period,
            out_dir / f"report-{slug}.html",
            out_dir / f"chargeback-cost-centers-{slug}.csv",
            out_dir / f"chargeback-users-{slug}.csv",
        )
        if entry.html.exists():
            index_entries.append((entry, totals[period]))
    index = out_dir / "index.html"
    _write_if_changed(index, render_index(index_entries))
    _write_if_changed(digests_path, json.dumps({k: v for k, v in done.items() if k in digests}, sort_keys=True))
    return ReportSet(directory=out_dir, index=index, periods=tuple(written), rendered=tuple(rendered))


__all__ = [
    "COST_CENTER_COLUMNS",
    "USER_COLUMNS",
    "PeriodReport",
    "ReportSet",
    "collect_period",
    "render_csv",
    "render_html",
    "report_periods",
    "write_reports",
]
