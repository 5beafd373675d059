"""The report files of a small fixed warehouse are byte for byte the checked-in ones in golden/.

The golden files were written by the renderer before it was split into data / templates; a change
to a page, a CSV or the index shows here as the first differing line. After an intended change:
``EUR_UPDATE_GOLDEN=1 pytest eur_pipeline_tests/billing/reports/test_golden.py`` rewrites them
(and fails, so the rewrite is reviewed in the diff, never passed silently).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from eur_pipeline.billing.reports import write_reports

from ..helpers import Warehouse
from .small import small_warehouse

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = [
    "index.html",
    "report-2024-01.html",
    "chargeback-cost-centers-2024-01.csv",
    "chargeback-users-2024-01.csv",
    "report-2024-02.html",
    "chargeback-cost-centers-2024-02.csv",
    "chargeback-users-2024-02.csv",
    "report-2024-05.html",
    "chargeback-cost-centers-2024-05.csv",
    "chargeback-users-2024-05.csv",
]


def _first_difference(expected: bytes, actual: bytes) -> str:
    diff = difflib.unified_diff(
        expected.decode().splitlines(), actual.decode().splitlines(), "golden", "written", n=0, lineterm=""
    )
    return "\n".join(line[:300] for line in list(diff)[:8])


def test_reports_match_the_golden_files(warehouse: Warehouse, tmp_path: Path) -> None:
    config = small_warehouse(warehouse, tmp_path)
    reports = write_reports(warehouse.con, config)
    written = {p.name: p.read_bytes() for p in reports.paths}
    assert sorted(written) == sorted(EXPECTED)
    if os.environ.get("EUR_UPDATE_GOLDEN"):
        for name, data in written.items():
            (GOLDEN / name).write_bytes(data)
        pytest.fail(f"golden files rewritten in {GOLDEN}; review the diff")
    for name in EXPECTED:
        expected = (GOLDEN / name).read_bytes()
        assert written[name] == expected, f"{name} differs:\n{_first_difference(expected, written[name])}"


def test_golden_pages_show_hostile_names_as_text() -> None:
    """What the golden files pin is itself right: markup in names is escaped, never run."""
    page = (GOLDEN / "report-2024-02.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;Zoë&lt;/b&gt;&lt;/script&gt;&lt;script&gt;document.title=&#x27;pwned&#x27;" in page
    assert "Ben &quot;B&quot; &amp; Co" in page
    assert page.count("<script") == 2  # the data block and the charts, nothing from a name
    assert "\\u003cb\\u003eZoë" in page  # and in the chart data
    users = (GOLDEN / "chargeback-users-2024-02.csv").read_text(encoding="utf-8")
    assert ",'=CC-200," in users and ",'=eve@im.example.com," in users
