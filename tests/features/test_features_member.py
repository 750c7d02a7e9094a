from __future__ import annotations

import datetime as dt

import pytest
from rawrows import D, ed_claim, ip_claim, member, office_claim

from features.diagnosis import build_diagnosis
from features.dictionary import MEMBER_FEATURES, MEMBER_SUBGROUP_COLUMNS
from features.member import (
    ID_COLUMNS,
    LABEL_COLUMNS,
    add_months,
    build_member_dataset,
    latest_complete_as_of,
    null_rates,
)
from features.stays import build_inpatient_stays

AS_OF = D(2024, 1, 1)


def _rx(claim_id, person_id, day, drug_class, days=30, allowed=10.0):
    return {"claim_id": claim_id, "claim_line_number": 1, "person_id": person_id, "dispensing_date": day,
            "ndc_code": "00093505698", "drug_class": drug_class, "days_supply": days, "paid_amount": allowed,
            "allowed_amount": allowed}


def _db(raw_db, extra_claims=()):
    claims = [
        # p1, 72 on the as-of date: E11.9, I50.22, N18.4 (the hccinfhir published example), C34.90
        office_claim("o1", "p1", D(2023, 3, 1), dx="E119"),
        office_claim("o2", "p1", D(2023, 4, 1), dx="I5022"),
        office_claim("o3", "p1", D(2023, 5, 1), dx="N184"),
        office_claim("o4", "p1", D(2023, 6, 1), dx="C3490"),
        ip_claim("s1", "p1", D(2023, 11, 1), D(2023, 11, 6), dx="J189", allowed=10000.0),
        office_claim("o5", "p1", D(2023, 11, 10), dx="I10"),  # follow-up within 7 days
        ed_claim("e1", "p1", D(2023, 12, 20)),
        office_claim("o6", "p1", D(2022, 6, 1), dx="F209"),  # outside the 365-day look-back
        # p4, 72, community non-dual aged woman with exactly the hccinfhir published example codes
        office_claim("h1", "p4", D(2023, 3, 1), dx="E119"),
        office_claim("h2", "p4", D(2023, 4, 1), dx="I5022"),
        office_claim("h3", "p4", D(2023, 5, 1), dx="N184"),
        *extra_claims,
    ]
    con = raw_db(
        eligibility=[member("p1", birth=D(1951, 6, 1), county="01001", zip_code="01002"),
                     member("p2", birth=D(1990, 1, 1), gender="male", payer="medicaid", race=None),
                     member("p3", start=D(2024, 2, 1)),
                     member("p4", birth=D(1951, 6, 1))],  # not enrolled on the as-of date
        medical_claim=claims,
        pharmacy_claim=[_rx("r1", "p1", D(2023, 10, 3), "statin"), _rx("r2", "p1", D(2023, 11, 2), "statin"),
                        _rx("r3", "p1", D(2023, 12, 20), "statin", days=30)],
        lab_result=[{"lab_result_id": "l1", "person_id": "p1", "result_date": D(2023, 12, 1),
                     "observation_type": "lab", "loinc_code": "4548-4", "result_value": 9.4}],
        sdoh_screening=[
            {"screening_id": "x1", "person_id": "p1", "screening_date": D(2023, 1, 1), "domain": "food_insecurity",
             "positive_flag": 1},
            {"screening_id": "x2", "person_id": "p1", "screening_date": D(2023, 9, 1), "domain": "food_insecurity",
             "positive_flag": 0},
            {"screening_id": "x2", "person_id": "p1", "screening_date": D(2023, 9, 1), "domain": "transportation",
             "positive_flag": 1},
        ],
        area_sdoh_county=[{"county_fips": "01001", "svi_overall": 0.3, "svi_socioeconomic": 0.4}],
        area_sdoh_zip=[{"zip_code": "01002", "county_fips": "01001", "median_household_income": 51000.0}],
    )
    build_inpatient_stays(con)
    build_diagnosis(con)
    return con


def _row(con, person_id, as_of=AS_OF):
    return con.execute(
        "SELECT * FROM features.member_features WHERE person_id = ? AND as_of_date = ?", [person_id, as_of]
    ).pl().to_dicts()[0]


@pytest.fixture
def extra_tables():
    return ("area_sdoh_zip", "sdoh_screening", "cm_contact", "condition")


