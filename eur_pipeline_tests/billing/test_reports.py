"""Reports: the HTML renders in real headless Chromium with charts drawn and no errors; CSVs reconcile."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from eur_pipeline.billing.compute import billing_totals, refresh_billing
from eur_pipeline.billing.reports import ReportSet, write_reports
from eur_pipeline_tests.browser import open_page

from .helpers import DEMO_RATES, Warehouse, make_config, populate_demo

HOSTILE = "<b>Zoë</b></script><script>document.title='pwned'</script>"

PROBE = """(() => {
  const charts = {};
  document.querySelectorAll('svg.chart').forEach(s => {
    charts[s.getAttribute('data-chart')] = {drawn: s.getAttribute('data-drawn') === '1',
      marks: s.querySelectorAll('rect, circle, polyline').length};
  });
  return {charts, drawn: document.body.getAttribute('data-charts-drawn'), title: document.title,
          heatCells: document.querySelectorAll('svg[data-chart=heatmap] rect.cell').length,
          text: document.body.innerText};
})()"""


def build(warehouse: Warehouse, tmp_path: Path) -> tuple[ReportSet, Path]:
    directory = populate_demo(warehouse)
    directory = directory.replace("Ada A.", HOSTILE)
    config = make_config(
        tmp_path, directory=directory, rates=DEMO_RATES, timezone="Europe/Paris", reports_dir=tmp_path / "reports"
    )
    refresh_billing(warehouse.con, config)
    reports = write_reports(warehouse.con, config)
    return reports, config.resolved_reports_dir


def test_report_renders_in_chromium_with_charts_and_no_errors(warehouse: Warehouse, tmp_path: Path) -> None:
    reports, _ = build(warehouse, tmp_path)
    march = next(r for r in reports.periods if r.period.month == 3)
    page = open_page(march.html, PROBE, screenshot_name="billing-report-2024-03")
    assert page.errors == []
    assert page.external_requests == []  # self-contained: nothing fetched
    value = page.value
    assert set(value["charts"]) == {
        "chart-site",
        "chart-department",
        "chart-top",
        "heatmap",
        "chart-trend",
        "chart-daily",
    }
    for name, chart in value["charts"].items():
        assert chart["drawn"] and chart["marks"] > 0, name
    assert value["drawn"] == "6"
    assert value["heatCells"] == 7 * 24
    assert value["charts"]["chart-trend"]["marks"] >= 2 + 2 + 1  # Feb and Mar bars, points, the line
    assert value["title"].startswith("IM usage and chargeback — March 2024")  # hostile name did not run
    assert "Top 10 users" in value["text"] and HOSTILE in value["text"]  # shown as text, not markup
    assert page.screenshot is not None and page.screenshot.stat().st_size > 10_000


def test_chromium_check_catches_broken_pages(tmp_path: Path) -> None:
    """Negative control: the same harness must see exceptions, console errors and network use."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('drawn wrong');"
        "setTimeout(function(){ null.boom(); }, 0);</script>"
        '<img src="http://127.0.0.1:9/pixel.png"></body></html>'
    )
    page = open_page(bad, "1 + 1")
    assert page.value == 2
    assert any("drawn wrong" in e for e in page.errors)
    assert any("boom" in e for e in page.errors)
    assert page.external_requests == ["http://127.0.0.1:9/pixel.png"]


def test_chromium_check_catches_a_broken_report(warehouse: Warehouse, tmp_path: Path) -> None:
    reports, _ = build(warehouse, tmp_path)
    html = reports.periods[0].html
    broken = html.with_name("broken.html")
    broken.write_text(html.read_text().replace('heatmap(document.getElementById("chart-heatmap")', "heatmapp(0"))
    page = open_page(broken, PROBE)
    assert any("heatmapp is not defined" in e for e in page.errors)
    assert page.value["drawn"] is None  # the script stopped before marking the page drawn


