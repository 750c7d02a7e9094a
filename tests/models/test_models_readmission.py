from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from synthetic import AS_OF

from models.readmission import train_readmission_model


def test_model_beats_random_and_reports_baselines_on_same_rows(trained):
    m = trained.metrics
    assert set(m) == {"lightgbm", "lightgbm_uncalibrated", "logistic_regression", "lace"}
    assert m["lightgbm"]["auroc"] > 0.65
    assert m["lightgbm"]["auroc_ci"][0] > 0.5  # the 95% CI excludes a random ranking
    assert m["lightgbm"]["auroc_ci"][0] < m["lightgbm"]["auroc"] < m["lightgbm"]["auroc_ci"][1] + 0.02
    assert len({(v["n"], v["events"]) for v in m.values()}) == 1
    for v in m.values():
        assert 0 <= v["brier"] < 0.25 and v["auprc"] > v["events"] / v["n"]


def test_split_is_temporal_and_only_labelled_rows_are_used(trained, synthetic_frame):
    split = trained.split
    assert split["calibration_start"] < split["test_start"] <= split["labelable_end"] < AS_OF.isoformat()
    n_used = int(split["n_train"]) + int(split["n_calibration"]) + int(split["n_test"])
    assert n_used == synthetic_frame.filter(pl.col("readmit_30d").is_not_null()).height
    assert int(split["n_test"]) == trained.metrics["lightgbm"]["n"]


def test_training_is_seeded(synthetic_frame, trained):
    again = train_readmission_model(synthetic_frame, AS_OF, seed=7)
    x = synthetic_frame.select(trained.feature_names).to_numpy()[:200]
    np.testing.assert_array_equal(again.predict(x), trained.predict(x))


def test_refuses_too_little_history(synthetic_frame):
    recent = synthetic_frame.filter(pl.col("discharge_date") >= dt.date(2023, 12, 1))
    with pytest.raises(ValueError, match="train slice has"):
        train_readmission_model(recent, AS_OF)