def test_member_features_have_hand_computed_values(raw_db):
    con = _db(raw_db)
    counts = build_member_dataset(con, [AS_OF], data_end=D(2026, 1, 1))
    assert counts["rows"] == 3  # p3 is not enrolled on the as-of date
    cols = [r[0] for r in con.execute("DESCRIBE features.member_features").fetchall()]
    assert cols == [*ID_COLUMNS, *LABEL_COLUMNS, *MEMBER_SUBGROUP_COLUMNS, *MEMBER_FEATURES]
    row = _row(con, "p1")
    expected = {
        "age_years": 72.0, "female_flag": 1.0, "medicare_flag": 1.0, "enrolled_days_365d": 365.0,
        "ip_admissions_90d": 1.0, "ip_admissions_30d": 0.0, "bed_days_90d": 5.0, "ed_visits_30d": 1.0,
        "office_visits_365d": 5.0, "followup_7d_rate_365d": 1.0, "days_since_last_discharge": 56.0,
        "allowed_amount_365d": 4 * 100.0 + 10000.0 + 100.0 + 500.0 + 30.0,
        "pharmacy_allowed_amount_365d": 30.0,
        "hcc_diabetes_flag": 1.0, "hcc_heart_failure_flag": 1.0, "hcc_ckd_flag": 1.0,
        # Charlson 1987 weights: CHF 1 + diabetes 1 + renal 2 + malignancy 2 (+ pneumonia, hypertension: none)
        "charlson_index": 6.0,
        # van Walraven: CHF 7 + diabetes 0 + renal failure 5 + solid tumour 4 + hypertension 0 = 16,
        # the published/comorbidipy figure for I50.22, E11.9, N18.4, C34.90
        "elixhauser_vw_index": 16.0,
        "drug_classes_180d": 1.0, "polypharmacy_flag": 0.0,
        # statin fills Oct 3, Nov 2 (30 days each, contiguous) and Dec 20: covered 60 + 12 of the 90 days
        "pdc_statin_180d": pytest.approx((60 + 12) / 90), "pdc_ras_180d": None,
        "hba1c_last_365d": 9.4, "high_hba1c_365d_flag": 1.0, "hemoglobin_last_365d": None,
        "sdoh_food_insecurity_flag": 0.0, "sdoh_transportation_flag": 1.0, "sdoh_positive_domains": 1.0,
        "sdoh_housing_instability_flag": None,
        "svi_overall": 0.3, "svi_socioeconomic": 0.4, "median_household_income": 51000.0,
    }
    assert {k: row[k] for k in expected} == expected
    assert (row["sex"], row["age_band"], row["race"], row["svi_quartile"]) == ("female", "65-74", "black", "Q2")
    # the cancer code C34.90 has no V28 payment HCC; F20.9 is older than 365 days
    assert row["hcc_psychiatric_flag"] == 0.0
    # hccinfhir's own example: E11.9, I50.22, N18.4, 72-year-old community non-dual aged woman
    p4 = _row(con, "p4")
    assert (p4["hcc_score_v24"], p4["hcc_score_v28"], p4["hcc_count_v28"]) == (1.388, 1.723, 3.0)
    p2 = _row(con, "p2")
    assert (p2["race"], p2["svi_quartile"], p2["medicaid_flag"], p2["allowed_amount_365d"]) == (
        "unknown", "Q2", 1.0, 0.0)


def test_high_need_labels_and_incomplete_windows(raw_db):
    future = [
        ip_claim("f1", "p2", D(2024, 3, 1), D(2024, 3, 3), allowed=500.0),
        ip_claim("f2", "p2", D(2024, 6, 1), D(2024, 6, 3), allowed=500.0),
        ip_claim("f3", "p2", D(2024, 8, 1), D(2024, 8, 3), admit_type="3", dx="Z5111"),  # planned: not counted
        ip_claim("f4", "p1", D(2024, 5, 1), D(2024, 5, 20), allowed=90000.0),
        ip_claim("f5", "p1", D(2025, 1, 1), D(2025, 1, 2), allowed=1.0),  # after the label window
    ]
    con = _db(raw_db, future)
    build_member_dataset(con, [AS_OF, D(2024, 6, 1)], data_end=D(2025, 1, 1))
    p1, p2 = _row(con, "p1"), _row(con, "p2")
    # three members: ceil(5% of 3) = 1 member is the cost top 5%
    assert (p1["high_need_cost_12m"], p2["high_need_cost_12m"]) == (1, 0)
    assert p1["allowed_amount_next_12m"] == 90000.0
    assert (p2["unplanned_admissions_next_12m"], p2["high_need_utilization_12m"]) == (2, 1)
    assert p1["high_need_utilization_12m"] == 0
    late = _row(con, "p1", D(2024, 6, 1))
    assert late["high_need_cost_12m"] is None and late["allowed_amount_next_12m"] is None
    assert late["ip_admissions_90d"] == 1.0 and late["bed_days_90d"] == 19.0  # the May stay is now history


def test_null_rates_and_window_helpers(raw_db):
    con = _db(raw_db)
    build_member_dataset(con, [AS_OF], data_end=D(2026, 1, 1))
    rates = null_rates(con)
    assert set(rates) == set(MEMBER_FEATURES)
    assert rates["age_years"] == 0.0 and rates["hemoglobin_last_365d"] == 1.0
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert latest_complete_as_of(D(2026, 1, 1)) == D(2025, 1, 1)
    assert add_months(latest_complete_as_of(D(2025, 3, 1)), 12) <= D(2025, 3, 1)
    with pytest.raises(ValueError):
        build_member_dataset(con, [])
    assert isinstance(AS_OF, dt.date)


def test_fills_dispensed_together_count_their_days_once(raw_db):
    """Metformin and an SGLT2 inhibitor dispensed the same day for the same days cover the same days:
    their proportion of days covered is that of one fill (a tie that once split an island in two)."""
    con = _db(raw_db)
    fills = [_rx(f"d{i}{drug}", "p2", D(2023, 10, 3) + dt.timedelta(days=30 * i), drug)
             for i in range(3) for drug in ("metformin", "sglt2")]
    con.executemany("INSERT INTO raw.pharmacy_claim BY NAME SELECT * FROM (SELECT ?::VARCHAR AS claim_id, "
                    "?::INTEGER AS claim_line_number, ?::VARCHAR AS person_id, ?::DATE AS dispensing_date, "
                    "?::VARCHAR AS ndc_code, ?::VARCHAR AS drug_class, ?::INTEGER AS days_supply, "
                    "?::DOUBLE AS paid_amount, ?::DOUBLE AS allowed_amount)",
                    [list(f.values()) for f in fills])
    build_member_dataset(con, [AS_OF], data_end=D(2026, 1, 1))
    # Oct 3 to Jan 1: three contiguous 30-day fills cover all 90 days once
    assert _row(con, "p2")["pdc_diabetes_180d"] == pytest.approx(1.0)

