from __future__ import annotations

import polars as pl
import pytest
from rawrows import D, ed_claim, ip_claim, member, office_claim

from features.dictionary import MODEL_FEATURES, READMISSION_SUBGROUP_COLUMNS
from features.kpi import build_kpi_readmission_monthly
from features.readmission import ID_COLUMNS, LABEL, build_readmission_dataset
from features.stays import build_inpatient_stays


def _build(con, as_of):
    build_inpatient_stays(con)
    counts = build_readmission_dataset(con, as_of)
    frame = con.execute("SELECT * FROM features.readmission_stay ORDER BY stay_id").pl()
    return counts, frame


def _label(frame, person_id, admission):
    row = frame.filter((pl.col("person_id") == person_id) & (pl.col("admission_date") == admission))
    assert row.height == 1
    return row[LABEL][0]


def test_label_scans_every_admission_in_30_days(raw_db):
    con = raw_db(
        eligibility=[member("p1"), member("p2")],
        medical_claim=[
            # p1: index, then a planned admission (maintenance chemotherapy) on day 5, an unplanned one on day 20
            ip_claim("a1", "p1", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("a2", "p1", D(2023, 1, 10), D(2023, 1, 12), admit_type="3", dx="Z5111"),
            ip_claim("a3", "p1", D(2023, 1, 25), D(2023, 1, 28), admit_type="1"),
            # p2: index, then only a planned admission (elective knee replacement for arthrosis) -> 0;
            # then one on day 31 -> 0
            ip_claim("b1", "p2", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("b2", "p2", D(2023, 1, 15), D(2023, 1, 16), admit_type="3", dx="M1711", procedure="0SRC0J9"),
            ip_claim("b3", "p2", D(2023, 2, 17), D(2023, 2, 20), admit_type="1"),
        ],
    )
    _, frame = _build(con, D(2023, 12, 31))
    assert _label(frame, "p1", D(2023, 1, 1)) == 1
    assert _label(frame, "p2", D(2023, 1, 1)) == 0
    # the elective stay of p2 is itself an index stay: b3 starts 32 days after its discharge
    assert _label(frame, "p2", D(2023, 1, 15)) == 0


def test_unobservable_label_is_null(raw_db):
    con = raw_db(eligibility=[member("p1")], medical_claim=[ip_claim("a", "p1", D(2023, 1, 1), D(2023, 1, 5))])
    counts, frame = _build(con, D(2023, 2, 4))  # discharge + 30 == as_of: window not complete
    assert frame[LABEL].to_list() == [None]
    assert counts["unobservable"] == 1 and counts["labelled"] == 0
    counts, frame = _build(con, D(2023, 2, 5))
    assert frame[LABEL].to_list() == [0]
    # discharged on/after as_of: not an index stay at all
    counts, frame = _build(con, D(2023, 1, 5))
    assert frame.height == 0 and counts["index_stays"] == 0


def test_exclusions_are_counted_by_reason(raw_db):
    con = raw_db(
        eligibility=[member("p1"), member("p2"), member("p3"), member("p4")],
        medical_claim=[
            ip_claim("a", "p1", D(2023, 1, 1), D(2023, 1, 5), disposition="20"),
            ip_claim("b", "p2", D(2023, 1, 1), D(2023, 1, 5), disposition="07"),
            ip_claim("c", "p3", D(2023, 1, 1), D(2023, 1, 5), disposition="02"),  # to a hospital we have no claim for
            ip_claim("d", "p4", D(2023, 1, 1), D(2023, 1, 5), disposition="01"),
        ],
    )
    counts, frame = _build(con, D(2023, 12, 31))
    assert frame["person_id"].to_list() == ["p4"]
    assert (counts["excluded_died"], counts["excluded_ama"], counts["excluded_transfer"]) == (1, 1, 1)
    assert counts["index_stays"] == 1 and counts["stays_discharged"] == 4


def _history_db(raw_db, extra_future: bool):
    """p1 with a rich history before the 2023-06-10 discharge; optionally lots of future data."""
    claims = [
        ip_claim("h1", "p1", D(2023, 3, 1), D(2023, 3, 4), dx="I509"),  # prior stay (CHF)
        office_claim("o1", "p1", D(2023, 3, 8), dx="E1122"),  # follow-up 4 days after, diabetes w/ complication
        ed_claim("e1", "p1", D(2023, 4, 1)),
        ed_claim("e2", "p1", D(2023, 5, 1)),
        ed_claim("e3", "p1", D(2022, 1, 1)),  # outside every window
        ip_claim("x1", "p1", D(2023, 6, 1), D(2023, 6, 10), dx="J441"),  # index stay (COPD)
    ]
    labs = [
        {"lab_result_id": "l1", "person_id": "p1", "result_date": D(2023, 6, 9), "observation_type": "lab",
         "loinc_code": "718-7", "result_value": 10.5},
        {"lab_result_id": "l2", "person_id": "p1", "result_date": D(2023, 5, 1), "observation_type": "lab",
         "loinc_code": "718-7", "result_value": 13.0},
        {"lab_result_id": "l3", "person_id": "p1", "result_date": D(2023, 6, 2), "observation_type": "lab",
         "loinc_code": "2951-2", "result_value": 138.0},
    ]
    cases = [{"case_id": "c0", "person_id": "p1", "program": "care_transitions", "referral_date": D(2023, 5, 1),
              "open_date": D(2023, 5, 2), "close_date": None}]
    encounters = []
    if extra_future:
        claims += [
            ip_claim("f1", "p1", D(2023, 6, 20), D(2023, 6, 25), dx="C787"),
            ed_claim("f2", "p1", D(2023, 6, 11)),
            office_claim("f3", "p1", D(2023, 6, 12), dx="B20"),
            ed_claim("f4", "p1", D(2023, 6, 15), allowed=99999.0),
        ]
        labs += [
            {"lab_result_id": "l9", "person_id": "p1", "result_date": D(2023, 6, 11), "observation_type": "lab",
             "loinc_code": "718-7", "result_value": 7.0},
            {"lab_result_id": "l8", "person_id": "p1", "result_date": D(2023, 6, 12), "observation_type": "lab",
             "loinc_code": "2951-2", "result_value": 125.0},
        ]
        cases = [{"case_id": "c0", "person_id": "p1", "program": "care_transitions", "referral_date": D(2023, 5, 1),
                  "open_date": D(2023, 5, 2), "close_date": D(2023, 6, 11)},
                 {"case_id": "c1", "person_id": "p1", "program": "complex_care", "referral_date": D(2023, 6, 11),
                  "open_date": D(2023, 6, 12)}]
        encounters = [{"encounter_id": "n1", "person_id": "p1", "encounter_type": "office",
                       "encounter_start_date": D(2023, 6, 11), "encounter_end_date": D(2023, 6, 11)}]
    return raw_db(
        eligibility=[member("p1", birth=D(1950, 6, 11), dual="02", county="01001")],
        medical_claim=claims, lab_result=labs, cm_case=cases, encounter=encounters,
        area_sdoh_county=[{"county_fips": "01001", "svi_overall": 0.8}],
    )


def test_features_have_hand_computed_values(raw_db):
    _, frame = _build(_history_db(raw_db, extra_future=False), D(2023, 12, 31))
    row = frame.filter(pl.col("admission_date") == D(2023, 6, 1)).to_dicts()[0]
    expected = {
        "age_at_discharge": 72.0, "female_flag": 1.0, "dual_flag": 1.0, "length_of_stay_days": 9.0,
        "emergency_admit_flag": 1.0, "lace_l": 5.0, "lace_a": 3.0,
        "lace_c": 5.0,  # Charlson 4 (CHF 1 + diabetes w/ complication 2 + COPD 1) -> 5 points
        "lace_e": 2.0, "lace_score": 15.0, "prior_ip_stays_180d": 1.0, "prior_ip_stays_365d": 1.0,
        "ed_visits_180d": 2.0, "days_since_prev_discharge": 89.0, "last_hemoglobin": 10.5,
        "low_hemoglobin_flag": 1.0, "last_sodium": 138.0, "low_sodium_flag": 0.0,
        "allowed_amount_prior_365d": 1000.0 + 100.0 + 500.0 + 500.0,
        "followup_7d_prior_discharge_flag": 1.0, "open_cm_case_flag": 1.0, "svi_overall": 0.8,
    }
    assert {k: row[k] for k in expected} == expected
    assert list(frame.columns) == [*ID_COLUMNS, LABEL, *READMISSION_SUBGROUP_COLUMNS, *MODEL_FEATURES]
    # HOSPITAL: Hb 10.5 during the stay (1), no cancer (0), sodium 138 during the stay (0),
    # no procedure (0), emergency (1), 1 admission in the prior 12 months (0), LOS 9 (2)
    hospital = {k: v for k, v in row.items() if k.startswith("hospital_")}
    assert hospital == {
        "hospital_low_hemoglobin": 1.0, "hospital_oncology_discharge": 0.0, "hospital_low_sodium": 0.0,
        "hospital_procedure": 0.0, "hospital_urgent_admission": 1.0, "hospital_prior_admissions_12m": 0.0,
        "hospital_los_5plus": 2.0, "hospital_score": 4.0, "hospital_claims_only_flag": 0.0,
    }
    assert (row["sex"], row["age_band"], row["race"], row["ethnicity"], row["svi_quartile"]) == (
        "female", "65-74", "black", "unknown", "Q4")


def test_features_ignore_data_after_the_cutoff(raw_db):
    as_of = D(2023, 12, 31)
    _, before = _build(_history_db(raw_db, extra_future=False), as_of)
    _, after = _build(_history_db(raw_db, extra_future=True), as_of)
    index = pl.col("admission_date") == D(2023, 6, 1)
    cols = list(MODEL_FEATURES)
    assert before.filter(index).select(cols).to_dicts() == after.filter(index).select(cols).to_dicts()
    # the future data did change the label, so the test data is not inert
    assert before.filter(index)[LABEL][0] == 0 and after.filter(index)[LABEL][0] == 1


def test_kpi_matches_hand_computed_rate(raw_db):
    cases = [{"case_id": "c1", "person_id": "p1", "program": "care_transitions", "referral_date": D(2022, 12, 1),
              "open_date": D(2022, 12, 2)}]
    claims = [
        # January, in case management (p1): 2 index stays; the first is readmitted (Jan 20 stay)
        ip_claim("a1", "p1", D(2023, 1, 1), D(2023, 1, 5)),
        ip_claim("a2", "p1", D(2023, 1, 20), D(2023, 1, 22)),
        # January, not in CM: p2 readmitted, p3 not, p4 died (excluded), p5 AMA (excluded)
        ip_claim("b1", "p2", D(2023, 1, 2), D(2023, 1, 3)),
        ip_claim("b2", "p2", D(2023, 2, 1), D(2023, 2, 3)),
        ip_claim("c1", "p3", D(2023, 1, 2), D(2023, 1, 6)),
        ip_claim("d1", "p4", D(2023, 1, 2), D(2023, 1, 6), disposition="20"),
        ip_claim("e1", "p5", D(2023, 1, 2), D(2023, 1, 6), disposition="07"),
        # March, not in CM: discharged 2023-03-10, as_of 2023-04-01 -> unobservable
        ip_claim("f1", "p3", D(2023, 3, 5), D(2023, 3, 10)),
    ]
    con = raw_db(medical_claim=claims, cm_case=cases)
    build_inpatient_stays(con)
    totals = build_kpi_readmission_monthly(con, D(2023, 4, 1))
    rows = con.execute(
        "SELECT discharge_month, in_case_management_flag, index_stays, observable_index_stays, readmissions, "
        "readmission_rate, excluded_died, excluded_ama FROM marts.kpi_readmission_monthly"
    ).fetchall()
    assert rows == [
        (D(2023, 1, 1), 0, 2, 2, 1, 0.5, 1, 1),
        (D(2023, 1, 1), 1, 2, 2, 1, 0.5, 0, 0),
        (D(2023, 2, 1), 0, 1, 1, 0, 0.0, 0, 0),
        (D(2023, 3, 1), 0, 1, 0, 0, None, 0, 0),
    ]
    assert totals["observable_index_stays"] == 5 and totals["readmissions"] == 2
    assert totals["overall_rate"] == pytest.approx(0.4)
