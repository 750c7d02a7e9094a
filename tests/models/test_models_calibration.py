"""Calibration that holds where it is used: out-of-fold calibration chosen out of time, the shrunk
regime below the events-per-feature floor, exact Poisson O/E intervals, the promotion gate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from models.calibration import fit_offset, fit_out_of_fold_calibrator, log_loss
from models.metrics import calibration_fit, observed_expected, oe_excludes_one
from models.promotion import compare
from models.training import MIN_EVENTS_PER_FEATURE, SHRUNK_SEARCH, TaskSpec, choose_regime, oof_folds


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _miscalibrated(n: int, seed: int, shift: float = 0.0):
    """A raw score that is over-confident (true logit = 0.5 x raw logit - 1) and, with ``shift``,
    a base rate that moves in the last block."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 2.0, n)
    block = np.repeat(np.arange(5), n // 5)
    true = _sigmoid(0.5 * z - 1.0 + shift * (block == 4))
    y = (rng.random(n) < true).astype(int)
    return _sigmoid(z), y, block, true


def test_out_of_fold_calibration_recovers_an_over_confident_score():
    raw, y, block, true = _miscalibrated(20_000, seed=1)
    cal, record = fit_out_of_fold_calibrator(raw, y, block)
    assert record["method"] in ("platt", "isotonic") and set(record["out_of_time_log_loss"]) == {"platt", "isotonic"}
    fit = calibration_fit(y, cal.apply(raw))
    assert fit["slope_ci"][0] <= 1.0 <= fit["slope_ci"][1]
    assert calibration_fit(y, raw)["slope"] < 0.6  # the raw score was badly off
    assert np.abs(cal.apply(raw) - true).mean() < 0.02


def test_platt_wins_on_few_rows_and_isotonic_on_a_shape_platt_cannot_follow():
    raw, y, block, _ = _miscalibrated(1_000, seed=2)  # logistic truth, few rows: steps overfit
    assert fit_out_of_fold_calibrator(raw, y, block)[1]["method"] == "platt"
    rng = np.random.default_rng(3)
    n = 40_000
    raw = rng.random(n)
    true = np.where(raw < 0.5, 0.05, 0.6)  # a step: no sigmoid of logit(raw) follows it
    y = (rng.random(n) < true).astype(int)
    cal, record = fit_out_of_fold_calibrator(raw, y, np.repeat(np.arange(5), n // 5))
    assert record["method"] == "isotonic"
    assert record["out_of_time_log_loss"]["isotonic"] < record["out_of_time_log_loss"]["platt"]


def test_the_shift_follows_the_recent_base_rate_and_shrinks_on_few_events():
    raw, y, block, _ = _miscalibrated(50_000, seed=4, shift=0.5)
    cal, record = fit_out_of_fold_calibrator(raw, y, block)
    recent = block == 4
    assert record["offset_weight"] > 0.9 and record["offset"] > 0.3
    assert abs(y[recent].sum() / cal.apply(raw[recent]).sum() - 1) < 0.05
    small = np.r_[np.flatnonzero(~recent)[:4000], np.flatnonzero(recent)[:60]]
    _, few = fit_out_of_fold_calibrator(raw[small], y[small], block[small])
    assert few["offset_weight"] < 0.5 and abs(few["offset"]) < abs(few["offset_unshrunk"])


def test_a_stable_base_rate_earns_the_recent_period_no_shift():
    """Chance differences between periods are not drift: with the same base rate in every block,
    DerSimonian-Laird finds no between-period variance and the recent block's deviation is not followed."""
    raw, y, block, _ = _miscalibrated(50_000, seed=6)
    _, record = fit_out_of_fold_calibrator(raw, y, block)
    assert record["drift"]["periods"] == 5
    assert record["drift_sd"] < 0.05  # chance alone moves a block's shift by about 0.03 here
    assert abs(record["offset"]) < 0.01 and record["offset_weight"] < 0.6


def test_drift_between_snapshot_periods_is_measured_on_the_periods_not_the_member_folds():
    """High-need's folds are member groups of the same snapshots: drift lives between snapshot dates."""
    raw, y, block, _ = _miscalibrated(50_000, seed=7, shift=0.5)
    member_fold = np.tile(np.arange(5), len(y) // 5)  # every fold spans every period
    _, by_fold = fit_out_of_fold_calibrator(raw, y, member_fold)
    assert by_fold["drift_sd"] < 0.05  # the folds alone hide the drift
    _, by_period = fit_out_of_fold_calibrator(raw, y, member_fold, period=block)
    assert by_period["drift_sd"] > 0.1


def test_fit_offset_matches_the_observed_count():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.3, 3000)
    y = (rng.random(3000) < np.clip(p * 1.5, 0, 1)).astype(int)
    shifted = _sigmoid(np.log(p / (1 - p)) + fit_offset(p, y))
    assert shifted.sum() == pytest.approx(y.sum(), rel=1e-6)
    assert log_loss(y, shifted) < log_loss(y, p)


def test_time_folds_leave_out_the_rows_whose_label_window_reaches_the_held_out_block():
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(400)]
    frame = pl.DataFrame({"discharge_date": dates, "person_id": [f"p{i % 50}" for i in range(400)]})
    spec = TaskSpec("readmission", "t", "y", "", "discharge_date", ("a",), ("person_id",))
    folds = oof_folds(frame, spec, folds=4)
    assert len(folds) == 4 and sum(int(h.sum()) for _, h in folds) == 400
    d = frame["discharge_date"].to_numpy()
    for fit, held in folds[1:]:
        start = d[held].min()
        assert not (fit & (d < start) & (d >= start - np.timedelta64(30, "D"))).any()
        assert not (fit & held).any()
    member_spec = TaskSpec("high_need", "t", "y", "", "discharge_date", ("a",), ("person_id",), fold_by="person_id")
    for fit, held in oof_folds(frame, member_spec, folds=4):
        assert not set(frame.filter(pl.Series(fit))["person_id"]) & set(frame.filter(pl.Series(held))["person_id"])


def test_below_the_events_per_feature_floor_the_model_shrinks():
    n_features = 34
    full = choose_regime(MIN_EVENTS_PER_FEATURE * n_features, n_features)
    assert full.name == "full" and full.max_features == n_features and full.params == {}
    small = choose_regime(MIN_EVENTS_PER_FEATURE * n_features - 1, n_features)
    assert small.name == "shrunk" and small.search == SHRUNK_SEARCH
    assert small.max_features < n_features and small.params["lambda_l2"] > 1.0
    assert max(leaves for leaves, _ in small.search) < 15
    assert "below" in small.reason and str(small.events) in small.reason


def test_shrunk_model_uses_only_the_kept_features(synthetic_frame):
    from synthetic import AS_OF

    from models.readmission import train_readmission_model

    few = synthetic_frame.filter(pl.col("readmit_30d") == 0).vstack(
        synthetic_frame.filter(pl.col("readmit_30d") == 1).sample(fraction=0.25, seed=1)).sort("discharge_date")
    model = train_readmission_model(few, AS_OF, seed=7)
    regime = model.metrics["regime"]
    assert regime["name"] == "shrunk" and model.metrics["test"]["calibration_regime"] == "shrunk"
    used = {f for f, g in zip(model.feature_names, model.booster.feature_importance("gain"), strict=True) if g > 0}
    assert used <= set(regime["features_used"]) and len(regime["features_used"]) == regime["max_features"]


def test_exact_poisson_interval_of_observed_over_expected():
    r = observed_expected(10, 10)
    assert r["oe"] == 1.0
    assert r["oe_ci"] == pytest.approx([0.4795389, 1.8390356], rel=1e-6)  # Garwood interval for 10 events
    assert observed_expected(0, 4)["oe_ci"][0] == 0.0
    assert observed_expected(0, 4)["oe_ci"][1] == pytest.approx(3.6888794 / 4, rel=1e-6)
    assert oe_excludes_one(observed_expected(200, 100)["oe_ci"]) and not oe_excludes_one(r["oe_ci"])


def _card(auroc, brier, oe, ci):
    return {"task_key": "readmission", "metrics": {"test": {"auroc": auroc, "brier": brier, "oe": oe, "oe_ci": ci}}}


def test_promotion_refuses_a_candidate_whose_oe_interval_excludes_one_when_the_current_does_not():
    current = _card(0.70, 0.10, 1.02, [0.90, 1.15])
    promoted, why = compare(_card(0.72, 0.09, 1.40, [1.20, 1.62]), current)
    assert not promoted and "O/E interval excludes 1" in why and "1.40" in why
    assert compare(_card(0.72, 0.09, 1.05, [0.92, 1.19]), current)[0]
    # both off: the O/E gate does not decide (AUROC and Brier do)
    assert compare(_card(0.72, 0.09, 1.40, [1.20, 1.62]), _card(0.70, 0.10, 1.5, [1.3, 1.7]))[0]
