"""A department's report and the printed PDFs, in real headless Chromium: charts drawn, no errors, only that
department's users; one period's trend is a slim bar; chart money labels match the tiles (2 places)."""

from __future__ import annotations

from pathlib import Path

import pypdf

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.billing.reports import write_reports
from eur_pipeline.billing.reports.paths import scope_dir
from eur_pipeline.billing.reports.pdf import print_pdfs
from eur_pipeline.config.loader import load_config
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.browser import ARTIFACTS, browser_page, chromium_or_skip, open_page, screenshot

from ..helpers import DEMO_RATES, Warehouse, make_config, populate_demo
from ..mail.conftest import write_setup

PROBE = """(() => {
  const charts = {};
  document.querySelectorAll('svg.chart').forEach(s => {
    charts[s.getAttribute('data-chart')] = {drawn: s.getAttribute('data-drawn') === '1',
      marks: s.querySelectorAll('rect, circle, polyline').length};
  });
  const trend = document.querySelector('svg[data-chart=chart-trend]');
  return {charts, drawn: document.body.getAttribute('data-charts-drawn'), title: document.title,
          text: document.body.innerText,
          trendBars: Array.from(trend.querySelectorAll('rect')).map(r => Number(r.getAttribute('width'))),
          trendTexts: Array.from(trend.querySelectorAll('text')).map(t => t.textContent)};
})()"""


def test_department_report_and_pdf_in_chromium(warehouse: Warehouse, tmp_path: Path) -> None:
    chromium = chromium_or_skip()
    directory = populate_demo(warehouse)
    config = make_config(
        tmp_path, directory=directory, rates=DEMO_RATES, timezone="Europe/Paris", reports_dir=tmp_path / "reports"
    )
    refresh_billing(warehouse.con, config)
    reports = write_reports(warehouse.con, config)
    march = next(r for r in reports.periods if r.period.month == 3)
    eng = next(r for r in reports.scoped if r.period == march.period and "department-engineering" in str(r.html))
    assert eng.html.parent == scope_dir(reports.directory, "department-engineering")

    members = {
        row[0]
        for row in warehouse.con.execute(
            "SELECT coalesce(name, user_jid) FROM billing WHERE period = ? AND department = 'Engineering'",
            [march.period],
        ).fetchall()
    }
    others = {
        row[0]
        for row in warehouse.con.execute(
            "SELECT user_jid FROM billing WHERE period = ? AND department IS DISTINCT FROM 'Engineering'",
            [march.period],
        ).fetchall()
    }
    page = open_page(eng.html, PROBE, screenshot_name="billing-report-2024-03-department-engineering")
    assert page.errors == [] and page.external_requests == []
    value = page.value
    assert value["drawn"] == "6" and all(c["drawn"] and c["marks"] > 0 for c in value["charts"].values())
    assert value["title"] == "IM usage and chargeback — Engineering (department) — March 2024"
    assert members and sum(m in value["text"] for m in members) >= min(len(members), 3)
    assert not any(jid in value["text"] for jid in others)  # nobody from another department

    # the PDFs: the period's page and the department's, printed by headless Chromium with the print CSS
    pdfs = print_pdfs([(march.html, march.pdf), (eng.html, eng.pdf)], chromium)
    ARTIFACTS.mkdir(exist_ok=True)
    for pdf in pdfs:
        reader = pypdf.PdfReader(str(pdf))
        text = "".join(p.extract_text() for p in reader.pages)
        assert len(reader.pages) >= 1 and "IM usage and chargeback" in text and "March 2024" in text
        (ARTIFACTS / pdf.name.replace(".pdf", f"-{pdf.parent.name}.pdf")).write_bytes(pdf.read_bytes())
    eng_text = "".join(p.extract_text() for p in pypdf.PdfReader(str(eng.pdf)).pages)
    assert "Engineering (department)" in eng_text and "Reading this report" in eng_text
    with browser_page(1000, 1400) as browser:  # what the print CSS gives, as an image
        browser.emulate_media(media="print")
        browser.goto(eng.html.resolve().as_uri(), wait_until="load")
        assert browser.evaluate("getComputedStyle(document.querySelector('.nav')).display") == "none"
        screenshot(browser, "billing-report-2024-03-department-engineering-print")


def test_one_period_trend_is_a_slim_bar_with_a_two_place_cost(tmp_path: Path) -> None:
    config = load_config(write_setup(tmp_path, {}))
    con = open_warehouse(config.warehouse)
    try:
        reports = write_reports(con, config)
    finally:
        con.close()
    (november,) = reports.periods
    page = open_page(november.html, PROBE, screenshot_name="billing-report-one-period")
    assert page.errors == []
    (bar,) = page.value["trendBars"]
    assert bar <= (1100 - 48 - 90) / 12  # at most a twelfth of the plot, not the whole width
    assert "EUR 10.50" in page.value["trendTexts"]  # the cost label, as the tile shows it
    assert "10.50" in page.value["text"]
