from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from features.kpi import record_history
from features.rawschema import create_raw_tables, insert_rows
from models.intake import (
    NO_BENEFIT,
    NO_FURTHER_REASON,
    OUTPUT_COLUMNS,
    RANK_BASES,
    IntakeOptions,
    build_intake_list,
    open_capacity,
)

D = dt.date
AS_OF = D(2024, 3, 15)  # a Friday


def _member(pid, **kw):
    row = {"person_id": pid, "birth_date": D(1950, 1, 1), "gender": "male", "payer_type": "medicare",
           "enrollment_start_date": D(2020, 1, 1), "enrollment_end_date": D(2030, 12, 31), "outreach_opt_out_flag": 0}
    return row | kw


def _case(cid, pid, cm, open_date, close_date=None, **kw):
    return {"case_id": cid, "person_id": pid, "case_manager_id": cm, "program": "care_transitions",
            "referral_date": open_date, "open_date": open_date, "close_date": close_date} | kw


@pytest.fixture
def con():
    con = duckdb.connect()
    create_raw_tables(con, ["eligibility", "cm_roster", "cm_case", "encounter"])
    insert_rows(con, "eligibility", [
        _member("p1"), _member("p2"), _member("p3"), _member("p4"), _member("p5"), _member("p6"), _member("p7"),
        _member("p8"),
        _member("open"), _member("optout", outreach_opt_out_flag=1), _member("dead", death_date=D(2024, 3, 1)),
        _member("gone", enrollment_end_date=D(2024, 2, 29)), _member("closed"), _member("declined"),
        _member("pending"),
    ])
    insert_rows(con, "cm_roster", [
        {"case_manager_id": "cmA", "team": "east", "program": "care_transitions", "setting": "acute",
         "capacity": 4, "active_flag": 1},
        {"case_manager_id": "cmB", "team": "east", "program": "complex_care", "setting": "community",
         "capacity": 2, "active_flag": 1},
        {"case_manager_id": "cmC", "team": "east", "program": "complex_care", "setting": "community",
         "capacity": 50, "active_flag": 0},
    ])
    insert_rows(con, "cm_case", [
        _case("c1", "open", "cmA", D(2024, 1, 1), acuity_level=3),  # open: takes a cmA slot, excludes the member
        _case("c2", "closed", "cmA", D(2023, 1, 1), D(2024, 1, 1)),  # closed: frees nothing, member eligible
        _case("c3", "x", "cmB", D(2024, 3, 20)),  # opens after as_of: not active yet
        _case("c4", "declined", "cmB", D(2024, 2, 1), D(2024, 2, 3), close_reason="declined"),  # declined recently
        {"case_id": "c5", "person_id": "pending", "case_manager_id": "cmB", "program": "complex_care",
         "referral_date": D(2024, 3, 10)},  # referred, not yet opened
    ])
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE TABLE core.inpatient_stay (stay_id VARCHAR, person_id VARCHAR, admission_date DATE, "
                "discharge_date DATE, admit_type_code VARCHAR, discharge_disposition_code VARCHAR, "
                "principal_icd10cm_code VARCHAR, planned_flag INTEGER)")
    yield con
    con.close()


def _scores(rows, raw=None):
    frame = pl.DataFrame(
        [{"person_id": p, "stay_id": s, "discharge_date": d, "score": sc,
          "reason_1": f"r1 {s}", "reason_2": None, "reason_3": None} for p, s, d, sc in rows],
        schema={"person_id": pl.String, "stay_id": pl.String, "discharge_date": pl.Date, "score": pl.Float64,
                "reason_1": pl.String, "reason_2": pl.String, "reason_3": pl.String},
    )
    return frame.with_columns(pl.Series("score_raw", raw, dtype=pl.Float64)) if raw else frame


def _stays(con, rows):
    con.executemany("INSERT INTO core.inpatient_stay VALUES (?, ?, ?, ?, '1', '01', 'I5022', 0)",
                    [(s, p, d - dt.timedelta(days=3), d) for p, s, d, _ in rows])


