"""The program-effect estimator on frames whose truth is known by construction, the cohort SQL on
hand-made rows, and the interval and E-value formulas against published worked examples."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest

from models.causal_att import (
    Interval,
    NuisanceConfig,
    cross_fitted_nuisances,
    e_value,
    e_values,
    grouped_folds,
    naive_difference,
    quiet_reshaping,
    stratified_difference,
)
from models.program_effect import (
    OUTCOMES,
    ProgramEffectConfig,
    ScaleRule,
    build_program_effect,
    build_program_effect_cohort,
    confounder_matrix,
    estimate_program_effects,
    lottery_band,
    lottery_effects,
)

AS_OF = dt.date(2026, 1, 1)
WAREHOUSE_AS_OF = dt.date(2026, 2, 1)  # the hand-made warehouse's 12-month windows close before it
EFFECT = -0.08  # constant on the probability scale, so the ATT is exactly this


def synthetic_cohort(n: int = 4_000, seed: int = 3, effect: float = EFFECT, rule: str = "confounded",
                     treated_count: int | None = None) -> pl.DataFrame:
    """A cohort frame shaped like features__program_effect_cohort.sql with one outcome
    (readmit_30d): risk drives both enrolment and readmission, the program shifts the readmission
    probability by ``effect`` for everyone. ``rule``: "confounded" (enrolment probability rises with
    risk), "threshold" (enrolled exactly when risk is above its 80th percentile: no overlap)."""
    rng = np.random.default_rng(seed)
    prior = rng.poisson(1.0, n).astype(float)
    age = rng.normal(70, 10, n)
    needs = rng.poisson(0.8, n).astype(float)
    needs[rng.random(n) < 0.2] = np.nan  # never screened
    risk = 0.8 * (prior - 1.0) + 0.04 * (age - 70) + 0.3 * np.nan_to_num(needs, nan=0.8)  # all of it recorded
    if rule == "threshold":
        treated = (risk > np.quantile(risk, 0.8)).astype(int)
    else:
        treated = (rng.random(n) < 1 / (1 + np.exp(-(-1.8 + 1.4 * risk)))).astype(int)
    if treated_count is not None:
        keep = np.flatnonzero(treated)[treated_count:]
        treated[keep] = 0
    p_untreated = 0.12 + 0.35 / (1 + np.exp(-1.5 * risk))  # 0.12-0.47, so p + effect stays a probability
    readmit = (rng.random(n) < p_untreated + effect * treated).astype(float)
    null_outcome = pl.lit(None, dtype=pl.Float64)
    return pl.DataFrame({
        "stay_id": [f"s{i}" for i in range(n)],
        "person_id": [f"p{i}" for i in rng.integers(0, int(n * 0.8), n)],
        "discharge_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 500, n)],
        "opted_out_flag": np.zeros(n, dtype=np.int32),
        "already_enrolled_flag": np.zeros(n, dtype=np.int32),
        "enrolled_programs": [["care_transitions"] if t else [] for t in treated],
        "enrolled_flag": treated.astype(np.int32),
        "readmit_30d": readmit,
        "prior_ip_stays_365d": prior,
        "age_at_discharge": age,
        "social_needs_positive": needs,
        "open_cm_case_flag": treated.astype(float),  # the treatment in disguise: must never be a confounder
    }).with_columns(*[null_outcome.alias(o) for o in OUTCOMES if o != "readmit_30d"],
                    member_months_6m=pl.lit(6.0), member_months_12m=pl.lit(12.0),
                    admissions_pre_6m=null_outcome, member_months_pre_6m=pl.lit(6.0))


def _row(effects: pl.DataFrame, method: str, program: str = "all", outcome: str = "readmit_30d") -> dict:
    rows = effects.filter((pl.col("method") == method) & (pl.col("program") == program)
                          & (pl.col("outcome") == outcome)).to_dicts()
    assert len(rows) == 1, f"expected one {method} row for {outcome}/{program}, got {len(rows)}"
    return rows[0]


@pytest.fixture(scope="module")
def confounded() -> pl.DataFrame:
    return estimate_program_effects(synthetic_cohort(), AS_OF).effects


def test_doubly_robust_interval_covers_the_true_effect_where_the_naive_one_does_not(confounded) -> None:
    adjusted, naive = _row(confounded, "aipw"), _row(confounded, "naive")
    assert adjusted["status"] == "reported" and adjusted["label"] == "adjusted effect"
    assert adjusted["ci_low"] <= EFFECT <= adjusted["ci_high"]
    # enrolment follows risk, so the observed difference hides the benefit
    assert naive["ci_low"] > EFFECT and naive["label"] == "descriptive, not an effect"
    assert adjusted["max_smd_before"] > 0.5 and adjusted["max_smd_after"] < adjusted["max_smd_before"] / 3
    assert adjusted["overlap_share"] > 0.9 and adjusted["e_value"] > 1
    assert adjusted["estimand"].startswith("ATT: risk difference")


def test_no_effect_gives_an_interval_around_zero_and_naive_still_excludes_it() -> None:
    effects = estimate_program_effects(synthetic_cohort(effect=0.0, seed=11), AS_OF).effects
    adjusted, naive = _row(effects, "aipw"), _row(effects, "naive")
    assert adjusted["ci_low"] <= 0.0 <= adjusted["ci_high"]
    assert adjusted["e_value_ci"] == 1.0  # an interval that holds no effect needs no confounder to explain it
    assert naive["ci_low"] > 0


def test_enrolment_decided_by_a_risk_threshold_is_withheld_with_a_message() -> None:
    tables = estimate_program_effects(synthetic_cohort(rule="threshold"), AS_OF)
    adjusted = _row(tables.effects, "aipw")
    assert adjusted["status"] == "withheld_no_overlap"
    assert adjusted["estimate"] is None and adjusted["ci_low"] is None and adjusted["ci_high"] is None
    assert "no comparison group" in adjusted["note"] and adjusted["overlap_share"] < 0.9
    # the histogram shows why: enrolled stays pile up where no comparison stay is
    overlap = tables.overlap.filter(pl.col("program") == "all")
    top = overlap.filter(pl.col("bin_low") >= 0.95)
    assert top.filter(pl.col("arm") == "enrolled")["stays"].sum() > 10 * top.filter(pl.col("arm") == "not_enrolled")["stays"].sum()
    # the descriptive comparison is still there, labelled
    assert _row(tables.effects, "naive")["status"] == "reported"


def test_fewer_than_30_enrolled_stays_are_suppressed_with_a_note() -> None:
    effects = estimate_program_effects(synthetic_cohort(n=1_500, treated_count=25), AS_OF).effects
    for method in ("aipw", "naive"):
        row = _row(effects, method, program="care_transitions")
        assert row["status"] == "suppressed_small_cell" and row["estimate"] is None
        assert row["n_treated"] == 25 and "fewer than 30" in row["note"]


def test_a_cohort_without_enrolment_is_not_estimable_rather_than_an_error() -> None:
    cohort = synthetic_cohort(n=500).with_columns(pl.lit(0, dtype=pl.Int32).alias("enrolled_flag"),
                                                  pl.lit([], dtype=pl.List(pl.String)).alias("enrolled_programs"))
    tables = estimate_program_effects(cohort, AS_OF)
    assert set(tables.effects["status"]) == {"not_estimable"}
    assert tables.effects.filter(pl.col("estimate").is_not_null()).height == 0
    assert "no enrolled group" in tables.effects["note"][0]
    assert tables.balance.height == 0 and tables.overlap.height == 0


def test_the_treatment_is_never_a_confounder() -> None:
    _, names = confounder_matrix(synthetic_cohort(n=200))
    assert "open_cm_case_flag" not in names
    assert {"prior_ip_stays_365d", "age_at_discharge", "social_needs_positive", "discharge_month"} <= set(names)


def test_below_the_scale_rule_the_estimates_are_exactly_those_of_the_full_comparison(confounded) -> None:
    # 4,000 stays: far under ScaleRule.max_stays, so the default configuration samples nothing
    never = ProgramEffectConfig(scale=ScaleRule(max_stays=None))
    assert estimate_program_effects(synthetic_cohort(), AS_OF, never).effects.equals(confounded)
    assert "sample" not in _row(confounded, "aipw")["note"]


def test_a_sampled_comparison_agrees_with_the_full_one_within_its_interval() -> None:
    cohort = synthetic_cohort(n=12_000, seed=5)
    full = estimate_program_effects(cohort, AS_OF, ProgramEffectConfig(scale=ScaleRule(max_stays=None)))
    sampled = estimate_program_effects(cohort, AS_OF, ProgramEffectConfig(scale=ScaleRule(max_stays=6_000)))
    whole, part = _row(full.effects, "aipw"), _row(sampled.effects, "aipw")
    assert part["status"] == "reported" and "random sample of 6,000 of the 12,000 stays" in part["note"]
    assert sampled.counts["sampled_cells"] == 2 and full.counts["sampled_cells"] == 0  # all, care_transitions
    assert part["n_treated"] + part["n_control"] <= 6_000 and part["n_treated"] <= 2_000
    assert part["ci_low"] <= whole["estimate"] <= part["ci_high"]
    assert part["ci_low"] <= EFFECT <= part["ci_high"]
    # half the stays: a wider interval, by about sqrt(2) rather than by a factor that would say the
    # sampling weights were lost or double counted
    ratio = (part["ci_high"] - part["ci_low"]) / (whole["ci_high"] - whole["ci_low"])
    assert 1.05 < ratio < 2.0
    # the naive row still reads every stay, and the overlap histogram counts stays of the cohort
    assert _row(sampled.effects, "naive")["n_treated"] + _row(sampled.effects, "naive")["n_control"] == 12_000
    counts = sampled.overlap.filter(pl.col("program") == "all").group_by("arm").agg(pl.col("stays").sum())
    treated = int(cohort["enrolled_flag"].sum())
    assert dict(counts.iter_rows()) == pytest.approx({"enrolled": treated, "not_enrolled": 12_000 - treated}, abs=2)


def test_direct_cross_fitting_reproduces_econml_drlearner_nuisances() -> None:
    from econml.dr import DRLearner

    cohort = synthetic_cohort(n=3_000, seed=8).with_columns(
        pl.col("enrolled_flag").alias("_treated"), pl.col("age_at_discharge").abs().alias("months"))
    x, _ = confounder_matrix(cohort)
    t, y, groups = cohort["_treated"].to_numpy(), cohort["readmit_30d"].to_numpy(), cohort["person_id"].to_numpy()
    config = NuisanceConfig()
    for binary, weight in ((True, None), (False, cohort["months"].to_numpy())):
        folds = grouped_folds(groups, t, config.folds, config.seed)
        from lightgbm import LGBMClassifier, LGBMRegressor

        params = config.lgbm_params()
        learner = DRLearner(model_propensity=LGBMClassifier(**params),
                            model_regression=LGBMClassifier(**params) if binary else LGBMRegressor(**params),
                            discrete_outcome=binary, cv=folds, random_state=config.seed, allow_missing=True)
        with quiet_reshaping():
            learner.fit(y, t, X=None, W=x, sample_weight=weight)
            e, m0 = cross_fitted_nuisances(x, t, y, weight, groups, binary, config)
        for (_, test), propensity, outcome in zip(folds, learner.models_propensity[0], learner.models_regression[0],
                                                  strict=True):
            untreated = np.hstack([x[test], np.zeros((test.size, 1))])
            assert np.array_equal(e[test], propensity.predict_proba(x[test])[:, 1])
            expected = outcome.predict_proba(untreated)[:, 1] if binary else outcome.predict(untreated)
            assert np.array_equal(m0[test], expected)


def test_e_value_matches_vanderweele_and_ding_worked_example() -> None:
    # Ann Intern Med 2017;167:268-74: breastfeeding and infections, RR 3.9 (95% CI 1.8 to 8.7)
    assert e_value(3.9) == pytest.approx(7.26, abs=0.01)
    assert e_value(1.8) == pytest.approx(3.0, abs=0.01)
    assert e_value(0.8) == pytest.approx(e_value(1.25))  # a protective ratio is inverted first
    # a risk difference of -0.10 on a treated risk of 0.30: counterfactual 0.40, RR 0.75, E-value 2
    estimate, limit = e_values(Interval(-0.10, -0.15, -0.05, 0.30, 0.40, 100, 100), "binary")
    assert estimate == pytest.approx(2.0)
    assert limit == pytest.approx(e_value(0.30 / 0.35))  # the limit nearest no effect, -0.05


def test_naive_binary_interval_matches_newcombes_worked_example() -> None:
    # Newcombe, Stat Med 1998;17:873-90, method 10: 56/70 vs 48/80 -> 0.2000 (0.0524 to 0.3339)
    y = np.r_[np.ones(56), np.zeros(14), np.ones(48), np.zeros(32)]
    treated = np.r_[np.ones(70), np.zeros(80)]
    interval = naive_difference(y, treated, np.arange(150), binary=True)
    assert (round(interval.ci_low, 4), round(interval.ci_high, 4)) == (0.0524, 0.3339)


def test_randomised_difference_is_averaged_within_lottery_rounds() -> None:
    rng = np.random.default_rng(4)
    # two rounds with different base rates and different offer shares: pooling would be biased
    round_id = np.r_[np.zeros(400), np.ones(400)]
    offered = np.r_[rng.random(400) < 0.2, rng.random(400) < 0.8].astype(int)
    y = rng.poisson(np.where(round_id == 0, 0.3, 1.2) - 0.1 * offered).astype(float)
    interval, used = stratified_difference(y, offered, round_id)
    assert used == 2 and interval.ci_low <= -0.1 <= interval.ci_high
    assert interval.n_treated == offered.sum()


def _warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Six members, one index stay each discharged 2025-01-10, cases that test every clause of the
    treatment rule, and admissions that test the outcome windows."""
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA core; CREATE SCHEMA features")
    # a heart-failure code for member a (one Elixhauser comorbidity) and one from before the window
    con.execute("CREATE TABLE core.diagnosis AS SELECT * FROM (VALUES ('a', DATE '2024-11-01', 'I5022'), "
                "('b', DATE '2023-01-01', 'I5022')) AS t(person_id, diagnosis_date, icd10cm_code)")
    members = ["a", "b", "c", "d", "e", "f"]
    con.execute("CREATE TABLE features.readmission_stay AS SELECT 's_' || p AS stay_id, p AS person_id, "
                "DATE '2025-01-05' AS admission_date, DATE '2025-01-10' AS discharge_date, 0 AS readmit_30d, "
                "race, 'unknown' AS ethnicity, 1.0 AS prior_ip_stays_365d, 0.0 AS open_cm_case_flag "
                "FROM (SELECT unnest(?) AS p, unnest(?) AS race)", [members, ["white"] * 3 + ["black"] * 3])
    con.execute("""
        CREATE TABLE core.inpatient_stay AS SELECT * FROM (VALUES
            ('s_a', 'a', DATE '2025-01-05', DATE '2025-01-10', 0),
            ('s_b', 'b', DATE '2025-01-05', DATE '2025-01-10', 0),
            ('s_c', 'c', DATE '2025-01-05', DATE '2025-01-10', 0),
            ('s_d', 'd', DATE '2025-01-05', DATE '2025-01-10', 0),
            ('s_e', 'e', DATE '2025-01-05', DATE '2025-01-10', 0),
            ('s_f', 'f', DATE '2025-01-05', DATE '2025-01-10', 0),
            ('r_a', 'a', DATE '2025-04-20', DATE '2025-04-22', 0),  -- day 100: a 180-day readmission
            ('r_b', 'b', DATE '2025-02-01', DATE '2025-02-03', 1),  -- planned: never an outcome
            ('r_c', 'c', DATE '2025-09-01', DATE '2025-09-03', 0),  -- month 8: 12-month window only
            ('p_d', 'd', DATE '2024-09-01', DATE '2024-09-04', 0)   -- before time zero
        ) AS t(stay_id, person_id, admission_date, discharge_date, planned_flag)""")
    con.execute("ALTER TABLE core.inpatient_stay ADD COLUMN admit_type_code VARCHAR DEFAULT '1'")
    con.execute("""
        CREATE TABLE raw.cm_case AS SELECT * FROM (VALUES
            ('a', 'care_transitions', DATE '2025-01-12', DATE '2025-01-17', NULL),        -- opened day 7: enrolled
            ('b', 'care_transitions', DATE '2025-01-12', DATE '2025-01-18', NULL),        -- opened day 8: not
            ('c', 'complex_care', DATE '2024-06-01', DATE '2024-06-05', DATE '2025-01-10'),  -- closed at discharge: not
            ('d', 'complex_care', DATE '2024-06-01', DATE '2024-06-05', NULL),             -- open at discharge: enrolled
            ('d', 'care_transitions', DATE '2025-01-11', DATE '2025-01-12', NULL),         -- and a second program
            ('e', 'brokerage', DATE '2025-01-09', NULL, NULL)                              -- referred, never opened: not
        ) AS t(person_id, program, referral_date, open_date, close_date)""")
    con.execute("""
        CREATE TABLE raw.eligibility AS SELECT p AS person_id, DATE '2020-01-01' AS enrollment_start_date,
            DATE '2030-12-31' AS enrollment_end_date, CAST(NULL AS DATE) AS death_date,
            CASE WHEN p = 'f' THEN 1 ELSE 0 END AS outreach_opt_out_flag,
            CASE WHEN p = 'a' THEN 'medicaid' ELSE 'medicare' END AS payer_type
        FROM (SELECT unnest(?) AS p)""", [members])
    con.execute("""
        CREATE TABLE raw.medical_claim AS SELECT * FROM (VALUES
            ('a', DATE '2025-03-01', '0450', '23', '99283', '131', 600.0),
            ('a', DATE '2025-11-01', NULL, '11', '99213', NULL, 120.0)
        ) AS t(person_id, claim_start_date, revenue_center_code, place_of_service_code, hcpcs_code, bill_type_code,
               paid_amount)""")
    con.execute("CREATE TABLE raw.pharmacy_claim AS SELECT 'a' AS person_id, DATE '2025-02-01' AS dispensing_date, "
                "30.0 AS paid_amount")
    con.execute("CREATE TABLE raw.encounter AS SELECT 'a' AS person_id, DATE '2025-03-01' AS encounter_start_date, "
                "'emergency' AS encounter_type")


