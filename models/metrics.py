"""Evaluation metrics: AUROC/AUPRC with vectorised bootstrap CIs, Brier, calibration, top-k use."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

BOOTSTRAP_REPS = 200


def _auroc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AUROC of each row of (reps, n) label/score matrices by the rank-sum formula."""
    ranks = rankdata(s, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    rank_sum = (ranks * y).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _auprc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Average precision of each row (step-wise, as sklearn computes it; ties broken by order)."""
    order = np.argsort(-s, axis=1, kind="stable")
    ys = np.take_along_axis(y, order, axis=1)
    tp = np.cumsum(ys, axis=1)
    precision = tp / np.arange(1, y.shape[1] + 1)
    n_pos = y.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (precision * ys).sum(axis=1) / n_pos


def _bootstrap_indices(n: int, reps: int, seed: int, max_cells: int = 20_000_000) -> list[np.ndarray]:
    """Replicate index matrices, drawn in chunks so memory stays under ``max_cells`` cells."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, max_cells // max(n, 1))
    chunks, left = [], reps
    while left > 0:
        m = min(per_chunk, left)
        chunks.append(rng.integers(0, n, size=(m, n)))
        left -= m
    return chunks


def bootstrap_ci(
    y: np.ndarray, score: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 7
) -> dict[str, tuple[float, float]]:
    """95% percentile bootstrap CIs of AUROC and AUPRC from the same resamples of the rows."""
    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    aucs, aps = [], []
    for idx in _bootstrap_indices(len(y), reps, seed):
        yy, ss = y[idx], score[idx]
        aucs.append(_auroc_rows(yy, ss))
        aps.append(_auprc_rows(yy, ss))
    out = {}
    for name, values in (("auroc", np.concatenate(aucs)), ("auprc", np.concatenate(aps))):
        values = values[np.isfinite(values)]
        lo, hi = np.percentile(values, [2.5, 97.5])
        out[name] = (float(lo), float(hi))
    return out


def bootstrap_auroc_ci(y: np.ndarray, score: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 7) -> tuple[float, float]:
    """95% percentile bootstrap CI of AUROC."""
    return bootstrap_ci(y, score, reps=reps, seed=seed)["auroc"]


def paired_auroc_difference(
    y: np.ndarray, model_score: np.ndarray, other_score: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 7,
) -> dict:
    """AUROC(model) - AUROC(other) on the same rows, with a 95% CI from paired resamples (both
    scores on each resample): the direct test of "better", tighter than comparing two intervals."""
    y = np.asarray(y, dtype=float)
    a, b = np.asarray(model_score, dtype=float), np.asarray(other_score, dtype=float)
    diffs = []
    for idx in _bootstrap_indices(len(y), reps, seed):
        yy = y[idx]
        diffs.append(_auroc_rows(yy, a[idx]) - _auroc_rows(yy, b[idx]))
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    lo, hi = np.percentile(d, [2.5, 97.5])
    point = float(roc_auc_score(y.astype(int), a) - roc_auc_score(y.astype(int), b))
    return {"auroc_difference": point, "auroc_difference_ci": [float(lo), float(hi)]}


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration y ~ a + b * logit(p), unpenalised (lbfgs); returns (slope b, intercept a).

    (A plain Newton-Raphson from (0, 1) diverges on over-confident predictions; lbfgs does not.)"""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    fit = LogisticRegression(C=np.inf, max_iter=1000, tol=1e-10).fit(logit, np.asarray(y, dtype=int))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Reliability table by deciles of predicted risk: n, mean predicted, observed rate per bin."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if len(part):
            out.append({"n": int(len(part)), "mean_predicted": float(p[part].mean()), "observed": float(y[part].mean())})
    return out


def evaluate(y: np.ndarray, score: np.ndarray, prob: np.ndarray | None, seed: int = 7, reps: int = BOOTSTRAP_REPS) -> dict:
    """Metrics for one model on one set of rows. ``score`` ranks; ``prob`` (if any) is a probability.

    Raises ValueError when the rows hold only one class (a metric of 0.0 would hide a broken run).
    """
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    events = int(y.sum())
    if events == 0 or events == len(y):
        raise ValueError(f"cannot evaluate on {len(y)} rows with {events} events: need both classes")
    ci = bootstrap_ci(y, score, reps=reps, seed=seed)
    out: dict = {
        "n": int(len(y)),
        "events": events,
        "auroc": float(roc_auc_score(y, score)),
        "auroc_ci": list(ci["auroc"]),
        "auprc": float(average_precision_score(y, score)),
        "auprc_ci": list(ci["auprc"]),
    }
    if prob is not None:
        prob = np.asarray(prob, dtype=float)
        slope, intercept = calibration_slope_intercept(y, prob)
        out.update(
            brier=float(brier_score_loss(y, prob)),
            calibration_slope=slope,
            calibration_intercept=intercept,
            mean_predicted=float(np.mean(prob)),
            observed_rate=float(np.mean(y)),
            observed_expected_ratio=float(np.mean(y) / np.mean(prob)) if np.mean(prob) > 0 else float("nan"),
        )
    return out


def top_k_selection(score: np.ndarray, k: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the ``k`` highest scores (ties broken by position), within each group if given
    (e.g. one intake window per discharge month)."""
    score = np.asarray(score, dtype=float)
    selected = np.zeros(len(score), dtype=bool)
    if groups is None:
        groups = np.zeros(len(score), dtype=int)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        top = idx[np.argsort(-score[idx], kind="stable")[: max(0, min(k, len(idx)))]]
        selected[top] = True
    return selected


def selection_metrics(y: np.ndarray, selected: np.ndarray) -> dict:
    """PPV, sensitivity and lift (PPV / prevalence) of a selected set."""
    y = np.asarray(y, dtype=int)
    n_sel, tp = int(selected.sum()), int(y[selected].sum())
    prevalence = float(y.mean())
    ppv = tp / n_sel if n_sel else float("nan")
    return {
        "selected": n_sel,
        "true_positives": tp,
        "ppv": ppv,
        "sensitivity": tp / int(y.sum()) if y.sum() else float("nan"),
        "lift": ppv / prevalence if n_sel and prevalence > 0 else float("nan"),
    }
