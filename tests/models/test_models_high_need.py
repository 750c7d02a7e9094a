from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from features.dictionary import FeatureSpec
from models.high_need import train_high_need_model
from models.oracle import high_need_oracle_auroc, readmission_oracle_auroc
from models.score import score_frame
from models.timesplit import add_months, calibration_members, high_need_snapshots

D = dt.date
FEATURES = ("ip_admissions_365d", "ed_visits_365d", "hcc_score", "age_years", "prior_noise")
DICTIONARY = {
    "ip_admissions_365d": FeatureSpec("ip_admissions_365d", "admissions", "365 days", "claims", "stays",
                                      "{value:.0f} hospital stays in the last 12 months", "no hospital stay in the last 12 months"),
    "ed_visits_365d": FeatureSpec("ed_visits_365d", "ED visits", "365 days", "claims", "visits",
                                  "{value:.0f} ED visits in the last 12 months", "no ED visit in the last 12 months"),
    "hcc_score": FeatureSpec("hcc_score", "HCC", "365 days", "claims", "score", "risk score {value:.1f}"),
    "age_years": FeatureSpec("age_years", "age", "as-of", "eligibility", "years", "aged {value:.0f}"),
    "prior_noise": FeatureSpec("prior_noise", "noise", "-", "-", "-", "noise {value:.1f}"),
}
PLAN = high_need_snapshots(D(2026, 1, 1), D(2023, 1, 1), min_history_months=6)


def test_snapshot_plan_keeps_every_training_label_before_the_test_period():
    default = high_need_snapshots(D(2026, 1, 1), D(2023, 1, 1))  # 12 months of look-back by default
    assert default.test == D(2025, 1, 1) and default.calibration == D(2024, 1, 1)
    assert default.train == (D(2024, 1, 1),) and default.score == D(2026, 1, 1)
    assert PLAN.train == (D(2023, 7, 1), D(2023, 10, 1), D(2024, 1, 1))
    for day in (*PLAN.train, PLAN.calibration):
        assert add_months(day, 12) <= PLAN.test  # label window [day, day + 12 months) closes by the test as-of
    assert add_months(PLAN.test, 12) <= PLAN.score
    assert PLAN.all_dates() == sorted(set(PLAN.all_dates()))
    with pytest.raises(ValueError, match="no training snapshot"):
        high_need_snapshots(D(2025, 1, 1), D(2023, 1, 1))


def test_calibration_members_are_stable_and_about_the_share():
    ids = [f"m{i:05d}" for i in range(5000)]
    held = calibration_members(ids, 0.2)
    assert 0.17 < len(held) / len(ids) < 0.23
    assert held == calibration_members(list(reversed(ids)), 0.2)


