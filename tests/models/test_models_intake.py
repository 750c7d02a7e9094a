from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from features.rawschema import create_raw_tables, insert_rows
from models.intake import OUTPUT_COLUMNS, build_intake_list

D = dt.date
AS_OF = D(2024, 3, 15)  # a Friday


def _member(pid, **kw):
    row = {"person_id": pid, "birth_date": D(1950, 1, 1), "gender": "male", "payer_type": "medicare",
           "enrollment_start_date": D(2020, 1, 1), "enrollment_end_date": D(2030, 12, 31), "outreach_opt_out_flag": 0}
    return row | kw


def _case(cid, pid, cm, open_date, close_date=None):
    return {"case_id": cid, "person_id": pid, "case_manager_id": cm, "program": "care_transitions",
            "referral_date": open_date, "open_date": open_date, "close_date": close_date}


@pytest.fixture
def con():
    con = duckdb.connect()
    create_raw_tables(con, ["eligibility", "cm_roster", "cm_case"])
    insert_rows(con, "eligibility", [
        _member("p1"), _member("p2"), _member("p3"), _member("p4"), _member("p5"), _member("p6"), _member("p7"),
        _member("p8"),
        _member("open"), _member("optout", outreach_opt_out_flag=1), _member("dead", death_date=D(2024, 3, 1)),
        _member("gone", enrollment_end_date=D(2024, 2, 29)), _member("closed"),
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
        _case("c1", "open", "cmA", D(2024, 1, 1)),  # open: takes a cmA slot and excludes the member
        _case("c2", "closed", "cmA", D(2023, 1, 1), D(2024, 1, 1)),  # closed: frees nothing, member eligible
        _case("c3", "x", "cmB", D(2024, 3, 20)),  # opens after as_of: not active yet
    ])
    yield con
    con.close()


def _scores(rows):
    return pl.DataFrame(
        [{"person_id": p, "stay_id": s, "discharge_date": d, "score": sc,
          "reason_1": f"r1 {s}", "reason_2": None, "reason_3": None} for p, s, d, sc in rows],
        schema={"person_id": pl.String, "stay_id": pl.String, "discharge_date": pl.Date, "score": pl.Float64,
                "reason_1": pl.String, "reason_2": pl.String, "reason_3": pl.String},
    )


def test_intake_respects_capacity_eligibility_and_balances_managers(con):
    scores = _scores([
        ("open", "s-open", D(2024, 3, 10), 0.99), ("optout", "s-o", D(2024, 3, 10), 0.98),
        ("dead", "s-d", D(2024, 2, 20), 0.97), ("gone", "s-g", D(2024, 2, 20), 0.96),
        ("p1", "s1a", D(2024, 3, 1), 0.90), ("p1", "s1b", D(2024, 3, 12), 0.40),
        ("p2", "s2", D(2024, 3, 14), 0.80), ("p3", "s3", D(2024, 2, 20), 0.70),
        ("closed", "s-c", D(2024, 3, 5), 0.65), ("p4", "s4", D(2024, 3, 8), 0.60),
        ("p5", "s5", D(2024, 3, 8), 0.50), ("p6", "s6", D(2024, 2, 1), 0.95),  # p6 discharged > 30 days ago
        ("p7", "s7", D(2024, 3, 15), 0.94),  # discharged on as_of: not in the window
        ("p8", "s8", D(2024, 3, 9), 0.10),
    ])
    out = build_intake_list(con, scores, AS_OF)
    assert out.columns == list(OUTPUT_COLUMNS)
    # open capacity: cmA 4 - 1 open case = 3, cmB 2, cmC inactive -> 5
    assert out.height == 5
    assert out["person_id"].to_list() == ["p1", "p2", "p3", "closed", "p4"]
    assert out["rank"].to_list() == [1, 2, 3, 4, 5]
    assert not set(out["person_id"]) & {"open", "optout", "dead", "gone", "p6", "p7"}
    p1 = out.row(0, named=True)
    assert (p1["stay_id"], p1["score"], p1["latest_discharge_date"]) == ("s1a", 0.90, D(2024, 3, 12))
    assert p1["days_since_discharge"] == 3 and p1["contact_by_date"] == AS_OF  # deadline passed -> as_of
    p2 = out.row(1, named=True)
    assert p2["contact_by_date"] == D(2024, 3, 18)  # Thu 14th + 2 business days = Mon 18th
    # greedy by most free slots: cmA(3) -> cmA(2) vs cmB(2) tie -> cmA (id) -> cmB(2) -> cmA(1)/cmB(1)...
    assert out["suggested_case_manager_id"].to_list() == ["cmA", "cmA", "cmB", "cmA", "cmB"]
    assert out.group_by("suggested_case_manager_id").len().sort("suggested_case_manager_id")["len"].to_list() == [3, 2]
    assert out["suggested_program"].to_list()[2] == "complex_care"
    assert out["score_percentile"][0] == 100.0 and out["risk_tier"][0] == "very_high"


def test_intake_is_empty_without_open_capacity(con):
    con.execute("UPDATE raw.cm_roster SET active_flag = 0")
    out = build_intake_list(con, _scores([("p1", "s1", D(2024, 3, 10), 0.9)]), AS_OF)
    assert out.height == 0 and out.columns == list(OUTPUT_COLUMNS)
