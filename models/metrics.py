"""Evaluation metrics: AUROC with a vectorised bootstrap CI, AUPRC, Brier, calibration."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _auroc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AUROC of each row of (reps, n) label/score matrices by the rank-sum formula."""
    ranks = rankdata(s, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    rank_sum = (ranks * y).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def bootstrap_auroc_ci(y: np.ndarray, score: np.ndarray, reps: int = 200, seed: int = 7) -> tuple[float, float]:
    """95% percentile bootstrap CI of AUROC; all replicates drawn and ranked at once."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(reps, len(y)))
    aucs = _auroc_rows(y[idx].astype(float), score[idx])
    aucs = aucs[np.isfinite(aucs)]
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray, iterations: int = 25) -> tuple[float, float]:
    """Logistic recalibration y ~ a + b * logit(p) by Newton-Raphson; returns (slope b, intercept a)."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    x = np.column_stack([np.ones_like(p), np.log(p / (1 - p))])
    beta = np.array([0.0, 1.0])
    for _ in range(iterations):
        mu = 1 / (1 + np.exp(-(x @ beta)))
        w = mu * (1 - mu)
        hessian = x.T @ (x * w[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return float(beta[1]), float(beta[0])


def evaluate(y: np.ndarray, score: np.ndarray, prob: np.ndarray | None, seed: int = 7, reps: int = 200) -> dict:
    """Metrics for one model on one set of rows. ``score`` ranks; ``prob`` (if any) is a probability."""
    y = np.asarray(y, dtype=int)
    events = int(y.sum())
    if events == 0 or events == len(y):
        raise ValueError(f"cannot evaluate on {len(y)} rows with {events} events: need both classes")
    out: dict = {
        "n": int(len(y)),
        "events": events,
        "auroc": float(roc_auc_score(y, score)),
        "auroc_ci": list(bootstrap_auroc_ci(y, np.asarray(score, dtype=float), reps=reps, seed=seed)),
        "auprc": float(average_precision_score(y, score)),
    }
    if prob is not None:
        slope, intercept = calibration_slope_intercept(y.astype(float), np.asarray(prob, dtype=float))
        out.update(
            brier=float(brier_score_loss(y, prob)),
            calibration_slope=slope,
            calibration_intercept=intercept,
            mean_predicted=float(np.mean(prob)),
            observed_rate=float(np.mean(y)),
        )
    return out