def test_intake_respects_capacity_eligibility_and_balances_managers(con):
    rows = [
        ("open", "s-open", D(2024, 3, 10), 0.99), ("optout", "s-o", D(2024, 3, 10), 0.98),
        ("dead", "s-d", D(2024, 2, 20), 0.97), ("gone", "s-g", D(2024, 2, 20), 0.96),
        ("declined", "s-dec", D(2024, 3, 1), 0.95), ("pending", "s-pen", D(2024, 3, 1), 0.95),
        ("p1", "s1a", D(2024, 3, 1), 0.90), ("p1", "s1b", D(2024, 3, 12), 0.40),
        ("p2", "s2", D(2024, 3, 14), 0.80), ("p3", "s3", D(2024, 2, 20), 0.70),
        ("closed", "s-c", D(2024, 3, 5), 0.65), ("p4", "s4", D(2024, 3, 8), 0.60),
        ("p5", "s5", D(2024, 3, 8), 0.50), ("p6", "s6", D(2024, 2, 1), 0.95),  # p6 discharged > 30 days ago
        ("p7", "s7", D(2024, 3, 15), 0.94),  # discharged on as_of: not in the window
        ("p8", "s8", D(2024, 3, 9), 0.10),
    ]
    _stays(con, rows)
    out = build_intake_list(con, _scores(rows), AS_OF)
    assert out.columns == list(OUTPUT_COLUMNS)
    # open capacity: cmA 4 - 1 open case = 3, cmB 2, cmC inactive -> 5
    assert out.height == 5
    assert out["person_id"].to_list() == ["p1", "p2", "p3", "closed", "p4"]
    assert out["rank"].to_list() == [1, 2, 3, 4, 5]
    assert not set(out["person_id"]) & {"open", "optout", "dead", "gone", "p6", "p7", "declined", "pending"}
    p1 = out.row(0, named=True)
    assert (p1["score"], p1["latest_discharge_date"]) == (0.90, D(2024, 3, 12))
    assert p1["days_since_discharge"] == 3 and p1["contact_by_date"] == AS_OF  # deadline passed -> as_of
    assert p1["reason_1"] == "r1 s1a" and p1["reason_2"] == p1["reason_3"] == NO_FURTHER_REASON
    p2 = out.row(1, named=True)
    assert p2["contact_by_date"] == D(2024, 3, 18)  # Thu 14th + 2 business days = Mon 18th
    # recent discharges go to care transitions first, spread by free slots: cmA has 3, cmB (complex care) 2
    assert out["suggested_case_manager_id"].to_list() == ["cmA", "cmA", "cmA", "cmB", "cmB"]
    assert out["suggested_program"].to_list()[3] == "complex_care"
    assert out["score_percentile"][0] == 100.0 and out["risk_tier"][0] == "very_high"
    # without a benefit model the benefit figures are empty and the first benefit reason says so
    no_benefit = ["benefit", "benefit_ci_low", "benefit_ci_high", "benefit_reason_2"]
    assert out.drop("open_care_gaps", *no_benefit).null_count().sum_horizontal()[0] == 0
    assert set(out["benefit_reason_1"]) == {NO_BENEFIT} and set(out["rank_basis"]) == {RANK_BASES["risk"]}


def test_intake_is_empty_without_open_capacity(con):
    con.execute("UPDATE raw.cm_roster SET active_flag = 0")
    out = build_intake_list(con, _scores([("p1", "s1", D(2024, 3, 10), 0.9)]), AS_OF)
    assert out.height == 0 and out.columns == list(OUTPUT_COLUMNS)


def test_acuity_weighting_and_program_caps_shrink_open_capacity(con):
    plain = open_capacity(con, AS_OF).sort("case_manager_id")
    assert plain["free_slots"].to_list() == [3, 2]
    weighted = open_capacity(con, AS_OF, IntakeOptions(acuity_weighted=True)).sort("case_manager_id")
    assert weighted["free_slots"].to_list() == [1, 2]  # the open case has acuity 3
    capped = open_capacity(con, AS_OF, IntakeOptions(program_caps={"care_transitions": 2})).sort("case_manager_id")
    assert capped["free_slots"].to_list() == [1, 2]


def test_ties_on_the_calibrated_score_are_ranked_by_the_raw_score(con):
    rows = [("p1", "s1", D(2024, 3, 10), 0.5), ("p2", "s2", D(2024, 3, 10), 0.5), ("p3", "s3", D(2024, 3, 10), 0.5)]
    out = build_intake_list(con, _scores(rows, raw=[0.1, 0.3, 0.2]), AS_OF)
    assert out["person_id"].to_list() == ["p2", "p3", "p1"]


