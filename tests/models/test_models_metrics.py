from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from models.metrics import (
    bootstrap_ci, calibration_slope_intercept, evaluate, paired_auroc_difference, selection_metrics, top_k_selection,
)


def _data(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 6, n)
    return (rng.random(n) < p).astype(int), p


def test_bootstrap_intervals_bracket_the_point_estimates():
    y, p = _data()
    ci = bootstrap_ci(y, p)
    assert ci["auroc"][0] < roc_auc_score(y, p) < ci["auroc"][1]
    assert ci["auprc"][0] < average_precision_score(y, p) < ci["auprc"][1]
    assert ci["auroc"][1] - ci["auroc"][0] < 0.1


def test_calibration_of_true_probabilities_is_near_ideal():
    y, p = _data(20000)
    slope, intercept = calibration_slope_intercept(y, p)
    assert abs(slope - 1) < 0.1 and abs(intercept) < 0.2
    r = evaluate(y, p, p)
    assert 0.9 < r["observed_expected_ratio"] < 1.1
    logit = np.log(p / (1 - p))
    slope2, _ = calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * logit)))  # over-confident: slope ~0.5
    assert abs(slope2 - 0.5) < 0.1


def test_top_k_is_taken_within_each_window():
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
    window = np.array(["a", "a", "a", "b", "b", "b"])
    sel = top_k_selection(score, 2, window)
    assert sel.tolist() == [True, True, False, False, True, True]
    m = selection_metrics(np.array([1, 0, 0, 0, 0, 1]), sel)
    assert m["selected"] == 4 and m["true_positives"] == 2
    assert m["ppv"] == 0.5 and m["sensitivity"] == 1.0 and m["lift"] == pytest.approx(0.5 / (2 / 6))


def test_evaluate_refuses_one_class():
    with pytest.raises(ValueError, match="need both classes"):
        evaluate(np.zeros(10), np.random.default_rng(0).random(10), None)


@pytest.mark.parametrize("tied", [False, True])
def test_a_bootstrap_replicate_scores_as_sklearn_on_the_resampled_rows(tied):
    """Replicates are row multiplicities over one sort; each must equal sklearn on the rows drawn."""
    from models.metrics import _Ranked, _weighted_auprc, _weighted_auroc

    rng = np.random.default_rng(11)
    y = (rng.random(400) < 0.2).astype(float)
    score = rng.integers(0, 12, 400).astype(float) if tied else rng.random(400)
    ranked = _Ranked(y, score)
    position = np.argsort(ranked.order)  # row -> its place in score order
    for _ in range(10):
        rows = rng.integers(0, 400, 400)
        weights = np.bincount(position[rows], minlength=400)[None, :]
        pos, neg = ranked.positives_negatives(weights)
        assert _weighted_auroc(pos, neg)[0] == pytest.approx(roc_auc_score(y[rows], score[rows]), abs=1e-12)
        assert _weighted_auprc(pos, neg)[0] == pytest.approx(average_precision_score(y[rows], score[rows]), abs=1e-12)


def _scores(n: int = 4000, seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 1.2 * x)))).astype(int)
    return y, x + rng.normal(0, 0.5, n), x + rng.normal(0, 1.0, n)


def test_analytic_intervals_engage_only_above_the_cap_and_agree_with_the_bootstrap():
    y, good, worse = _scores()
    at_cap = bootstrap_ci(y, good, max_rows=len(y))
    assert at_cap == bootstrap_ci(y, good)  # the default cap is far above 4,000 rows: the bootstrap
    analytic = bootstrap_ci(y, good, max_rows=len(y) - 1)
    for metric in ("auroc", "auprc"):
        assert analytic[metric] != at_cap[metric]
        assert analytic[metric][0] == pytest.approx(at_cap[metric][0], abs=0.015)
        assert analytic[metric][1] == pytest.approx(at_cap[metric][1], abs=0.015)
    lo, hi = analytic["auroc"]
    assert lo < roc_auc_score(y, good) < hi
    boot = paired_auroc_difference(y, good, worse, max_rows=len(y))
    delong = paired_auroc_difference(y, good, worse, max_rows=len(y) - 1)
    assert boot["auroc_difference"] == delong["auroc_difference"]
    assert delong["auroc_difference_ci"] == pytest.approx(boot["auroc_difference_ci"], abs=0.01)
    assert boot["interval"].startswith("percentile bootstrap") and delong["interval"].startswith("analytic")
    assert evaluate(y, good, None)["ci_method"].startswith("percentile bootstrap, 200 resamples")
    assert evaluate(y, good, None, max_rows=100)["ci_method"].startswith("analytic")
