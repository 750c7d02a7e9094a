from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from synthetic import AS_OF

from models.readmission import LABEL_RUNOUT_DAYS, split_stays, train_readmission_model


def test_model_beats_random_and_reports_baselines_on_same_rows(trained):
    m = trained.metrics
    assert set(m["baselines"]) == {"logistic", "lace", "hospital"}
    assert m["test"]["auroc"] > 0.65
    assert m["test"]["auroc_ci"][0] > 0.5  # the 95% CI excludes a random ranking
    assert m["test"]["auroc_ci"][0] < m["test"]["auroc"] < m["test"]["auroc_ci"][1]
    rows = {(r["n"], r["events"]) for r in [m["test"], *m["baselines"].values()]}
    assert len(rows) == 1  # every model is measured on the same test rows
    for r in [m["test"], *m["baselines"].values()]:
        assert 0 <= r["brier"] < 0.25 and r["auprc"] > r["events"] / r["n"]
        assert r["auprc_ci"][0] <= r["auprc"] <= r["auprc_ci"][1] + 0.02
        assert {"calibration_slope", "calibration_intercept", "observed_expected_ratio"} <= set(r)
    for name, r in m["baselines"].items():  # paired difference: LightGBM minus the baseline, same resamples
        d = r["vs_lightgbm"]
        assert d["auroc_difference_ci"][0] <= d["auroc_difference"] <= d["auroc_difference_ci"][1]
        assert abs(d["auroc_difference"] - (m["test"]["auroc"] - r["auroc"])) < 1e-9
    assert "claims-only" in m["baselines"]["hospital"]["label"]  # some synthetic rows have no labs


def test_split_is_temporal_and_no_label_looks_into_a_later_slice(trained, synthetic_frame):
    split = trained.split
    assert split["calibration_start"] < split["test_start"] <= split["labelable_end"] < AS_OF.isoformat()
    parts, _ = split_stays(synthetic_frame, AS_OF)
    cal_start, test_start = (dt.date.fromisoformat(split[k]) for k in ("calibration_start", "test_start"))
    # a stay's label covers 30 days after discharge: it must close before the next slice begins
    assert parts["train"]["discharge_date"].max() + dt.timedelta(days=30) < cal_start
    assert parts["calibration"]["discharge_date"].max() + dt.timedelta(days=30) < test_start
    assert parts["test"]["discharge_date"].min() >= test_start
    # the last labelled stay's window closed LABEL_RUNOUT_DAYS before the as-of: its readmissions are billed
    assert parts["test"]["discharge_date"].max() + dt.timedelta(days=30 + LABEL_RUNOUT_DAYS) < AS_OF
    assert int(split["n_test"]) == trained.metrics["test"]["n"] == trained.test_predictions.height
    for part in parts.values():
        assert part["readmit_30d"].null_count() == 0


def test_history_start_drops_training_rows_with_truncated_lookback(synthetic_frame):
    start = dt.date(2021, 1, 1)
    parts, split = split_stays(synthetic_frame, AS_OF, history_start=start)
    assert parts["train"]["discharge_date"].min() >= dt.date(2022, 1, 1)
    assert split["train_start"] >= "2022-01-01"


def test_training_is_seeded(synthetic_frame, trained):
    again = train_readmission_model(synthetic_frame, AS_OF, seed=7)
    x = synthetic_frame.select(trained.feature_names).to_numpy()[:200]
    np.testing.assert_array_equal(again.predict(x), trained.predict(x))
    assert again.search == trained.search


def test_search_keeps_a_small_model_unless_a_bigger_one_pays(trained):
    chosen = [s for s in trained.search if s["chosen"]]
    assert len(chosen) == 1
    best = max(s["calibration_auroc"] for s in trained.search)
    assert chosen[0]["calibration_auroc"] >= best - 0.002
    assert trained.booster.num_trees() == chosen[0]["trees"] == trained.params["num_boost_round"]


def test_refuses_too_little_history(synthetic_frame):
    recent = synthetic_frame.filter(pl.col("discharge_date") >= dt.date(2023, 12, 1))
    with pytest.raises(ValueError, match="train slice has"):
        train_readmission_model(recent, AS_OF)