def test_rising_risk_care_gaps_and_region(con):
    con.execute("UPDATE raw.eligibility SET state = 'MA'")
    con.execute("UPDATE raw.eligibility SET state = 'NY' WHERE person_id = 'p2'")
    con.execute("UPDATE raw.cm_roster SET region = 'NY' WHERE case_manager_id = 'cmB'")
    con.execute("UPDATE raw.cm_roster SET region = 'MA' WHERE case_manager_id = 'cmA'")
    rows = [("p1", "s1", D(2024, 3, 1), 0.6), ("p2", "s2", D(2024, 3, 1), 0.5), ("p3", "s3", D(2024, 3, 12), 0.4)]
    _stays(con, rows)
    insert_rows(con, "encounter", [
        {"encounter_id": "e1", "person_id": "p2", "encounter_type": "office", "encounter_start_date": D(2024, 3, 5),
         "encounter_end_date": D(2024, 3, 5), "pcp_visit_flag": 1},
    ])
    record_history(con, "readmission", D(2024, 2, 15), pl.DataFrame({"person_id": [], "rank": [], "score": []},
                   schema={"person_id": pl.String, "rank": pl.Int64, "score": pl.Float64}),
                   pl.DataFrame({"person_id": ["p1", "p2"], "score": [0.45, 0.48]}))
    out = build_intake_list(con, _scores(rows), AS_OF).sort("person_id")
    assert out["rising_risk_flag"].to_list() == [1, 0, 0]  # p1 +0.15, p2 +0.02, p3 never scored
    assert out["open_care_gaps"].to_list() == [
        "no follow-up visit within 7 days of discharge; no PCP visit in 12 months",
        None,  # seen by the PCP 4 days after discharge
        "no PCP visit in 12 months",  # discharged 3 days ago: the follow-up window is still open
    ]
    # p2 lives in NY: matched to the NY case manager although care transitions (MA) comes first
    assert out["suggested_case_manager_id"].to_list() == ["cmA", "cmB", "cmA"]


def test_high_need_score_lists_members_without_a_recent_discharge(con):
    scores = pl.DataFrame({"person_id": ["p1", "p2", "open"], "as_of_date": [AS_OF] * 3, "score": [0.2, 0.7, 0.9],
                           "score_raw": [0.2, 0.7, 0.9], "reason_1": ["a", "b", "c"], "reason_2": ["d", "e", "f"],
                           "reason_3": ["g", "h", "i"]})
    out = build_intake_list(con, scores, AS_OF, score_name="high_need")
    assert out["person_id"].to_list() == ["p2", "p1"]
    assert out["suggested_program"].to_list() == ["complex_care", "complex_care"]  # high need -> complex care first
    assert out["latest_discharge_date"].null_count() == 2
    assert out["contact_by_date"].to_list() == [D(2024, 3, 19)] * 2  # as_of + 2 business days
    with pytest.raises(ValueError, match="intake score"):
        build_intake_list(con, scores, AS_OF, score_name="lace")


def _benefit(values: dict[str, tuple[float, float]]) -> pl.DataFrame:
    """ml.benefit_score rows: stay -> (benefit, relative reduction), readmit_30d."""
    return pl.DataFrame([
        {"stay_id": s, "person_id": s, "outcome": "readmit_30d", "benefit": b, "benefit_ci_low": b - 0.05,
         "benefit_ci_high": b + 0.05, "relative_reduction": r, "benefit_reason_1": f"larger benefit expected: {s}",
         "benefit_reason_2": None} for s, (b, r) in values.items()])


@pytest.mark.parametrize(("rank_by", "expected"), [
    ("risk", ["p2", "p3", "p4", "p5", "p8"]),  # 0.80, 0.70, 0.60, 0.50, 0.10
    ("benefit", ["p8", "p5", "p3", "p2", "p4"]),  # benefit 0.09, 0.08, 0.05, 0.02, 0.01
    ("blend", ["p3", "p5", "p8", "p2", "p4"]),  # 0.7x0.5=0.35, 0.5x0.4=0.20, 0.1x0.9=0.09, 0.8x0.1=0.08, 0.6x0.1=0.06
])
def test_the_list_is_ordered_by_the_chosen_ranking_and_always_carries_benefit_reasons(con, rank_by, expected):
    rows = [("p2", "s2", D(2024, 3, 14), 0.80), ("p3", "s3", D(2024, 2, 20), 0.70), ("p4", "s4", D(2024, 3, 8), 0.60),
            ("p5", "s5", D(2024, 3, 8), 0.50), ("p8", "s8", D(2024, 3, 9), 0.10)]
    _stays(con, rows)
    benefit = _benefit({"s2": (0.02, 0.1), "s3": (0.05, 0.5), "s4": (0.01, 0.1), "s5": (0.08, 0.4), "s8": (0.09, 0.9)})
    out = build_intake_list(con, _scores(rows), AS_OF, options=IntakeOptions(rank_by=rank_by), benefit=benefit)
    assert out["person_id"].to_list() == expected
    assert out["benefit_reason_1"].to_list() == [f"larger benefit expected: s{p[1:]}" for p in expected]
    assert set(out["rank_basis"]) == {RANK_BASES[rank_by]}
    assert out["benefit"].null_count() == 0


def test_ranking_the_high_need_list_by_benefit_is_refused_in_one_sentence(con):
    scores = pl.DataFrame({"person_id": ["p1"], "score": [0.5], "reason_1": ["r"], "reason_2": [None],
                           "reason_3": [None]}, schema_overrides={"reason_2": pl.String, "reason_3": pl.String})
    with pytest.raises(ValueError, match="needs the readmission list"):
        build_intake_list(con, scores, AS_OF, score_name="high_need", options=IntakeOptions(rank_by="benefit"))