def member_frame(n: int = 3000, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for day in PLAN.all_dates():
        ip = rng.poisson(0.3, n).astype(float)
        ed = rng.poisson(0.6, n).astype(float)
        hcc = rng.gamma(2, 0.6, n)
        age = rng.integers(18, 95, n).astype(float)
        logit = -3.0 + 0.8 * ip + 0.3 * ed + 0.5 * hcc + 0.02 * (age - 60)
        p = 1 / (1 + np.exp(-logit))
        y = (rng.random(n) < p).astype(float)
        cost = rng.gamma(1.2, 3000 * (1 + ip + hcc), n)
        labelled = day != PLAN.score
        frames.append(pl.DataFrame({
            "person_id": [f"m{i:05d}" for i in range(n)],
            "as_of_date": [day] * n,
            "high_need_utilization_12m": y if labelled else [None] * n,
            "high_need_cost_12m": (cost > np.quantile(cost, 0.9)).astype(float) if labelled else [None] * n,
            "prior_cost_12m": cost,
            "sex": rng.choice(["female", "male"], n),
            "age_band": np.where(age >= 65, "65+", "18-64"),
            "dual_flag": (rng.random(n) < 0.2).astype(int),
            "ip_admissions_365d": ip, "ed_visits_365d": ed, "hcc_score": hcc, "age_years": age,
            "prior_noise": rng.normal(0, 1, n), "oracle_p_true": p, "unplanned_admissions_next_12m": y,
        }, schema_overrides={"high_need_utilization_12m": pl.Float64, "high_need_cost_12m": pl.Float64}))
    return pl.concat(frames)


@pytest.fixture(scope="module")
def frame():
    return member_frame()


@pytest.fixture(scope="module")
def model(frame):
    return train_high_need_model(frame.drop("oracle_p_true"), PLAN, features=FEATURES, seed=7)


def test_high_need_model_beats_prior_cost_on_the_same_test_rows(model):
    m = model.metrics
    assert set(m["baselines"]) == {"prior_cost", "logistic"}
    assert m["test"]["n"] == m["baselines"]["prior_cost"]["n"] == 3000
    assert m["test"]["auroc"] > m["baselines"]["prior_cost"]["auroc"]
    assert "high_need_cost_12m" in m["other_labels"]  # both labels are reported
    assert model.split["test_as_of_date"] == "2025-01-01" and model.split["label"] == "high_need_utilization_12m"
    n_train, n_cal = int(model.split["n_train"]), int(model.split["n_calibration"])
    assert n_train + 3 * n_cal == 3 * 3000  # three training snapshots; calibration members held out of all


def test_calibration_members_never_train(frame):
    from models.high_need import split_snapshots

    parts, _ = split_snapshots(frame, PLAN, "high_need_utilization_12m")
    assert not set(parts["train"]["person_id"]) & set(parts["calibration"]["person_id"])
    assert parts["calibration"]["as_of_date"].unique().to_list() == [PLAN.calibration]


def test_missing_snapshot_is_named(frame):
    with pytest.raises(ValueError, match="lacks the planned as-of dates"):
        train_high_need_model(frame.filter(pl.col("as_of_date") != PLAN.calibration), PLAN, features=FEATURES)


def test_scoring_snapshot_gets_reasons_with_the_dictionary(model, frame):
    snap = frame.filter(pl.col("as_of_date") == PLAN.score).drop("oracle_p_true")
    out = score_frame(model, snap, id_columns=("person_id", "as_of_date"), explain_top=100, dictionary=DICTIONARY)
    assert out.columns[:4] == ["person_id", "as_of_date", "score", "score_raw"]
    top = out.sort("score_raw", descending=True).head(100)
    assert top["reason_1"].null_count() == 0 and top["reason_3"].null_count() == 0
    assert top["reason_1"].str.contains(r"^(raises|lowers) risk: ").all()


def test_oracle_auroc_on_the_same_test_rows(model, frame, tmp_path):
    oracle_dir = tmp_path / "_oracle"
    oracle_dir.mkdir()
    test = frame.filter(pl.col("as_of_date") == PLAN.test)
    test.select("person_id", pl.lit("2024-12-31").alias("as_of_date"), pl.col("oracle_p_true").alias("p_high_need"),
                pl.col("high_need_utilization_12m").cast(pl.Int64).alias("high_need")).write_csv(oracle_dir / "members.csv")
    out = high_need_oracle_auroc(model.test_predictions, tmp_path, "high_need_utilization_12m", PLAN.test)
    assert out["matched_rows"] == 3000
    assert out["oracle_auroc"] >= out["model_auroc_on_matched"] - 0.02  # the truth is the ceiling
    assert "not of this label" in out["note"]  # an older oracle folder: the looser definition, said so
    assert out["on_oracle_definition"]["matched_rows"] == 3000
    # a current oracle carries the probability of the need label itself: that is the ceiling used
    pl.read_csv(oracle_dir / "members.csv").with_columns(
        pl.col("p_high_need").alias("p_high_need_utilization")).write_csv(oracle_dir / "members.csv")
    aligned = high_need_oracle_auroc(model.test_predictions, tmp_path, "high_need_utilization_12m", PLAN.test)
    assert aligned["oracle_auroc"] == out["oracle_auroc"] and "same label" in aligned["note"]
    assert "on_oracle_definition" not in aligned
    assert high_need_oracle_auroc(model.test_predictions, tmp_path, "high_need_utilization_12m", D(2025, 4, 1))["note"]
    assert high_need_oracle_auroc(model.test_predictions, tmp_path / "nowhere", "x", PLAN.test) is None
    assert readmission_oracle_auroc(model.test_predictions, tmp_path, "x") is None  # no index_stays.csv


def test_metrics_entry_has_the_agreed_fields(model, frame, tmp_path):
    from models.workflow import finish_model, metrics_entry

    test_rows = frame.filter(pl.col("as_of_date") == PLAN.test)
    oracle = {"oracle_auroc": 0.9, "model_auroc_on_matched": 0.8, "matched_rows": 3000, "test_rows": 3000}
    folder = finish_model(model, test_rows, tmp_path, capacity=150, window_column=None, oracle=oracle, dictionary=DICTIONARY)
    assert "Oracle (the demo generator's true probability, the ceiling) on 3000 of 3000" in (folder / "model_card.md").read_text()
    entry = json.loads(json.dumps(metrics_entry(model, folder, "synthetic"), default=str))
    assert set(entry["baselines"]) == {"prior_cost", "logistic"}
    assert entry["oracle_auroc"] == 0.9
    assert entry["test"]["capacity"]["selected"] == 150
    assert {"sex", "age_band", "dual_flag"} <= set(entry["fairness"]["groups"])


def test_above_the_row_cap_high_need_fits_whole_members_and_keeps_every_test_row(frame, model):
    """Three training snapshots per member: the lowered cap samples members with all their snapshots;
    the out-of-fold periods, calibration slice and test snapshot are the full model's."""
    capped = train_high_need_model(frame.drop("oracle_p_true"), PLAN, features=FEATURES, seed=7, max_train_rows=3000)
    sampling = capped.metrics["sampling"]
    assert sampling["engaged"] is True and sampling["rows"] == int(model.split["n_train"]) > 3000
    assert 3000 - 2 * 3 <= sampling["sampled_rows"] <= 3000
    assert sampling["sampled_rows"] == 3 * sampling["sampled_members"]  # every snapshot of a sampled member
    assert capped.metrics["calibration"]["oof_rows"] < model.metrics["calibration"]["oof_rows"]
    assert capped.split["n_calibration"] == model.split["n_calibration"]
    assert capped.metrics["test"]["n"] == model.metrics["test"]["n"] == 3000
    assert model.metrics["sampling"]["engaged"] is False