def _sum(path: Path, column: str) -> Decimal:
    with path.open(newline="", encoding="utf-8") as fh:
        return sum((Decimal(row[column]) for row in csv.DictReader(fh)), Decimal(0))


def test_csv_exports_reconcile_exactly(warehouse: Warehouse, tmp_path: Path) -> None:
    reports, _ = build(warehouse, tmp_path)
    assert len(reports.periods) >= 2
    grand = Decimal(0)
    for report in reports.periods:
        totals = billing_totals(warehouse.con, report.period)
        for column in ("usage_cost", "fee", "markup", "tax", "total_cost"):
            assert _sum(report.users_csv, column) == totals[column]
            assert _sum(report.cost_centers_csv, column) == totals[column]
        with report.users_csv.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            parts = [Decimal(row[c]) for c in ("usage_cost", "fee", "markup", "tax")]
            assert Decimal(row["total_cost"]) == sum(parts)
            assert len(row["total_cost"].split(".")[1]) == 4  # exact 4-place amounts, not floats
        grand += _sum(report.users_csv, "total_cost")
    assert grand == billing_totals(warehouse.con)["total_cost"]


def test_reports_are_deterministic_and_not_rewritten(warehouse: Warehouse, tmp_path: Path) -> None:
    reports, out = build(warehouse, tmp_path)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in reports.paths}
    config = make_config(tmp_path, rates=DEMO_RATES, timezone="Europe/Paris", reports_dir=out)
    again = write_reports(warehouse.con, config, periods=[reports.periods[0].period])
    assert [r.period for r in again.periods] == [reports.periods[0].period]
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime
    assert "report-2024-03.html" in reports.index.read_text()


def test_only_periods_whose_billing_changed_are_rendered_again(warehouse: Warehouse, tmp_path: Path) -> None:
    reports, out = build(warehouse, tmp_path)
    periods = [r.period for r in reports.periods]
    assert list(reports.rendered) == periods
    config = make_config(tmp_path, rates=DEMO_RATES, timezone="Europe/Paris", reports_dir=out)
    # the directory differs from build()'s, so billing is rebuilt; pin it to what build() wrote
    refresh_billing(warehouse.con, config)
    fresh = write_reports(warehouse.con, config)
    assert len(fresh.periods) == len(periods)
    again = write_reports(warehouse.con, config)
    assert again.rendered == () and [r.period for r in again.periods] == periods
    assert again.latest is not None and again.latest.html.exists()
    # one billing row of the first period changes: that period and the later ones whose trend or
    # deltas show it (12 months) are rendered, nothing else is
    first = periods[0]
    warehouse.con.execute("UPDATE billing SET messages_sent = messages_sent + 1 WHERE period = ?", [first])
    changed = write_reports(warehouse.con, config)
    assert list(changed.rendered) == [p for p in periods if (p.year - first.year) * 12 + p.month - first.month <= 12]
    # a deleted file is written again even when its period is unchanged
    changed.periods[-1].users_csv.unlink()
    assert list(write_reports(warehouse.con, config).rendered) == [periods[-1]]


def test_csv_cells_cannot_become_formulas(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.message("X", "=cmd@im.example.com", ["b@im.example.com"], "2024-03-01 10:00:00+00")
    warehouse.settle()
    config = make_config(tmp_path, reports_dir=tmp_path / "reports")
    refresh_billing(warehouse.con, config)
    users = write_reports(warehouse.con, config).periods[0].users_csv.read_text()
    assert ",'=cmd@im.example.com," in users


@pytest.mark.parametrize("period_count", [0])
def test_no_billing_yet_writes_an_index(warehouse: Warehouse, tmp_path: Path, period_count: int) -> None:
    config = make_config(tmp_path, reports_dir=tmp_path / "reports")
    reports = write_reports(warehouse.con, config)
    assert len(reports.periods) == period_count
    assert "no billing data yet" in reports.index.read_text()
