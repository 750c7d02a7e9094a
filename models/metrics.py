"""Evaluation metrics: AUROC/AUPRC with bootstrap CIs (one sort per score, each replicate a weighted
sum; analytic intervals above BOOTSTRAP_MAX_ROWS rows), Brier, calibration, top-k use."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2, rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from data_contracts.errors import RiskstratDataError

BOOTSTRAP_REPS = 200
# Above this many rows AUROC / AUPRC intervals are analytic (DeLong; logit for AUPRC) instead of
# BOOTSTRAP_REPS resamples, whose cost grows with rows: the high-need test snapshot has about 84k
# rows at 100k members (bootstrap, unchanged), 169k at 200k and about 840k at 1M, where 200
# resamples of 7 intervals would take about a minute. At 169k rows the two methods agree to the
# third decimal (docs/models.md, "Training at scale").
BOOTSTRAP_MAX_ROWS = 120_000
Z95 = 1.959963984540054


class _Ranked:
    """Labels sorted once by score, with the groups of equal score, so a bootstrap replicate
    (a vector of row multiplicities in this order) costs O(n) sums instead of a sort."""

    def __init__(self, y: np.ndarray, score: np.ndarray):
        self.order = np.argsort(score, kind="stable")
        self.y = y[self.order]
        ordered = score[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])

    def positives_negatives(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per replicate (row), positive and negative weight of each tie group, ascending score."""
        pos = weights * self.y
        neg = weights - pos
        if len(self.starts) < len(self.y):  # tied scores: one group each
            pos = np.add.reduceat(pos, self.starts, axis=1)
            neg = np.add.reduceat(neg, self.starts, axis=1)
        return pos, neg


class OneClassEvaluation(RiskstratDataError, ValueError):
    """The rows to evaluate hold one class only (too few labelled rows in this extract)."""


def _weighted_auroc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUROC per replicate from positive/negative weights per ascending tie group: the share of
    (positive, negative) pairs ranked right, ties counting one half (the rank-sum statistic)."""
    neg_below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def _weighted_auprc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision per replicate with one threshold per distinct score, as sklearn's
    average_precision_score: sum over thresholds (descending) of recall gained x precision."""
    pos, neg = pos[:, ::-1], neg[:, ::-1]
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        return (pos * precision).sum(axis=1) / pos.sum(axis=1)


def _bootstrap_weights(n: int, reps: int, seed: int, max_cells: int = 5_000_000):
    """Row multiplicities of ``reps`` bootstrap resamples of n rows (each replicate draws n row
    indices with replacement), yielded in chunks of (replicates, n) under ``max_cells`` cells."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, max_cells // max(n, 1))
    left = reps
    while left > 0:
        m = min(per_chunk, left)
        idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=m * n).reshape(m, n)
        left -= m


def _percentile_ci(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def interval_method(n: int, max_rows: int = BOOTSTRAP_MAX_ROWS, reps: int = BOOTSTRAP_REPS) -> str:
    """How the AUROC / AUPRC intervals of ``n`` rows are computed (``bootstrap_ci``), in words."""
    if n <= max_rows:
        return f"percentile bootstrap, {reps} resamples of the {n} rows"
    return (f"analytic ({n} rows, above {max_rows}): DeLong for AUROC and paired AUROC differences, "
            "logit interval for AUPRC (Boyd et al. 2013)")


def _delong(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUROC of each score and the DeLong covariance matrix of those AUROCs (midranks, so ties count
    one half as in the rank-sum statistic; the fast form of Sun and Xu 2014, O(n log n) per score)."""
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    aucs, v_pos, v_neg = [], [], []
    for s in scores:
        all_ranks = rankdata(s)
        pos_ranks, neg_ranks = all_ranks[pos], all_ranks[~pos]
        # per positive: share of negatives ranked below it; per negative: share of positives above it
        placement_pos = (pos_ranks - rankdata(s[pos])) / n
        placement_neg = 1.0 - (neg_ranks - rankdata(s[~pos])) / m
        aucs.append(placement_pos.mean())
        v_pos.append(placement_pos)
        v_neg.append(placement_neg)
    cov = np.atleast_2d(np.cov(np.vstack(v_pos))) / m + np.atleast_2d(np.cov(np.vstack(v_neg))) / n
    return np.asarray(aucs), cov


