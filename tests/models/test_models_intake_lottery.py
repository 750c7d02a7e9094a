"""The evaluation lottery at the capacity cut, its log, and the power arithmetic behind the report's
power line."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from features.rawschema import create_raw_tables, insert_rows
from models.intake import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENT_TABLE,
    IntakeOptions,
    LotteryBand,
    build_intake,
    draw_lottery,
    lottery_band,
    lottery_rounds,
    lottery_sample_size,
    record_assignment,
)

D = dt.date
AS_OF = D(2024, 3, 15)


def _ranked(n: int) -> pl.DataFrame:
    return pl.DataFrame({"rank": list(range(1, n + 1)), "person_id": [f"m{i:03d}" for i in range(1, n + 1)]},
                        schema={"rank": pl.Int64, "person_id": pl.String})


def test_band_is_symmetric_around_the_cut_and_sized_against_capacity():
    band = lottery_band(capacity=40, eligible=200, fraction=0.25)
    assert band == LotteryBand(capacity=40, above=5, below=5)
    assert (band.first_rank, band.last_rank, band.size) == (36, 45, 10)
    odd = lottery_band(capacity=44, eligible=200, fraction=0.25)  # round(11.0) = 11
    assert (odd.above, odd.below) == (5, 6)
    # few members past the cut: both sides shrink to what is there, still symmetric
    short = lottery_band(capacity=40, eligible=43, fraction=0.5)
    assert (short.above, short.below) == (3, 3)


@pytest.mark.parametrize(("capacity", "eligible", "fraction"), [(40, 40, 0.5), (40, 30, 0.5), (40, 200, 0.0),
                                                                  (40, 200, 0.02), (0, 10, 1.0)])
def test_no_band_when_nothing_can_be_randomised(capacity, eligible, fraction):
    assert lottery_band(capacity, eligible, fraction) is None


def test_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        lottery_band(40, 200, 1.5)


@pytest.mark.parametrize("band_size_fraction", [0.25, 0.275])  # bands of 10 and 11
def test_draw_offers_half_the_band_keeps_the_top_and_fills_exactly_capacity(band_size_fraction):
    ranked = _ranked(200)
    band = lottery_band(40, ranked.height, band_size_fraction)
    drawn = draw_lottery(ranked, band, seed=11)
    in_band = drawn.filter(pl.col("lottery_band_flag") == 1)
    assert in_band["rank"].to_list() == list(range(band.first_rank, band.last_rank + 1))
    offered_in_band = int(in_band["offered_flag"].sum())
    assert offered_in_band == band.above and abs(band.size - 2 * offered_in_band) <= 1
    assert int(drawn["offered_flag"].sum()) == 40  # the list still fills every open slot
    above = drawn.filter(pl.col("rank") < band.first_rank)
    assert above["offered_flag"].to_list() == [1] * above.height  # above the band: offered as before
    assert drawn.filter(pl.col("rank") > band.last_rank)["offered_flag"].sum() == 0


def test_draw_is_deterministic_per_seed_and_differs_between_seeds():
    ranked, band = _ranked(200), lottery_band(40, 200, 0.5)
    first = draw_lottery(ranked, band, seed=3)["offered_flag"].to_list()
    assert draw_lottery(ranked, band, seed=3)["offered_flag"].to_list() == first
    assert draw_lottery(ranked.sample(fraction=1.0, shuffle=True, seed=1), band, seed=3).sort("rank")[
        "offered_flag"].to_list() == first  # row order does not matter, only rank
    others = {tuple(draw_lottery(ranked, band, seed=s)["offered_flag"].to_list()) for s in range(4, 9)}
    assert len(others - {tuple(first)}) >= 4


def test_offered_share_is_a_half_over_many_draws():
    ranked, band = _ranked(200), lottery_band(40, 200, 0.5)
    # each band position is offered in about half of the draws: no position is favoured
    offered = pl.concat([draw_lottery(ranked, band, seed=s).filter(pl.col("lottery_band_flag") == 1)
                         .select("rank", "offered_flag") for s in range(400)])
    share = offered.group_by("rank").agg(pl.col("offered_flag").mean())["offered_flag"]
    assert share.min() > 0.38 and share.max() < 0.62


# -- through the intake list: the band's not-offered half is never listed ---------------------------

def _member(pid: str) -> dict:
    return {"person_id": pid, "birth_date": D(1950, 1, 1), "gender": "female", "payer_type": "medicare",
            "enrollment_start_date": D(2020, 1, 1), "enrollment_end_date": D(2030, 12, 31), "outreach_opt_out_flag": 0}


@pytest.fixture
def con():
    con = duckdb.connect()
    create_raw_tables(con, ["eligibility", "cm_roster", "cm_case", "encounter"])
    people = [f"p{i:02d}" for i in range(60)]
    insert_rows(con, "eligibility", [_member(p) for p in people])
    insert_rows(con, "cm_roster", [
        {"case_manager_id": "cmA", "team": "t", "program": "care_transitions", "setting": "acute", "capacity": 12,
         "active_flag": 1},
        {"case_manager_id": "cmB", "team": "t", "program": "complex_care", "setting": "community", "capacity": 8,
         "active_flag": 1},
    ])
    con.execute("CREATE SCHEMA core")
    con.execute("CREATE TABLE core.inpatient_stay (stay_id VARCHAR, person_id VARCHAR, admission_date DATE, "
                "discharge_date DATE, admit_type_code VARCHAR, discharge_disposition_code VARCHAR, "
                "principal_icd10cm_code VARCHAR, planned_flag INTEGER)")
    yield con
    con.close()


def _scores(n: int = 60, discharged: dt.date = D(2024, 3, 10)) -> pl.DataFrame:
    return pl.DataFrame({
        "person_id": [f"p{i:02d}" for i in range(n)], "stay_id": [f"s{i:02d}" for i in range(n)],
        "discharge_date": [discharged] * n, "score": [0.9 - i * 0.01 for i in range(n)],
        "reason_1": ["r"] * n, "reason_2": [None] * n, "reason_3": [None] * n,
    }, schema_overrides={"reason_2": pl.String, "reason_3": pl.String})


def test_intake_with_lottery_lists_the_top_and_the_offered_half_only(con):
    plain = build_intake(con, _scores(), AS_OF)
    lottery = build_intake(con, _scores(), AS_OF, options=IntakeOptions(evaluation_lottery=0.5, lottery_seed=5))
    assert plain.assignment.height == 0 and plain.intake.height == 20
    log = lottery.assignment
    assert log.columns == list(ASSIGNMENT_COLUMNS) and log.height == 10  # band of round(0.5 x 20) around the cut
    assert log["rank"].to_list() == list(range(16, 26)) and set(log["capacity"]) == {20}
    assert set(log["lottery_seed"]) == {5} and set(log["band_size"]) == {10} and log["offered_flag"].sum() == 5
    listed = lottery.intake
    assert listed.height == 20 and listed["rank"].to_list() == list(range(1, 21))
    # the top 15 are listed as they were without the lottery, in the same order
    assert listed["person_id"].head(15).to_list() == plain.intake["person_id"].head(15).to_list()
    offered = set(log.filter(pl.col("offered_flag") == 1)["person_id"])
    not_offered = set(log.filter(pl.col("offered_flag") == 0)["person_id"])
    assert set(listed["person_id"].tail(5)) == offered and not set(listed["person_id"]) & not_offered
    assert listed["suggested_case_manager_id"].null_count() == 0  # offered members get a slot like anyone


def test_lottery_seed_defaults_to_the_as_of_date(con):
    a = build_intake(con, _scores(), AS_OF, options=IntakeOptions(evaluation_lottery=0.5)).assignment
    b = build_intake(con, _scores(), AS_OF, options=IntakeOptions(evaluation_lottery=0.5)).assignment
    assert a.equals(b) and set(a["lottery_seed"]) == {20240315}


def test_no_lottery_without_a_roster_says_why(con):
    con.execute("DELETE FROM raw.cm_roster")
    result = build_intake(con, _scores(), AS_OF, options=IntakeOptions(evaluation_lottery=0.5))
    assert result.assignment.height == 0 and "no case-manager roster" in result.lottery_note


def test_assignment_log_appends_rounds_and_a_rerun_replaces_its_round(con):
    options = IntakeOptions(evaluation_lottery=0.5, lottery_seed=1)
    first = build_intake(con, _scores(), AS_OF, options=options).assignment
    assert record_assignment(con, AS_OF, first) == 10
    later = D(2024, 4, 15)
    april = _scores(discharged=D(2024, 4, 10))
    second = build_intake(con, april, later, options=IntakeOptions(evaluation_lottery=0.3)).assignment
    record_assignment(con, later, second)
    record_assignment(con, AS_OF, build_intake(con, _scores(), AS_OF, options=options).assignment)  # re-run
    rounds = con.execute(f"SELECT assignment_date, round_id, count(*), sum(offered_flag) FROM {ASSIGNMENT_TABLE} "
                         "GROUP BY ALL ORDER BY 1").fetchall()
    assert rounds == [(AS_OF, "readmission:2024-03-15", 10, 5), (later, "readmission:2024-04-15", 6, 3)]
    # a re-run of an as-of without the lottery removes that round
    record_assignment(con, later, build_intake(con, april, later).assignment)
    assert con.execute(f"SELECT count(DISTINCT assignment_date) FROM {ASSIGNMENT_TABLE}").fetchone()[0] == 1


# -- power ------------------------------------------------------------------------------------------

def test_sample_size_matches_the_textbook_two_proportion_value():
    # Fleiss, Levin & Paik (2003): 20% vs 10%, two-sided 5%, 80% power -> 199 per group without the
    # continuity correction (219 with it)
    assert lottery_sample_size(0.20, 0.10) == 199
    # smaller differences need many more members: n grows about as 1 / difference^2
    assert 4 < lottery_sample_size(0.20, 0.05) / lottery_sample_size(0.20, 0.10) < 5
    assert lottery_sample_size(0.20, 0.10, power=0.9) > 199


def test_rounds_divide_the_arm_size_by_half_the_band():
    assert lottery_rounds(199, 10) == 40
    assert lottery_rounds(199, 11) == 40  # the odd member sits in the not-offered arm
    assert lottery_rounds(200, 10) == 40
    with pytest.raises(ValueError):
        lottery_rounds(100, 1)
