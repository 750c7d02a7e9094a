from __future__ import annotations

import datetime as dt
import re
import duckdb
import pytest

from reports.browser import chromium_path, load_page
from reports.program_report import render_program_report, write_program_report

from .conftest import AS_OF, METRICS


def _assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external reference in the report"


def test_report_shows_kpis_models_fairness_quality_and_definitions(warehouse):
    html = render_program_report(warehouse, METRICS, AS_OF)
    _assert_self_contained(html)
    for heading in ("KPI trends", "calibration", "Fairness by subgroup", "Data quality of the last run",
                    "KPI definitions", "30-day readmission rate", "Documentation completeness"):
        assert heading in html, heading
    assert html.count("<svg") >= 10
    assert "future_date" in html  # quarantine rule counts
    assert "Fairness by subgroup is not in metrics.json" in html  # high_need has none: said, not failed
    assert "Calibration bins are not in metrics.json" in html  # high_need has none
    assert "30-day readmission: lift at capacity" in html and "observed/expected 1.30 outside" in html
    assert "Score drift" in html and "How earlier intake lists performed" in html


def test_report_without_tables_or_metrics_says_what_is_missing(tmp_path):
    con = duckdb.connect()
    path = write_program_report(con, tmp_path / "absent.json", dt.date(2024, 6, 1), tmp_path / "r.html")
    html = path.read_text()
    _assert_self_contained(html)
    assert "metrics.json not found" in html and "audit.ingest_log is empty" in html
    assert "marts.kpi_definition not built yet" in html


chromium = pytest.mark.skipif(chromium_path() is None,
                              reason="/usr/bin/chromium is absent (Debian: apt-get install -y chromium chromium-driver)")


@chromium
def test_console_errors_are_detected(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>")
    assert any("boom" in m for m in load_page(page).console)


@chromium
def test_report_loads_in_headless_chromium_renders_charts_and_screenshots(warehouse, tmp_path):
    path = write_program_report(warehouse, tmp_path / "none.json", AS_OF, tmp_path / "report.html")
    path.write_text(render_program_report(warehouse, METRICS, AS_OF))
    page = load_page(path, tmp_path / "report.png")
    assert page.console == []
    assert page.dom.count("<svg") >= 10 and "<polyline" in page.dom
    assert page.screenshot is not None and 5_000 < page.screenshot.stat().st_size < 300_000