def test_cohort_sql_applies_the_treatment_rule_and_the_outcome_windows() -> None:
    con = duckdb.connect()
    _warehouse(con)
    cohort = build_program_effect_cohort(con, WAREHOUSE_AS_OF).sort("person_id")
    rows = {r["person_id"]: r for r in cohort.to_dicts()}
    assert {p: r["enrolled_flag"] for p, r in rows.items()} == {"a": 1, "b": 0, "c": 0, "d": 1, "e": 0, "f": 0}
    assert rows["d"]["enrolled_programs"] == ["care_transitions", "complex_care"]
    assert rows["f"]["opted_out_flag"] == 1
    # c and d were in a program when admitted: picked earlier, not at this discharge
    assert {p: r["already_enrolled_flag"] for p, r in rows.items()} == {"a": 0, "b": 0, "c": 1, "d": 1, "e": 0, "f": 0}
    assert rows["a"]["elixhauser_count"] == 1 and rows["b"]["elixhauser_count"] == 0
    assert rows["a"]["medicaid_flag"] == 1 and rows["b"]["medicare_flag"] == 1
    assert rows["d"]["prior_ip_admissions_730d"] == 1 and rows["d"]["prior_ip_admissions_90d"] == 0
    assert rows["d"]["prior_unplanned_discharges_180d"] == 1 and rows["a"]["emergency_admission_type_flag"] == 1
    assert "open_cm_case_flag" not in cohort.columns
    assert rows["a"]["readmit_180d"] == 1 and rows["b"]["readmit_180d"] == 0  # planned admissions do not count
    assert rows["c"]["readmit_180d"] == 0 and rows["c"]["admissions_12m"] > 0 and rows["c"]["admissions_6m"] == 0
    # one ED visit (a claim and an encounter on the same day count once), paid per member-month
    assert rows["a"]["ed_visits_6m"] * rows["a"]["member_months_6m"] == pytest.approx(1.0)
    assert rows["a"]["paid_12m"] * rows["a"]["member_months_12m"] == pytest.approx(750.0)
    assert rows["a"]["paid_6m"] * rows["a"]["member_months_6m"] == pytest.approx(630.0)
    # the index admission and an earlier one count before time zero
    assert rows["d"]["admissions_pre_6m"] * rows["d"]["member_months_pre_6m"] == pytest.approx(2.0)
    # a 12-month window not closed before the as-of date is unknown, not zero
    late = build_program_effect_cohort(con, dt.date(2025, 12, 1))
    assert late["admissions_12m"].null_count() == late.height and late["admissions_6m"].null_count() == 0