def delong_auroc_ci(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """95% DeLong interval of AUROC (Wald on the AUROC scale, clipped to [0, 1])."""
    auc, cov = _delong(np.asarray(y, dtype=float), [np.asarray(score, dtype=float)])
    half = Z95 * float(np.sqrt(cov[0, 0]))
    return max(0.0, float(auc[0]) - half), min(1.0, float(auc[0]) + half)


def logit_auprc_ci(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """95% logit interval of average precision (Boyd, Eng and Page 2013): expit(logit(AP) +/- z /
    sqrt(positives x AP x (1 - AP)))."""
    y = np.asarray(y, dtype=int)
    ap = float(np.clip(average_precision_score(y, score), 1e-9, 1 - 1e-9))
    half = Z95 / np.sqrt(y.sum() * ap * (1 - ap))
    eta = np.log(ap / (1 - ap))
    return float(1 / (1 + np.exp(-(eta - half)))), float(1 / (1 + np.exp(-(eta + half))))


def bootstrap_ci(
    y: np.ndarray, score: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 7, max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> dict[str, tuple[float, float]]:
    """95% percentile bootstrap CIs of AUROC and AUPRC from the same resamples of the rows; above
    ``max_rows`` rows the analytic intervals instead (``delong_auroc_ci``, ``logit_auprc_ci``):
    every replicate costs O(rows), and at that size the normal approximation they rest on holds."""
    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    if len(y) > max_rows:
        return {"auroc": delong_auroc_ci(y, score), "auprc": logit_auprc_ci(y, score)}
    ranked = _Ranked(y, score)
    aucs, aps = [], []
    # rows are numbered in score order: a replicate draws n of them uniformly either way
    for w in _bootstrap_weights(len(y), reps, seed):
        pos, neg = ranked.positives_negatives(w)
        aucs.append(_weighted_auroc(pos, neg))
        aps.append(_weighted_auprc(pos, neg))
    return {"auroc": _percentile_ci(np.concatenate(aucs)), "auprc": _percentile_ci(np.concatenate(aps))}


def bootstrap_auroc_ci(y: np.ndarray, score: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 7) -> tuple[float, float]:
    """95% percentile bootstrap CI of AUROC."""
    return bootstrap_ci(y, score, reps=reps, seed=seed)["auroc"]


def paired_auroc_difference(
    y: np.ndarray, model_score: np.ndarray, other_score: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 7,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> dict:
    """AUROC(model) - AUROC(other) on the same rows, with a 95% CI from paired resamples (both
    scores on each resample): the direct test of "better", tighter than comparing two intervals.
    Above ``max_rows`` rows the paired DeLong interval (the difference's variance from the two
    AUROCs' DeLong covariance) instead of resamples."""
    y = np.asarray(y, dtype=float)
    a, b = np.asarray(model_score, dtype=float), np.asarray(other_score, dtype=float)
    point = float(roc_auc_score(y.astype(int), a) - roc_auc_score(y.astype(int), b))
    if len(y) > max_rows:
        _, cov = _delong(y, [a, b])
        half = Z95 * float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
        return {"auroc_difference": point, "auroc_difference_ci": [point - half, point + half],
                "interval": interval_method(len(y), max_rows, reps)}
    ra, rb = _Ranked(y, a), _Ranked(y, b)
    # replicate weights are drawn in a's score order; b's order reads them through a's positions
    a_position = np.empty(len(y), dtype=np.int64)
    a_position[ra.order] = np.arange(len(y))
    b_from_a = a_position[rb.order]
    diffs = []
    for w in _bootstrap_weights(len(y), reps, seed):
        diffs.append(_weighted_auroc(*ra.positives_negatives(w)) - _weighted_auroc(*rb.positives_negatives(w[:, b_from_a])))
    return {"auroc_difference": point, "auroc_difference_ci": list(_percentile_ci(np.concatenate(diffs))),
            "interval": interval_method(len(y), max_rows, reps)}


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration y ~ a + b * logit(p), unpenalised (lbfgs); returns (slope b, intercept a).

    (A plain Newton-Raphson from (0, 1) diverges on over-confident predictions; lbfgs does not.)"""
    fit = calibration_fit(y, p)
    return fit["slope"], fit["intercept"]


def calibration_fit(y: np.ndarray, p: np.ndarray) -> dict:
    """Slope and intercept of y ~ a + b * logit(p) with 95% Wald intervals (inverse Fisher information
    at the fit)."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p))
    y = np.asarray(y, dtype=int)
    fit = LogisticRegression(C=np.inf, max_iter=1000, tol=1e-10).fit(logit.reshape(-1, 1), y)
    a, b = float(fit.intercept_[0]), float(fit.coef_[0, 0])
    mu = 1 / (1 + np.exp(-(a + b * logit)))
    w = mu * (1 - mu)
    info = np.array([[w.sum(), (w * logit).sum()], [(w * logit).sum(), (w * logit * logit).sum()]])
    se_a, se_b = np.sqrt(np.diag(np.linalg.inv(info)))
    return {"slope": b, "slope_ci": [float(b - Z95 * se_b), float(b + Z95 * se_b)],
            "intercept": a, "intercept_ci": [float(a - Z95 * se_a), float(a + Z95 * se_a)]}


def observed_expected(observed: float, expected: float, alpha: float = 0.05) -> dict:
    """O/E with the exact (Garwood) Poisson interval for the observed count, divided by the expected
    count: [chi2(alpha/2; 2 O) / 2, chi2(1 - alpha/2; 2 O + 2) / 2] / E (lower bound 0 when O = 0)."""
    observed, expected = float(observed), float(expected)
    if expected <= 0:
        raise ValueError(f"O/E needs a positive expected count, got {expected}")
    low = chi2.ppf(alpha / 2, 2 * observed) / 2 if observed > 0 else 0.0
    high = chi2.ppf(1 - alpha / 2, 2 * observed + 2) / 2
    return {"oe": observed / expected, "oe_ci": [float(low / expected), float(high / expected)]}


def logistic_comparison_text(vs: dict) -> str:
    """The decided LightGBM-vs-logistic comparison (``metrics.json`` ``vs_logistic``) in one phrase,
    for the model card and the program report alike."""
    low, high = vs["auroc_difference_ci"]
    return (f"paired AUROC difference on the same rows {vs['auroc_difference']:+.3f} ({low:+.3f} to {high:+.3f}): "
            f"{vs['verdict']} (non-inferiority margin {vs['margin']:+.2f})")


def oe_excludes_one(ci: list | tuple | None) -> bool:
    """True when an O/E interval lies wholly above or below 1 (probabilities off in the large)."""
    return bool(ci) and (ci[0] > 1.0 or ci[1] < 1.0)


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Reliability table by deciles of predicted risk: n, mean predicted, observed rate per bin."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if len(part):
            out.append({"n": int(len(part)), "mean_predicted": float(p[part].mean()), "observed": float(y[part].mean())})
    return out


def evaluate(
    y: np.ndarray, score: np.ndarray, prob: np.ndarray | None, seed: int = 7, reps: int = BOOTSTRAP_REPS,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> dict:
    """Metrics for one model on one set of rows. ``score`` ranks; ``prob`` (if any) is a probability.

    Raises ValueError when the rows hold only one class (a metric of 0.0 would hide a broken run).
    """
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    events = int(y.sum())
    if events == 0 or events == len(y):
        raise OneClassEvaluation(f"cannot evaluate on {len(y)} rows with {events} events: need both classes")
    ci = bootstrap_ci(y, score, reps=reps, seed=seed, max_rows=max_rows)
    out: dict = {
        "n": int(len(y)),
        "events": events,
        "auroc": float(roc_auc_score(y, score)),
        "auroc_ci": list(ci["auroc"]),
        "auprc": float(average_precision_score(y, score)),
        "auprc_ci": list(ci["auprc"]),
        "ci_method": interval_method(len(y), max_rows, reps),
    }
    if prob is not None:
        prob = np.asarray(prob, dtype=float)
        cal = calibration_fit(y, prob)
        oe = observed_expected(events, prob.sum()) if prob.sum() > 0 else {"oe": float("nan"), "oe_ci": None}
        out.update(
            brier=float(brier_score_loss(y, prob)),
            calibration_slope=cal["slope"],
            calibration_slope_ci=cal["slope_ci"],
            calibration_intercept=cal["intercept"],
            calibration_intercept_ci=cal["intercept_ci"],
            mean_predicted=float(np.mean(prob)),
            observed_rate=float(np.mean(y)),
            observed_expected_ratio=oe["oe"],
            oe=oe["oe"],
            oe_ci=oe["oe_ci"],
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
