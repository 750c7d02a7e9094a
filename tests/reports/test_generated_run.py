"""On a generated run: the intake list's guarantees, the report in headless Chromium, the
worklists and workbook, and the analyst notebooks executed top to bottom."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from reports.browser import chromium_path, load_page

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_home(generated_run) -> Path:
    """The shared full run on generated data (tests/conftest.py)."""
    return generated_run[1]


def _rows(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_intake_list_stays_within_open_capacity_and_lists_no_open_case(run_home):
    as_of = _rows(run_home, "SELECT max(as_of_date) FROM marts.kpi_transition_monthly")[0][0]
    listed = _rows(run_home, "SELECT count(*) FROM marts.intake_list")[0][0]
    assert listed > 0
    free = dict(_rows(run_home, f"""
        SELECT r.case_manager_id, greatest(r.capacity - count(c.case_id), 0)
        FROM raw.cm_roster r LEFT JOIN raw.cm_case c
          ON c.case_manager_id = r.case_manager_id AND c.open_date <= DATE '{as_of}'
         AND (c.close_date IS NULL OR c.close_date > DATE '{as_of}')
        WHERE r.active_flag = 1 GROUP BY r.case_manager_id, r.capacity"""))
    assert listed <= sum(free.values())
    per_manager = dict(_rows(run_home, "SELECT suggested_case_manager_id, count(*) FROM marts.intake_list GROUP BY 1"))
    assert set(per_manager) <= set(free)  # every suggestion is an active case manager
    assert all(n <= free[cm] for cm, n in per_manager.items())
    open_cases = _rows(run_home, f"""
        SELECT count(*) FROM marts.intake_list i JOIN raw.cm_case c ON c.person_id = i.person_id
        WHERE c.referral_date <= DATE '{as_of}' AND (c.close_date IS NULL OR c.close_date > DATE '{as_of}')""")
    assert open_cases == [(0,)]
    missing = _rows(run_home, """SELECT count(*) FROM marts.intake_list WHERE reason_1 IS NULL OR reason_2 IS NULL
                                 OR reason_3 IS NULL OR suggested_case_manager_id IS NULL OR contact_by_date IS NULL""")
    assert missing == [(0,)]
    with open(run_home / "outputs" / "intake_list.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == listed
    assert (run_home / "outputs" / "intake_list.xlsx").stat().st_size > 5_000
    assert {p.name for p in (run_home / "outputs" / "worklists").glob("*.html")} == {
        f"worklist_{cm}.html" for cm in per_manager}


def test_every_kpi_table_is_written(run_home):
    tables = {r[0] for r in _rows(run_home, "SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'marts' AND table_name LIKE 'kpi_%'")}
    assert tables >= {"kpi_transition_monthly", "kpi_referral_monthly", "kpi_case_closure_monthly",
                      "kpi_caseload_monthly", "kpi_contact_compliance_monthly", "kpi_documentation",
                      "kpi_utilization_monthly", "kpi_list_performance", "kpi_score_drift", "kpi_definition"}
    # the extended case-management fields reach the KPIs
    completion = _rows(run_home, "SELECT sum(services_received) / sum(services_referred) "
                                 "FROM marts.kpi_referral_monthly WHERE level = 'all'")[0][0]
    satisfaction = _rows(run_home, "SELECT sum(satisfaction_responses) FROM marts.kpi_case_closure_monthly "
                                   "WHERE level = 'all'")[0][0]
    compliance = _rows(run_home, "SELECT avg(followup_compliance_rate) FROM marts.kpi_contact_compliance_monthly "
                                 "WHERE level = 'all'")[0][0]
    assert 0.4 < completion < 0.9 and satisfaction > 0 and 0.6 < compliance < 0.95


@pytest.mark.skipif(chromium_path() is None,
                    reason="/usr/bin/chromium is absent (Debian: apt-get install -y chromium chromium-driver)")
def test_program_report_of_the_run_loads_without_console_errors(run_home, tmp_path):
    page = load_page(run_home / "outputs" / "program_report.html", tmp_path / "report.png", height=1400)
    assert page.console == []
    assert page.dom.count("<svg") >= 12
    assert page.screenshot.stat().st_size < 300_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_on_the_generated_run(path, run_home, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("RISKSTRAT_HOME", str(run_home))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parents[1])}}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
