"""Who benefits: the DR-learner recovers a known effect modifier, shrinks what it cannot support,
says why in the final stage's own attributions, and the rankings are scored against the truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from models.benefit import (
    MODIFIERS,
    NO_BENEFIT_REASON,
    BenefitConfig,
    fit_benefit,
    modifier_frame,
    score_benefit,
)
from models.benefit_eval import compare_rankings
from models.causal_att import NuisanceConfig

CONFIG = BenefitConfig(nuisance=NuisanceConfig(folds=3, n_estimators=60), min_treated=50)


def heterogeneous_cohort(n: int = 12_000, seed: int = 5, modifier_effect: float = 0.10) -> pl.DataFrame:
    """A program-effect-cohort-shaped frame: enrolment depends on recorded risk (confounding, all
    recorded); the program lowers the readmission probability by 0.02 plus ``modifier_effect`` per
    unmet social need (0-3), so members with needs benefit most."""
    rng = np.random.default_rng(seed)
    prior = rng.poisson(1.0, n).astype(float)
    age = rng.normal(68, 12, n)
    needs = rng.integers(0, 4, n).astype(float)
    office = rng.poisson(4.0, n).astype(float)
    risk = 0.7 * (prior - 1.0) + 0.03 * (age - 68)
    treated = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.8 * risk)))).astype(int)
    p0 = 0.15 + 0.30 / (1 + np.exp(-1.5 * risk)) + 0.05 * needs / 3
    reduction = 0.02 + modifier_effect * needs / 3
    readmit = (rng.random(n) < p0 - reduction * treated).astype(float)
    return pl.DataFrame({
        "stay_id": [f"s{i}" for i in range(n)],
        "person_id": [f"p{i}" for i in range(n)],
        "discharge_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 500, n)],
        "opted_out_flag": np.zeros(n, dtype=np.int32), "already_enrolled_flag": np.zeros(n, dtype=np.int32),
        "enrolled_flag": treated.astype(np.int32), "readmit_30d": readmit,
        "prior_ip_stays_365d": prior, "age_at_discharge": age, "social_needs_positive": needs,
        "office_visits_365d": office, "followup_7d_prior_discharge_flag": np.where(prior > 0, 1.0, np.nan),
        "lace_c": np.minimum(rng.poisson(1.5, n), 5).astype(float), "discharged_to_facility_flag": np.zeros(n),
        "svi_overall": rng.random(n), "dual_flag": (rng.random(n) < 0.2).astype(float),
        "true_reduction": reduction,
    })


@pytest.fixture(scope="module")
def fitted():
    cohort = heterogeneous_cohort()
    return cohort, fit_benefit(cohort.drop("true_reduction"), "readmit_30d", CONFIG)


def test_the_learner_finds_the_modifier_and_the_average(fitted) -> None:
    cohort, model = fitted
    assert model.estimated
    names = ["average effect", *model.names]
    coef = dict(zip(names, model.coef, strict=True))
    # the social-needs coefficient is the largest positive one (benefit grows with needs)
    assert max(coef, key=lambda k: coef[k] if k != "average effect" else -1) == "social_needs_positive"
    true_average = float(cohort["true_reduction"].mean())
    low, high = model.calibration["average_effect_ci"]
    assert low <= true_average <= high
    # out of fold the estimated differences between members are real: the BLP loading excludes 0
    assert model.calibration["heterogeneity_loading_ci"][0] > 0
    assert 0 < model.shrinkage <= 1
    gates = model.gates.sort("group")
    assert gates["dr_estimate"][-1] > gates["dr_estimate"][0]  # the top quintile benefits more than the bottom


def test_benefit_reasons_follow_the_effect_models_own_attributions(fitted) -> None:
    cohort, model = fitted
    new = cohort.head(300).drop("true_reduction")
    scored = score_benefit(model, new, k=2)
    assert scored.height == 300 and scored["benefit_reason_1"].null_count() == 0
    # the contributions are the final stage's: coefficient x shrunk, centred and scaled value, and
    # (efficiency) they add up to each member's departure from the average effect
    from models.benefit import _design, untreated_outcome

    mods = modifier_frame(new, untreated_outcome(model, new))
    x = _design(mods, model.means, model.scales)
    contrib = model.shrinkage * x[:, 1:] * model.coef[1:]
    np.testing.assert_allclose(scored["benefit"].to_numpy(), model.coef[0] + contrib.sum(axis=1), rtol=1e-9)
    top = np.argmax(contrib, axis=1)
    for row, j, c in zip(scored.iter_rows(named=True), top, contrib, strict=True):
        if c[j] > 0:
            assert row["benefit_reason_feature_1"] == model.names[j]
            assert row["benefit_contribution_1"] == pytest.approx(c[j])
            assert row["benefit_reason_1"].startswith("larger benefit expected: ")
        else:
            assert row["benefit_reason_1"] == NO_BENEFIT_REASON
    needy = scored.filter(pl.Series(new["social_needs_positive"].to_numpy() == 3))
    assert (needy["benefit_reason_feature_1"] == "social_needs_positive").mean() > 0.5
    assert (scored["benefit_ci_low"] <= scored["benefit"]).all() and (scored["benefit"] <= scored["benefit_ci_high"]).all()


def test_no_real_heterogeneity_means_everyone_gets_the_average_and_no_benefit_reason() -> None:
    cohort = heterogeneous_cohort(n=6_000, seed=9, modifier_effect=0.0).drop("true_reduction")
    model = fit_benefit(cohort, "readmit_30d", CONFIG)
    # out of fold the final stage's spread predicts nothing here: its loading's interval holds 0, so
    # none of the spread is used
    low, high = model.calibration["heterogeneity_loading_ci"]
    assert low < 0 < high and model.shrinkage == 0
    scored = score_benefit(model, cohort.head(50))
    assert scored["benefit"].n_unique() == 1
    # and one relative reduction for all, so the blend (risk x it) orders as risk does
    assert scored["relative_reduction"].n_unique() == 1
    assert set(scored["benefit_reason_1"]) == {NO_BENEFIT_REASON}


def test_too_few_enrolled_stays_give_a_sentence_not_an_estimate() -> None:
    cohort = heterogeneous_cohort(n=2_000).drop("true_reduction").with_columns(
        pl.when(pl.int_range(pl.len()) < 20).then(1).otherwise(0).cast(pl.Int32).alias("enrolled_flag"))
    model = fit_benefit(cohort, "readmit_30d", CONFIG)
    assert not model.estimated and "20 enrolled" in model.note
    assert score_benefit(model, cohort.head(5)).height == 0


def test_race_and_ethnicity_are_never_effect_modifiers() -> None:
    assert not {"race", "ethnicity"} & {m.name for m in MODIFIERS}


def test_events_averted_by_each_ranking_are_summed_from_the_truth() -> None:
    pool = pl.DataFrame({
        "person_id": ["a", "b", "c", "d"], "score": [0.9, 0.8, 0.2, 0.1],
        "benefit": [0.0, 0.05, 0.2, 0.01], "relative_reduction": [0.0, 0.1, 0.9, 0.1]})
    oracle = pl.DataFrame({"person_id": ["a", "b", "c", "d"], "true_benefit": [0.01, 0.05, 0.15, 0.0],
                           "true_risk": [0.9, 0.8, 0.2, 0.1]})
    rows, curves = compare_rankings(pool, oracle, capacity=2)
    got = {r["ranking"]: r["events_averted"] for r in rows}
    assert got["risk"] == pytest.approx(0.06)  # a + b
    assert got["benefit"] == pytest.approx(0.20)  # c + b
    assert got["blend"] == pytest.approx(0.20)  # c (0.18) + b (0.08)
    assert got["oracle"] == pytest.approx(0.20) and got["random"] == pytest.approx(2 * 0.21 / 4)
    assert {r["ranking"]: r["share_of_best"] for r in rows}["risk"] == pytest.approx(0.3)
    full = curves.filter(pl.col("share") == 1.0)["events_averted"].to_list()
    assert full == pytest.approx([0.21] * 5)  # everyone enrolled: every ranking averts the same


def _lottery_warehouse(benefit_spread: bool, n: int = 1200, seed: int = 3):
    """marts.intake_assignment (one closed readmission-list round) and core.inpatient_stay: the offer
    halves the 30-day admission risk for members with a high estimated benefit and does nothing for
    the others."""
    import duckdb

    from features.sqlfiles import load_sql

    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA core")
    con.execute(load_sql("marts__intake_assignment"))
    con.execute("CREATE TABLE core.inpatient_stay (stay_id VARCHAR, person_id VARCHAR, admission_date DATE, planned_flag INTEGER)")
    day = dt.date(2025, 6, 1)
    benefit = rng.random(n) if benefit_spread else np.full(n, 0.01)
    offered = rng.permutation(n) < n // 2
    risk = np.where(offered & (benefit > np.median(benefit)), 0.15, 0.30)
    admitted = rng.random(n) < risk
    con.executemany("INSERT INTO marts.intake_assignment (assignment_date, person_id, program, lottery_band_flag, "
                    "offered_flag, score_name, benefit) VALUES (?, ?, 'all', 1, ?, 'readmission', ?)",
                    [(day, f"p{i}", int(o), float(b)) for i, (o, b) in enumerate(zip(offered, benefit, strict=True))])
    con.executemany("INSERT INTO core.inpatient_stay VALUES (?, ?, ?, 0)",
                    [(f"s{i}", f"p{i}", day + dt.timedelta(days=10)) for i in np.flatnonzero(admitted)])
    return con


def test_the_runs_own_lottery_checks_the_benefit_ranking() -> None:
    from models.benefit_eval import lottery_benefit_check

    result = lottery_benefit_check(_lottery_warehouse(True), dt.date(2025, 9, 1))
    assert result["status"] == "checked"
    upper, lower = result["rows"]
    assert upper["estimate"] > 0.08 and abs(lower["estimate"]) < 0.06  # the offer helped the upper half only
    assert result["difference_ci"][0] > 0 and "did benefit more" in result["sentence"]
    # windows not closed yet, or nobody told apart: said, not computed
    assert lottery_benefit_check(_lottery_warehouse(True), dt.date(2025, 6, 20))["status"] == "no_band"
    assert lottery_benefit_check(_lottery_warehouse(False), dt.date(2025, 9, 1))["status"] == "no_spread"
    assert lottery_benefit_check(_lottery_warehouse(True, n=80), dt.date(2025, 9, 1))["status"] == "too_few"
