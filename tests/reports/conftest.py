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


EFFECT_COLUMNS = ("as_of_date", "outcome", "program", "method", "label", "estimand", "estimate", "ci_low", "ci_high",
                  "unit", "n_treated", "n_control", "treated_mean", "control_mean", "e_value", "e_value_ci",
                  "max_smd_before", "max_smd_after", "overlap_share", "status", "note")
WITHHELD_NOTE = ("Withheld: 96% of enrolled stays have a propensity of enrolment above 0.99, so no comparable "
                 "members exist outside the program.")


def _effect_row(outcome, program, method, estimate, ci, means, n=(812, 9450), e=(None, None), status="reported",
                note="", unit="risk difference"):
    label = {"aipw": "adjusted effect", "lottery_itt": "randomised"}.get(method, "descriptive, not an effect")
    return dict(zip(EFFECT_COLUMNS, (
        AS_OF, outcome, program, method, label, "ATT" if method == "aipw" else method, estimate, ci[0], ci[1], unit,
        n[0], n[1], means[0], means[1], e[0], e[1], 0.74 if method == "aipw" else None,
        0.04 if method == "aipw" else None, 0.97 if method == "aipw" else None, status, note), strict=True))


def write_program_effect(con, headline: str = "reported", lottery: bool = True) -> None:
    """marts.program_effect, _balance and _overlap as the estimator writes them: an adjusted 30-day
    readmission effect (reported, or withheld for lack of overlap), naive and pre/post rows, a
    suppressed program cell and optionally a lottery row; and a lottery round of 10 in
    marts.intake_assignment."""
    rows = [
        _effect_row("readmit_30d", "all", "aipw", -0.034, (-0.058, -0.010), (0.171, 0.205), e=(1.62, 1.19))
        if headline == "reported" else
        _effect_row("readmit_30d", "all", "aipw", None, (None, None), (0.209, 0.116), status="withheld_no_overlap",
                    note=WITHHELD_NOTE),
        _effect_row("readmit_180d", "all", "aipw", 0.006, (-0.021, 0.033), (0.41, 0.404), e=(1.05, 1.0)),
        _effect_row("paid_6m", "all", "aipw", -45.0, (-80.0, -10.0), (1450.0, 1495.0), e=(1.3, 1.1),
                    unit="dollars per member-month"),
        _effect_row("readmit_30d", "complex_care", "aipw", None, (None, None), (None, None), n=(12, 900),
                    status="suppressed_small_cell", note="Suppressed: 12 enrolled stays, fewer than 30."),
        _effect_row("readmit_30d", "all", "naive", 0.093, (0.064, 0.122), (0.209, 0.116)),
        _effect_row("admissions_6m", "all", "pre_post", -0.077, (-0.09, -0.064), (0.041, 0.118), n=(812, 812),
                    unit="admissions per member-month"),
    ]
    if lottery:
        rows += [_effect_row("admissions_180d", "all", "lottery_itt", -0.02, (-0.11, 0.07), (0.31, 0.33),
                             n=(150, 150), unit="admissions per member"),
                 _effect_row("any_admission_180d", "all", "lottery_itt", -0.04, (-0.15, 0.07), (0.22, 0.26),
                             n=(150, 150))]
    effect = pl.DataFrame(rows, infer_schema_length=None)  # noqa: F841 (read by DuckDB)
    balance = pl.DataFrame({  # noqa: F841
        "outcome": ["readmit_30d"] * 4, "program": ["all"] * 4,
        "covariate": ["lace_score", "prior_admissions_6m", "age", "charlson_index"],
        "smd_before": [0.74, 0.52, 0.05, 0.31], "smd_after": [0.04, 0.12, 0.01, 0.02],
        "imbalanced_flag": [0, 1, 0, 0]})
    bins = [round(i / 10, 1) for i in range(11)]
    overlap = pl.DataFrame({  # noqa: F841
        "program": ["all"] * 20, "arm": ["enrolled"] * 10 + ["not_enrolled"] * 10,
        "bin_low": bins[:-1] * 2, "bin_high": bins[1:] * 2,
        "stays": [5, 20, 60, 120, 160, 150, 120, 90, 60, 27] + [3100, 2600, 1500, 900, 600, 350, 200, 120, 60, 20]})
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    for name in ("effect", "balance", "overlap"):
        target = "marts.program_effect" if name == "effect" else f"marts.program_effect_{name}"
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {name}")
    con.execute("CREATE OR REPLACE TABLE marts.intake_assignment AS SELECT DATE '2024-05-01' AS assignment_date, "
                "10 AS band_size FROM range(10)")
