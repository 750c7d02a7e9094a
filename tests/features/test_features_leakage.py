"""Leakage guard on a generated population: future-only changes move no feature; moving the cut-off
moves labels and features consistently."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_series_equal
from generated import alter_future, build_core, generate_population, load_population

from features.dictionary import MEMBER_FEATURES, MODEL_FEATURES
from features.member import build_member_dataset
from features.readmission import build_readmission_dataset

CUT = dt.date(2025, 3, 1)
DATA_END = dt.date(2026, 1, 1)
AS_OF_DATES = [dt.date(2024, 12, 1), CUT]


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    return generate_population(tmp_path_factory.mktemp("gen"), members=1500, seed=11)


def _build(con):
    build_core(con)
    build_readmission_dataset(con, CUT)
    build_member_dataset(con, AS_OF_DATES, data_end=DATA_END)
    member = con.execute("SELECT * FROM features.member_features ORDER BY as_of_date, person_id").pl()
    stays = con.execute("SELECT * FROM features.readmission_stay ORDER BY stay_id").pl()
    return member, stays


@pytest.fixture(scope="module")
def built(population):
    original = load_population(population)
    altered = load_population(population)
    changed = alter_future(altered, CUT)
    result = (_build(original), _build(altered), changed)
    original.close()
    altered.close()
    return result


def test_changing_only_future_events_moves_no_feature(built):
    (member, stays), (member_alt, stays_alt), changed = built
    assert sum(changed.values()) > 1000  # the alteration really touched the data
    assert member.height > 2000 and member.select(["person_id", "as_of_date"]).equals(
        member_alt.select(["person_id", "as_of_date"]))
    # amounts are sums of doubles whose order DuckDB may change between runs: compare to 1e-9
    for name in MEMBER_FEATURES:
        assert_series_equal(member[name], member_alt[name], check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
    assert stays["stay_id"].equals(stays_alt["stay_id"])
    for name in MODEL_FEATURES:
        assert_series_equal(stays[name], stays_alt[name], check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
    # ... while the labels, which look past the cut-off, did move
    labels = ["allowed_amount_next_12m", "high_need_cost_12m", "high_need_utilization_12m"]
    assert not member.select(labels).equals(member_alt.select(labels))


def test_shifting_the_cutoff_moves_labels_and_features_consistently(population):
    con = load_population(population)
    build_core(con)
    early, late = AS_OF_DATES
    build_member_dataset(con, AS_OF_DATES, data_end=DATA_END)
    frame = con.execute("SELECT * FROM features.member_features").pl()
    both = frame.filter(pl.col("as_of_date") == early).join(
        frame.filter(pl.col("as_of_date") == late), on="person_id", suffix="_late")
    # an acute stay admitted and discharged in [early, late) is in the early date's label window and
    # in the late date's look-back window: per member, the counts agree with core.inpatient_stay
    stays = con.execute(
        "SELECT person_id, count(*) AS n, count(*) FILTER (WHERE planned_flag = 0) AS unplanned "
        "FROM core.inpatient_stay WHERE admission_date >= ? AND discharge_date < ? GROUP BY person_id",
        [early, late],
    ).pl()
    gap_days = (late - early).days
    check = both.join(stays, on="person_id", how="left").with_columns(pl.col("n", "unplanned").fill_null(0))
    assert check["n"].sum() > 20
    assert (check["ip_admissions_90d_late"] >= check["n"]).all() if gap_days <= 90 else True
    assert (check["ip_admissions_365d_late"] >= check["n"]).all()
    assert (check["unplanned_admissions_next_12m"] >= check["unplanned"]).all()
    # the late look-back year covers [late - 365, late): admissions in it = early-date features
    # (admitted in [late - 365, early)) + those admitted in [early, late)
    exact = con.execute(
        "SELECT person_id, count(*) AS n FROM core.inpatient_stay "
        "WHERE admission_date >= CAST(? AS DATE) - 365 AND discharge_date < ? GROUP BY person_id",
        [late, late],
    ).pl()
    got = both.join(exact, on="person_id", how="left").with_columns(pl.col("n").fill_null(0))
    assert (got["ip_admissions_365d_late"] == got["n"]).all()
    # readmission: moving the cut-off later never changes the features of a stay, and a stay that
    # was labelled keeps its label; stays whose window was still open gain one
    build_readmission_dataset(con, early)
    a = con.execute("SELECT * FROM features.readmission_stay").pl()
    build_readmission_dataset(con, late)
    b = con.execute("SELECT * FROM features.readmission_stay").pl()
    common = a.join(b, on="stay_id", suffix="_late")
    assert common.height == a.height
    for name in MODEL_FEATURES:
        assert_series_equal(common[name], common[f"{name}_late"], check_names=False, check_exact=False,
                            rel_tol=1e-9, abs_tol=1e-6)
    labelled = common.filter(pl.col("readmit_30d").is_not_null())
    assert labelled["readmit_30d"].equals(labelled["readmit_30d_late"], check_names=False)
    opened = common.filter(pl.col("readmit_30d").is_null() & (pl.col("discharge_date") + pl.duration(days=30) < late))
    assert opened.height > 0 and opened["readmit_30d_late"].is_not_null().all()
    con.close()