def test_lottery_rows_come_from_band_members_whose_window_closed() -> None:
    con = duckdb.connect()
    _warehouse(con)
    con.execute("""
        CREATE TABLE raw.cm_intake_assignment AS
        SELECT DATE '2025-01-01' AS assignment_date, 'p' || i AS person_id, 'care_transitions' AS program,
               1 AS lottery_band_flag, i % 2 AS offered_flag, 42 AS lottery_seed
        FROM range(80) AS t(i)
        UNION ALL SELECT DATE '2025-12-01', 'late', 'care_transitions', 1, 1, 42   -- window still open
        UNION ALL SELECT DATE '2025-01-01', 'above', 'care_transitions', 0, 1, 42  -- above the band""")
    # every 4th member, all not offered (even i), admitted in the window
    con.execute("INSERT INTO core.inpatient_stay (stay_id, person_id, admission_date, discharge_date, planned_flag) "
                "SELECT 'l' || i, 'p' || i, DATE '2025-03-01', DATE '2025-03-02', 0 FROM range(0, 80, 4) AS t(i)")
    band = lottery_band(con, WAREHOUSE_AS_OF)
    assert band.height == 80
    rows = lottery_effects(band, WAREHOUSE_AS_OF)
    row = _row(rows, "lottery_itt", outcome="any_admission_180d")
    assert row["label"] == "randomised" and row["n_treated"] == 40 and row["n_control"] == 40
    assert row["estimate"] == pytest.approx(0.0 - 20 / 40)


def test_build_program_effect_on_a_warehouse_without_enough_cases_degrades() -> None:
    con = duckdb.connect()
    _warehouse(con)
    tables = build_program_effect(con, WAREHOUSE_AS_OF, ProgramEffectConfig())
    # a is the one eligible enrolled stay: d was already in a program, f opted out
    assert tables.counts["index_stays"] == 6 and tables.counts["eligible_stays"] == 3
    assert tables.counts["enrolled_stays"] == 1 and tables.counts["already_enrolled_stays"] == 2
    assert set(tables.effects["status"]) <= {"suppressed_small_cell", "not_estimable"}
    assert tables.effects.filter(pl.col("estimate").is_not_null()).height == 0
