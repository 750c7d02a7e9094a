"""A small warehouse with every KPI table built (the KPI fixture of tests/features) and an intake list."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))

AS_OF = dt.date(2024, 6, 1)


@pytest.fixture(scope="module")
def warehouse():
    import test_kpi_program as kpi_fixture  # the hand-checked KPI fixture

    gen = kpi_fixture.con.__wrapped__()
    con = next(gen)
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute("CREATE TABLE audit.ingest_log AS SELECT 'run1' AS run_id, 'cm_case' AS extract, 'cm_case.csv' AS "
                "source_file, 'x' AS file_sha256, 10 AS rows_read, 9 AS rows_loaded, 1 AS rows_quarantined, "
                "'loaded' AS status, '' AS missing_optional_columns, now() AS logged_at")
    con.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
    con.execute("CREATE TABLE quarantine.cm_case AS SELECT 'future_date:close_date' AS _rule")
    yield con
    try:
        next(gen)
    except StopIteration:
        pass


METRICS = {
    "readmission": {
        "test": {"auroc": 0.71, "auroc_ci": [0.66, 0.75], "auprc": 0.3, "brier": 0.12, "calibration_slope": 0.95,
                 "calibration_intercept": -0.02, "n": 900, "events": 140,
                 "calibration": [{"n": 90, "mean_predicted": 0.05 * (i + 1), "observed": 0.045 * (i + 1)}
                                 for i in range(10)],
                 "capacity": {"selected": 160, "ppv": 0.19, "lift": 1.41, "k": 27}},
        "baselines": {"lace": {"auroc": 0.66, "n": 900, "events": 140, "capacity": {"lift": 1.12}}},
        "fairness": {"overall": {"n": 900, "auroc": 0.71},
                     "groups": {"sex": {"female": {"n": 450, "auroc": 0.70, "observed_expected": 1.1, "flags": []},
                                        "male": {"n": 450, "auroc": 0.72, "observed_expected": 0.9, "flags": []}},
                                "age_band": {"65-74": {"n": 300, "auroc": 0.69, "flags": ["O/E 1.30 outside"]}}},
                     "flags": ["age_band=65-74: observed/expected 1.30 outside [0.8, 1.25]"]},
    },
    "high_need": {"test": {"auroc": 0.8, "n": 2000, "events": 200}, "baselines": {}},
}


@pytest.fixture
def intake() -> pl.DataFrame:
    D = dt.date
    return pl.DataFrame({
        "rank": [1, 2, 3], "person_id": ["P001", "P002", "P003"], "score": [0.61, 0.42, 0.30],
        "score_percentile": [100.0, 66.7, 33.3], "risk_tier": ["very_high", "moderate", "low"],
        "rising_risk_flag": [1, 0, 0],
        "reason_1": ["raises risk: 3 ED visits in the 6 months before admission", "raises risk: aged 81",
                     "raises risk: <script>alert(1)</script>"],
        "reason_2": ["raises risk: stayed 9 days in hospital", "no other factor raises risk", "raises risk: x"],
        "reason_3": ["raises risk: dual eligible", "no other factor raises risk", "raises risk: y"],
        "latest_discharge_date": [D(2024, 5, 28), None, D(2024, 5, 20)], "days_since_discharge": [4, None, 12],
        "open_care_gaps": ["no PCP visit in 12 months", None, "no follow-up visit within 7 days of discharge"],
        "suggested_program": ["care_transitions", "care_transitions", "complex_care"],
        "suggested_case_manager_id": ["CM0001", "CM0001", "CM0002"], "suggested_team": ["CT-1", "CT-1", "CC-1"],
        "contact_by_date": [D(2024, 6, 1), D(2024, 6, 4), D(2024, 6, 1)],
    })
