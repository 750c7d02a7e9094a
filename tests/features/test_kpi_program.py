"""Each program KPI against a value computed by hand on a small fixture (as of 2024-06-01)."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import polars as pl
import pytest

from features.kpi import (
    KPI_DEFINITIONS, KPI_TABLES, CaseloadGuideline, build_program_kpis, population_stability_index, record_history,
)
from features.rawschema import create_raw_tables, insert_rows

D = dt.date
AS_OF = D(2024, 6, 1)


def _member(pid, **kw):
    return {"person_id": pid, "birth_date": D(1950, 1, 1), "gender": "female", "payer_type": "medicare",
            "enrollment_start_date": D(2020, 1, 1), "enrollment_end_date": D(2030, 12, 31),
            "outreach_opt_out_flag": 0} | kw


def _case(cid, pid, cm, program, referral, **kw):
    return {"case_id": cid, "person_id": pid, "case_manager_id": cm, "program": program,
            "referral_date": referral} | kw


def _stay(sid, pid, adm, dis, admit="1", disp="01"):
    return (sid, pid, adm, dis, admit, disp)


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    create_raw_tables(con, ["eligibility", "cm_roster", "cm_case", "cm_contact", "cm_goal", "encounter",
                            "medical_claim", "pharmacy_claim"])
    insert_rows(con, "eligibility", [_member(p) for p in ("p1", "p2", "p3", "p5", "p6")]
                + [_member("p4", outreach_opt_out_flag=1)])
    insert_rows(con, "cm_roster", [
        {"case_manager_id": "cmA", "team": "CC-1", "program": "complex_care", "setting": "community",
         "capacity": 40, "active_flag": 1},
        {"case_manager_id": "cmB", "team": "CT-1", "program": "care_transitions", "setting": "acute",
         "capacity": 20, "active_flag": 1},
    ])
    insert_rows(con, "cm_case", [
        _case("c1", "p1", "cmA", "complex_care", D(2024, 1, 2), first_contact_date=D(2024, 1, 5),
              open_date=D(2024, 1, 6), close_date=D(2024, 3, 31), close_reason="goals_met", acuity_level=3,
              assessment_date=D(2024, 1, 10), care_plan_date=D(2024, 1, 15), services_referred_count=3,
              services_received_count=2, satisfaction_score=5),
        _case("c2", "p2", "cmA", "complex_care", D(2024, 1, 10), first_contact_date=D(2024, 1, 20),
              open_date=D(2024, 1, 21), acuity_level=2, assessment_date=D(2024, 1, 25),
              services_referred_count=2, services_received_count=2),
        _case("c3", "p3", "cmB", "care_transitions", D(2024, 1, 15), close_date=D(2024, 2, 20),
              close_reason="unable_to_reach"),
        _case("c4", "p5", "cmB", "care_transitions", D(2024, 5, 25)),  # pending referral
        _case("c5", "p6", "cmA", "complex_care", D(2024, 4, 28), first_contact_date=D(2024, 4, 30),
              open_date=D(2024, 5, 1), acuity_level=1, assessment_date=D(2024, 5, 3), care_plan_date=D(2024, 5, 5)),
        _case("c6", "p5", "cmB", "care_transitions", D(2024, 5, 24), first_contact_date=D(2024, 5, 25),
              open_date=D(2024, 5, 25)),  # opened inside the 14-day documentation grace
    ])
    insert_rows(con, "cm_goal", [
        {"goal_id": "g1", "case_id": "c1", "domain": "medication", "set_date": D(2024, 1, 15), "status": "achieved",
         "achieved_date": D(2024, 3, 1)},
        {"goal_id": "g2", "case_id": "c1", "domain": "housing", "set_date": D(2024, 1, 15), "status": "abandoned"},
        {"goal_id": "g3", "case_id": "c5", "domain": "food", "set_date": D(2024, 5, 6), "status": "open"},
    ])
    contact = {"contact_mode": "phone", "outcome": "reached"}
    insert_rows(con, "cm_contact", [
        {"contact_id": "t1", "case_id": "c1", "person_id": "p1", "contact_date": D(2024, 2, 1),
         "scheduled_date": D(2024, 2, 1), "note_flag": 1} | contact,
        {"contact_id": "t2", "case_id": "c1", "person_id": "p1", "contact_date": D(2024, 2, 12),
         "scheduled_date": D(2024, 2, 10), "note_flag": 1} | contact,
        {"contact_id": "t3", "case_id": "c2", "person_id": "p2", "contact_date": D(2024, 2, 14),
         "scheduled_date": D(2024, 2, 15), "note_flag": 1} | contact,
        {"contact_id": "t4", "case_id": "c2", "person_id": "p2", "contact_date": D(2024, 4, 1), "note_flag": 1} | contact,
        {"contact_id": "t5", "case_id": "c5", "person_id": "p6", "contact_date": D(2024, 5, 20), "note_flag": 1} | contact,
    ])
    enc = {"encounter_end_date": None}
    insert_rows(con, "encounter", [
        {"encounter_id": "e1", "person_id": "p1", "encounter_type": "office", "encounter_start_date": D(2024, 2, 8)},
        {"encounter_id": "e2", "person_id": "p3", "encounter_type": "telehealth", "encounter_start_date": D(2024, 2, 15)},
        {"encounter_id": "e3", "person_id": "p2", "encounter_type": "emergency", "encounter_start_date": D(2024, 2, 3)},
    ])
    insert_rows(con, "medical_claim", [
        {"claim_id": "m1", "claim_line_number": 1, "person_id": "p1", "claim_start_date": D(2024, 2, 1),
         "paid_amount": 1000.0},
        {"claim_id": "m2", "claim_line_number": 1, "person_id": "p3", "claim_start_date": D(2024, 2, 10),
         "paid_amount": 400.0},
    ])
    insert_rows(con, "pharmacy_claim", [
        {"claim_id": "r1", "claim_line_number": 1, "person_id": "p1", "dispensing_date": D(2024, 2, 10),
         "paid_amount": 50.0},
    ])
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE TABLE core.inpatient_stay (stay_id VARCHAR, person_id VARCHAR, admission_date DATE, "
                "discharge_date DATE, admit_type_code VARCHAR, discharge_disposition_code VARCHAR, "
                "principal_icd10cm_code VARCHAR, planned_flag INTEGER)")
    con.executemany("INSERT INTO core.inpatient_stay VALUES (?, ?, ?, ?, ?, ?, 'I5022', 0)", [
        _stay("s1", "p1", D(2024, 2, 1), D(2024, 2, 5)),    # in CM (c1), follow-up on 8 Feb, readmitted (s2)
        _stay("s2", "p1", D(2024, 2, 20), D(2024, 2, 25)),  # in CM, no follow-up, not readmitted
        _stay("s3", "p3", D(2024, 2, 5), D(2024, 2, 10)),   # comparable: telehealth follow-up, not readmitted
        _stay("s4", "p4", D(2024, 2, 8), D(2024, 2, 12)),   # opted out: not comparable
        _stay("s5", "p3", D(2024, 2, 26), D(2024, 2, 28), disp="07"),  # AMA: never an index stay
        _stay("s6", "p3", D(2024, 4, 10), D(2024, 4, 12)),  # an event after the 1 April list
    ])
    record_history(con, "readmission", D(2024, 4, 1),
                   pl.DataFrame({"person_id": ["p1", "p3"], "rank": [1, 2], "score": [0.4, 0.2]}),
                   pl.DataFrame({"person_id": ["p1", "p3", "p2"], "score": [0.4, 0.2, 0.1]}))
    record_history(con, "readmission", D(2024, 5, 15),  # its 30 days have not closed
                   pl.DataFrame({"person_id": ["p2"], "rank": [1], "score": [0.3]}),
                   pl.DataFrame({"person_id": ["p1", "p3", "p2"], "score": [0.4, 0.2, 0.1]}))
    expected = pl.DataFrame({"stay_id": ["s1", "s2", "s3"], "expected_p": [0.3, 0.2, 0.25]})
    counts = build_program_kpis(con, AS_OF, expected=expected,
                                guideline=CaseloadGuideline(acute_low=1, acute_high=1, community_low=1, community_high=1))
    assert set(counts) == set(KPI_TABLES)
    yield con
    con.close()


def _one(con, sql, params=None):
    rows = con.execute(sql, params or {}).pl()
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_readmission_followup_and_oe_for_members_in_and_out_of_case_management(con):
    cm = _one(con, "SELECT * FROM marts.kpi_transition_monthly WHERE discharge_month = '2024-02-01' "
                   "AND cohort = 'in_case_management' AND level = 'all'")
    assert (cm["index_stays"], cm["observable_index_stays"], cm["readmissions"]) == (2, 2, 1)
    assert cm["readmission_rate"] == 0.5
    assert (cm["followup_eligible_stays"], cm["followup_7d_stays"], cm["followup_7d_rate"]) == (2, 1, 0.5)
    assert cm["expected_readmissions"] == pytest.approx(0.5) and cm["oe_ratio"] == pytest.approx(2.0)
    other = _one(con, "SELECT * FROM marts.kpi_transition_monthly WHERE discharge_month = '2024-02-01' "
                      "AND cohort = 'comparable_not_in_cm'")
    # s4 (opted out) and s5 (AMA) are excluded; s5 is an unplanned admission 16 days after s3
    assert (other["index_stays"], other["readmissions"], other["readmission_rate"]) == (1, 1, 1.0)
    assert other["followup_7d_rate"] == 1.0 and other["oe_ratio"] == pytest.approx(1 / 0.25)
    by_cm = _one(con, "SELECT * FROM marts.kpi_transition_monthly WHERE discharge_month = '2024-02-01' "
                      "AND level = 'case_manager'")
    assert (by_cm["program"], by_cm["team"], by_cm["case_manager_id"], by_cm["index_stays"]) == (
        "complex_care", "CC-1", "cmA", 2)


def test_referral_to_first_contact_engagement_and_referral_completion(con):
    jan = _one(con, "SELECT * FROM marts.kpi_referral_monthly WHERE referral_month = '2024-01-01' AND level = 'all'")
    assert (jan["referrals"], jan["contacted"], jan["not_reached"]) == (3, 2, 1)
    assert jan["days_to_first_contact_median"] == 6.5  # 3 and 10 days
    assert jan["days_to_first_contact_p90"] == pytest.approx(9.3)
    assert (jan["engaged"], jan["resolved_referrals"]) == (2, 3)
    assert jan["engagement_rate"] == pytest.approx(2 / 3)
    assert (jan["services_referred"], jan["services_received"], jan["referral_completion_rate"]) == (5, 4, 0.8)
    may = _one(con, "SELECT * FROM marts.kpi_referral_monthly WHERE referral_month = '2024-05-01' AND level = 'all'")
    # c4 is still pending: out of the engagement denominator; c6 opened
    assert (may["referrals"], may["resolved_referrals"], may["engaged"], may["engagement_rate"]) == (2, 1, 1, 1.0)
    cmb = _one(con, "SELECT * FROM marts.kpi_referral_monthly WHERE referral_month = '2024-01-01' "
                    "AND level = 'case_manager' AND case_manager_id = 'cmB'")
    assert (cmb["referrals"], cmb["engagement_rate"]) == (1, 0.0)


def test_case_length_resolution_goals_and_satisfaction(con):
    mar = _one(con, "SELECT * FROM marts.kpi_case_closure_monthly WHERE close_month = '2024-03-01' AND level = 'all'")
    assert mar["closed_cases"] == 1
    assert mar["case_length_days_median"] == 85  # 6 Jan -> 31 Mar
    assert mar["resolution_days_median"] == 89  # referral 2 Jan -> 31 Mar, goals met
    assert (mar["goals_set"], mar["goals_achieved"], mar["goals_achieved_rate"]) == (2, 1, 0.5)
    assert (mar["satisfaction_responses"], mar["satisfaction_mean"], mar["satisfied_share"]) == (1, 5.0, 1.0)
    feb = _one(con, "SELECT * FROM marts.kpi_case_closure_monthly WHERE close_month = '2024-02-01' AND level = 'all'")
    assert (feb["closed_cases"], feb["closed_engaged_cases"], feb["case_length_days_median"]) == (1, 0, None)
    assert feb["satisfaction_mean"] is None and feb["goals_achieved_rate"] is None


def test_caseload_against_the_configured_guideline(con):
    may = _one(con, "SELECT * FROM marts.kpi_caseload_monthly WHERE snapshot_date = '2024-05-31' AND level = 'all'")
    # cmA: c2 + c5 (acuity 2 + 1), cmB: c6 (no acuity -> 1)
    assert (may["case_managers"], may["active_cases"], may["acuity_weighted_cases"]) == (2, 3, 4)
    assert may["caseload_per_manager"] == 1.5
    assert (may["within_guideline_managers"], may["above_guideline_managers"]) == (1, 1)
    cma = _one(con, "SELECT * FROM marts.kpi_caseload_monthly WHERE snapshot_date = '2024-05-31' "
                    "AND case_manager_id = 'cmA'")
    assert (cma["active_cases"], cma["capacity"]) == (2, 40)


def test_followup_compliance_and_documentation_completeness(con):
    feb = _one(con, "SELECT * FROM marts.kpi_contact_compliance_monthly WHERE scheduled_month = '2024-02-01' "
                    "AND level = 'all'")
    assert (feb["scheduled_contacts"], feb["on_time_contacts"]) == (3, 2)
    assert feb["followup_compliance_rate"] == pytest.approx(2 / 3)
    doc = _one(con, "SELECT * FROM marts.kpi_documentation WHERE level = 'all'")
    # c2 (no care plan, last note 1 April) and c5 (complete); c6 is inside the 14-day grace
    assert (doc["open_cases"], doc["with_assessment"], doc["with_care_plan"], doc["with_goal"],
            doc["with_recent_note"], doc["complete_cases"]) == (2, 2, 1, 1, 1, 1)
    assert doc["documentation_completeness_rate"] == 0.5


def test_utilisation_per_thousand_member_months_and_pmpm(con):
    rows = con.execute("SELECT * FROM marts.kpi_utilization_monthly WHERE month = '2024-02-01' AND level = 'all' "
                       "ORDER BY cohort").pl()
    cm, other = rows.row(0, named=True), rows.row(1, named=True)
    assert cm["cohort"] == "in_case_management"
    assert (cm["member_months"], cm["ed_visits"], cm["admissions"]) == (2, 1, 2)
    assert (cm["ed_visits_per_1000_mm"], cm["admissions_per_1000_mm"], cm["pmpm_paid_amount"]) == (500.0, 1000.0, 525.0)
    assert (other["member_months"], other["admissions"], other["admissions_per_1000_mm"]) == (4, 3, 750.0)
    assert other["pmpm_paid_amount"] == 100.0


def test_last_lists_performance_only_counts_closed_windows(con):
    perf = _one(con, "SELECT * FROM marts.kpi_list_performance")
    assert perf["list_as_of_date"] == D(2024, 4, 1)
    assert (perf["listed"], perf["listed_with_event"], perf["event_rate"]) == (2, 1, 0.5)
    assert perf["expected_events"] == pytest.approx(0.6)


def test_psi_by_hand_and_between_scoring_runs(con):
    assert population_stability_index(np.arange(1, 11), np.arange(1, 11)) == pytest.approx(0.0)
    # ten deciles with 10% each against everything in the top decile
    by_hand = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert population_stability_index(np.arange(1, 11), np.full(10, 10)) == pytest.approx(by_hand)
    drift = _one(con, "SELECT * FROM marts.kpi_score_drift")
    assert (drift["previous_as_of_date"], drift["current_as_of_date"]) == (D(2024, 4, 1), D(2024, 5, 15))
    assert drift["psi"] == pytest.approx(0.0) and drift["drift"] == "stable"


def test_every_kpi_has_a_written_definition(con):
    defs = con.execute("SELECT * FROM marts.kpi_definition").pl()
    assert defs.height == len(KPI_DEFINITIONS) >= 17
    for column in ("numerator", "denominator", "exclusions"):
        assert defs[column].str.len_chars().min() > 0
    assert set(defs["table"]) <= set(KPI_TABLES)


def test_list_oe_has_an_exact_interval_and_a_flag_outside_the_band(con):
    from features.kpi import list_calibration

    perf = _one(con, "SELECT * FROM marts.kpi_list_performance")
    if perf["score_name"] == "readmission":
        assert perf["oe_ratio"] == pytest.approx(1 / 0.6)
        assert perf["oe_flag"] == "outside 0.8-1.25"
    frame = pl.DataFrame({"score_name": ["readmission", "readmission", "high_need"], "listed_with_event": [10, 30, 5],
                          "expected_events": [10.0, 20.0, 4.0]})
    out = list_calibration(frame)
    assert out["oe_ci_low"][0] == pytest.approx(0.4795389, rel=1e-6) and out["oe_flag"][0] == "within 0.8-1.25"
    assert out["oe_ratio"][1] == pytest.approx(1.5) and out["oe_flag"][1] == "outside 0.8-1.25"
    assert out["oe_ratio"][2] is None  # a 12-month probability is not a 30-day expected count
