"""The average effect of a binary treatment on the treated (ATT), and what is printed beside it.

``estimate_att`` is doubly robust with cross-fitting. The two nuisance models (LightGBM propensity
and outcome models) are fitted per fold the way EconML's ``DRLearner`` fits them (a test holds the
predictions equal bit for bit), but directly: DRLearner also fits a final stage and makes 21
predictions per cell where the ATT uses 6, and it cannot reuse a propensity that several outcomes
share. Folds hold whole members (a member's stays never sit on both sides of a split) and are
stratified by arm. The ATT is then the mean of the doubly robust ATT score (the "ATTE" score of
Chernozhukov et al., Econometrics Journal 2018, section 5.1) on the out-of-fold predictions of
those fold models::

    theta = sum_i w_i [T_i (Y_i - m0_i) - (1 - T_i) e_i / (1 - e_i) (Y_i - m0_i)] / sum_i w_i T_i

with ``e`` the propensity, ``m0`` the outcome expected without treatment and ``w`` a unit weight
(1 per stay; member-months for rates, so the estimate is a difference per member-month). Its
standard error comes from the score's influence function summed within member (cluster-robust:
a member's repeated stays are not independent). EconML's own ATE/CATE output is not used: the mean
CATE of a linear final stage over the treated is the ATT only when the effect is linear in the
covariates, and the ATT score above needs no such assumption.

Overlap and trimming (documented in docs/evaluation.md): stays whose cross-fitted propensity is
above ``OverlapRule.high`` are dropped from both arms, and so are treated stays whose propensity is
above every untreated stay's (``common_support``); the estimand becomes the ATT among the enrolled
stays left. The estimate is withheld when fewer than ``OverlapRule.min_share`` of the treated are
left, or when the weighted controls are worth fewer than ``OverlapRule.min_control_ess`` stays. A
low propensity is no problem for the ATT (such treated stays have many comparable controls), so no
lower trim applies.

A large comparison may be estimated on an arm-stratified random sample (``arm_sample``) with its
sampling weights carried through the score, the influence function and the propensity
(``estimate_att(sampling_rate=...)``; models.program_effect.ScaleRule says when).

Also here: covariate balance (standardised mean differences before and after weighting), the
naive difference with a Newcombe (binary) or Wald (rates) interval, the pre/post change of rates,
a stratified randomised difference (Welch), and the E-value (VanderWeele and Ding, Ann Intern Med
2017;167:268-74). Plain numpy/polars/LightGBM; nothing here reads a warehouse.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.stats import norm
from scipy.stats import t as student_t

Z95 = float(norm.ppf(0.975))
OUTCOME_KINDS = ("binary", "rate", "cost", "count")


@dataclass(frozen=True)
class NuisanceConfig:
    """Cross-fitting and the LightGBM nuisance models (small on purpose: they only need to rank and
    calibrate roughly; the score corrects what they miss). ``num_threads`` 1 per model: on a shared
    2-core machine LightGBM's OpenMP threads spin against other processes and a 2-thread fit took up
    to 10x longer than a 1-thread one; models.program_effect runs two cells at once instead."""

    folds: int = 3
    n_estimators: int = 100
    learning_rate: float = 0.1
    num_leaves: int = 15
    min_child_samples: int = 40
    colsample_bytree: float = 0.8
    max_bin: int = 63
    num_threads: int = 1
    seed: int = 20_170_801

    def lgbm_params(self) -> dict:
        return {
            "n_estimators": self.n_estimators, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "colsample_bytree": self.colsample_bytree,
            "max_bin": self.max_bin, "num_threads": self.num_threads,
            "random_state": self.seed, "verbose": -1, "force_col_wise": True, "deterministic": True,
        }


@dataclass(frozen=True)
class OverlapRule:
    """When an adjusted estimate is printed (see the module docstring)."""

    low: float = 0.01  # histogram and report only: a low propensity does not threaten the ATT
    high: float = 0.99  # stays above are trimmed from both arms (and treated above every control)
    min_share: float = 0.90  # withheld when fewer treated stays survive the trim
    min_control_ess: float = 30.0  # withheld when the weighted controls are worth fewer stays
    smd_threshold: float = 0.10  # balance flag


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95% interval and the two arms' means."""

    estimate: float
    ci_low: float
    ci_high: float
    treated_mean: float
    control_mean: float
    n_treated: int
    n_control: int


@dataclass
class AttResult:
    """``interval`` is None when the estimate is withheld (``withheld`` says why)."""

    interval: Interval | None
    overlap_share: float
    control_ess: float
    n_treated: int
    n_control: int
    n_trimmed: int
    withheld: str | None
    propensity: np.ndarray  # cross-fitted, one per input row
    kept: np.ndarray  # bool: rows inside the trim
    balance: pl.DataFrame = field(default_factory=pl.DataFrame)  # covariate, smd_before, smd_after, imbalanced_flag
    outcome_sd: float = float("nan")


def _group_codes(groups: np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)


def grouped_folds(groups: np.ndarray, treated: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index splits holding whole groups (members), stratified by whether the
    member is ever treated, shuffled with ``seed``."""
    codes = _group_codes(groups)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    ever = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(ever, codes, np.asarray(treated, dtype=np.int64))
    order = np.random.default_rng(seed).permutation(n_groups)
    sorted_groups = np.lexsort((order, ever))  # by arm, then in random order
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[sorted_groups] = np.arange(n_groups) % k
    fold = fold_of_group[codes]
    rows = np.arange(codes.size)
    return [(rows[fold != f], rows[fold == f]) for f in range(k)]


def cluster_se(influence: np.ndarray, groups: np.ndarray) -> float:
    """Standard error of a mean-zero influence function, summed within group: sqrt(sum_g (sum phi)^2) / n."""
    n = influence.size
    if n == 0:
        return float("nan")
    by_group = np.bincount(_group_codes(groups), weights=influence)
    return float(math.sqrt(np.sum(by_group**2)) / n)


def _weighted_mean_var(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise weighted mean and variance of ``x`` (rows x columns), ignoring NaN."""
    present = ~np.isnan(x)
    ww = w[:, None] * present
    total = ww.sum(axis=0)
    xz = np.where(present, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (ww * xz).sum(axis=0) / total
        var = (ww * (xz - mean) ** 2 * present).sum(axis=0) / total
    return mean, var


def balance_table(
    x: np.ndarray, names: list[str], treated: np.ndarray, base_weight: np.ndarray, after_weight: np.ndarray,
    threshold: float = 0.10,
) -> pl.DataFrame:
    """Standardised mean difference (treated minus control) of each covariate, before weighting
    (``base_weight``) and after (``after_weight``), both over the same pooled standard deviation
    sqrt((var_treated + var_control) / 2) of the unweighted-by-propensity arms (Austin, Stat Med
    2009), so the two columns are on one scale. Covariates with missing values get a
    ``<name>_missing`` row (the share missing) beside the SMD of the values present.
    ``imbalanced_flag`` marks |smd_after| above ``threshold``."""
    missing = np.isnan(x)
    with_missing = [j for j in range(x.shape[1]) if missing[:, j].any()]
    full = np.hstack([x, missing[:, with_missing].astype(float)]) if with_missing else x
    labels = [*names, *(f"{names[j]}_missing" for j in with_missing)]
    t = treated.astype(bool)

    def smd(weights: np.ndarray) -> np.ndarray:
        m1, _ = _weighted_mean_var(full[t], weights[t])
        m0, _ = _weighted_mean_var(full[~t], weights[~t])
        return m1 - m0

    _, v1 = _weighted_mean_var(full[t], base_weight[t])
    _, v0 = _weighted_mean_var(full[~t], base_weight[~t])
    sd = np.sqrt((v1 + v0) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.where(sd > 0, smd(base_weight) / sd, 0.0)
        after = np.where(sd > 0, smd(after_weight) / sd, 0.0)
    frame = pl.DataFrame({"covariate": labels, "smd_before": before, "smd_after": after},
                         schema={"covariate": pl.String, "smd_before": pl.Float64, "smd_after": pl.Float64})
    frame = frame.with_columns(pl.col("smd_before", "smd_after").fill_nan(None))
    return frame.with_columns((pl.col("smd_after").abs() > threshold).fill_null(False).cast(pl.Int32).alias("imbalanced_flag"))


@contextmanager
def quiet_reshaping() -> Iterator[None]:
    """Silence two warnings that say nothing about the data: scikit-learn's DataConversionWarning
    (EconML hands LightGBM column vectors) and EconML's note that W holds NaN (deliberate: a value
    missing at discharge is itself known at discharge, and LightGBM splits on it). Warning filters
    are process-wide, so a caller that runs fits in threads wraps its whole pool in this as well."""
    from sklearn.exceptions import DataConversionWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DataConversionWarning)
        warnings.filterwarnings("ignore", message="Input contains NaN. Causal identification", category=UserWarning)
        yield


def _nuisance_models(binary: bool, config: NuisanceConfig):
    from lightgbm import LGBMClassifier, LGBMRegressor

    params = config.lgbm_params()
    return LGBMClassifier(**params), (LGBMClassifier(**params) if binary else LGBMRegressor(**params))


def _fit_kwargs(weight: np.ndarray | None, rows: np.ndarray) -> dict:
    return {} if weight is None else {"sample_weight": weight[rows]}


def cross_fitted_propensity(
    x: np.ndarray, treated: np.ndarray, weight: np.ndarray | None, folds: list[tuple[np.ndarray, np.ndarray]],
    config: NuisanceConfig,
) -> np.ndarray:
    """Out-of-fold propensity ``e`` for every row: per fold, a LightGBM classifier of ``treated`` on
    ``x`` fitted on the other folds (weighted by ``weight``) predicts the fold. It does not depend on
    the outcome, so cells of one comparison whose rows and weights agree share it
    (models.program_effect)."""
    t = np.asarray(treated, dtype=np.int64)
    e = np.empty(t.size)
    for train, test in folds:
        model, _ = _nuisance_models(True, config)
        model.fit(x[train], t[train], **_fit_kwargs(weight, train))
        e[test] = model.predict_proba(x[test])[:, 1]
    return e


def predict_outcome(model, x: np.ndarray, binary: bool) -> np.ndarray:
    """A fitted outcome model's prediction: the probability for a binary outcome, else the value."""
    return model.predict_proba(x)[:, 1] if binary else model.predict(x)


def cross_fitted_outcomes(
    x: np.ndarray, treated: np.ndarray, y: np.ndarray, weight: np.ndarray | None,
    folds: list[tuple[np.ndarray, np.ndarray]], binary: bool, config: NuisanceConfig,
) -> tuple[np.ndarray, np.ndarray, list]:
    """Out-of-fold ``m0`` and ``m1``, the outcome expected without and with treatment, for every row,
    and the fold models: per fold, a LightGBM model of ``y`` on ``[x, treated]`` fitted on the other
    folds (both arms, weighted by ``weight``; a classifier for a binary outcome) predicts the fold at
    ``treated = 0`` and ``treated = 1``."""
    inputs = np.hstack([x, np.asarray(treated, dtype=float).reshape(-1, 1)])
    labels = np.asarray(y, dtype=np.int64) if binary else np.asarray(y, dtype=float)
    m0, m1, models = np.empty(labels.size), np.empty(labels.size), []
    for train, test in folds:
        _, model = _nuisance_models(binary, config)
        model.fit(inputs[train], labels[train], **_fit_kwargs(weight, train))
        for arm, out in ((0.0, m0), (1.0, m1)):
            out[test] = predict_outcome(model, np.hstack([x[test], np.full((test.size, 1), arm)]), binary)
        models.append(model)
    return m0, m1, models


def cross_fitted_untreated_outcome(
    x: np.ndarray, treated: np.ndarray, y: np.ndarray, weight: np.ndarray | None,
    folds: list[tuple[np.ndarray, np.ndarray]], binary: bool, config: NuisanceConfig,
) -> np.ndarray:
    """Out-of-fold ``m0`` of ``cross_fitted_outcomes`` (what the ATT needs)."""
    return cross_fitted_outcomes(x, treated, y, weight, folds, binary, config)[0]


def cross_fitted_nuisances(
    x: np.ndarray, treated: np.ndarray, y: np.ndarray, weight: np.ndarray | None, groups: np.ndarray, binary: bool,
    config: NuisanceConfig, propensity: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold propensity ``e`` and untreated outcome ``m0`` for every row over the member folds
    of ``grouped_folds``: the same fold models, fitted on the same arrays, as EconML's ``DRLearner``
    builds for the doubly robust learner (its outcome model sees ``[x, T]`` and is evaluated at
    T = 0; a test holds the two to the same predictions), without its final stage and the
    predictions the ATT does not use. ``propensity``: an out-of-fold ``e`` already fitted on these
    rows, weights and folds (``cross_fitted_propensity``), reused instead of refitted."""
    folds = grouped_folds(groups, treated, config.folds, config.seed)
    e = cross_fitted_propensity(x, treated, weight, folds, config) if propensity is None else propensity
    m0 = cross_fitted_untreated_outcome(x, treated, y, weight, folds, binary, config)
    return e, m0


def arm_sample(
    treated: np.ndarray, max_rows: int, max_treated_share: float, seed: int
) -> tuple[np.ndarray, tuple[float, float]]:
    """A random sample of at most ``max_rows`` rows drawn within each arm (without replacement,
    seeded): the treated whole up to ``max_treated_share`` of ``max_rows`` (more when the untreated
    cannot fill the rest), the untreated filling the rest. Returns the sampled row indices in their
    original order and the arms' sampling rates (q1 treated, q0 untreated) that
    ``estimate_att(sampling_rate=...)`` weights back by."""
    t = np.asarray(treated).astype(bool)
    n1, n0 = int(t.sum()), int((~t).sum())
    m1 = min(n1, max(int(max_rows * max_treated_share), max_rows - n0))
    m0 = min(n0, max_rows - m1)
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(np.flatnonzero(t), m1, replace=False),
                           rng.choice(np.flatnonzero(~t), m0, replace=False)])
    return np.sort(rows), (m1 / n1 if n1 else 1.0, m0 / n0 if n0 else 1.0)


def common_support(e: np.ndarray, treated: np.ndarray, high: float) -> np.ndarray:
    """Rows inside the common support of the ATT: propensity at most ``high`` (both arms), and a
    treated row's propensity no higher than the highest among the untreated rows kept (the upper
    half of the min-max rule of Dehejia and Wahba, JASA 1999): above it no untreated stay looks
    like the treated one and the estimate would rest on extrapolation alone."""
    kept = e <= high
    untreated = kept & (treated == 0)
    ceiling = float(e[untreated].max()) if untreated.any() else -1.0
    return kept & ((treated == 0) | (e <= ceiling))


def estimate_att(
    x: np.ndarray,
    names: list[str],
    treated: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    binary: bool,
    weight: np.ndarray | None = None,
    config: NuisanceConfig = NuisanceConfig(),
    rule: OverlapRule = OverlapRule(),
    propensity: np.ndarray | None = None,
    sampling_rate: tuple[float, float] | None = None,
) -> AttResult:
    """The doubly robust, cross-fitted ATT of ``treated`` (0/1) on ``y`` adjusting for ``x`` (rows x
    covariates, NaN allowed), with its diagnostics. ``groups``: the member of each row (folds and
    standard errors are by member). ``weight``: a unit weight per row (member-months for a rate);
    None = 1. ``propensity``: the out-of-fold propensity of these rows when already fitted
    (``cross_fitted_propensity`` over the same folds and weights). The caller checks cell sizes;
    this function needs both arms present.

    ``sampling_rate`` = (q1, q0): the rows are a random sample of the treated at rate q1 and of the
    untreated at rate q0 (``arm_sample``). Each row then carries the sampling weight 1/q of its arm
    into the score, its influence function, the balance and the outcome SD; the propensity fitted on
    the sample estimates the sample's odds, which are the population's times q1/q0 (Bayes' rule), so
    it is turned back into the population's propensity (``AttResult.propensity``, the trim and the
    overlap rule use it) before weighting. With q1 = 1 the weights cancel in the score: the
    case-control estimate is the ordinary one on the sample."""
    t = np.asarray(treated, dtype=np.int64)
    y = np.asarray(y, dtype=float)
    w = np.ones(y.size) if weight is None else np.asarray(weight, dtype=float)
    e, m0 = cross_fitted_nuisances(x, t, y, weight, groups, binary, config, propensity)
    if sampling_rate is not None:
        q1, q0 = sampling_rate
        odds = e / (1 - e) * (q0 / q1)
        e = odds / (1 + odds)
        sampling_weight = np.where(t == 1, 1 / q1, 1 / q0)
        w = w * sampling_weight  # unit weight x sampling weight
    n_treated, n_control = int(t.sum()), int((1 - t).sum())
    kept = common_support(e, t, rule.high)
    overlap_share = float(np.mean(kept[t == 1])) if n_treated else float("nan")
    tk, yk, wk, ek, mk, gk = t[kept], y[kept], w[kept], e[kept], m0[kept], np.asarray(groups)[kept]
    odds = ek / (1 - ek)
    control_weight = wk * odds * (1 - tk)
    ess = float(control_weight.sum() ** 2 / np.sum(control_weight**2)) if control_weight.sum() > 0 else 0.0
    after = np.zeros(y.size)  # trimmed stays weigh nothing after weighting
    after[kept] = np.where(tk == 1, wk, control_weight)
    balance = balance_table(x, names, t, w, after, rule.smd_threshold)
    if sampling_rate is None:
        outcome_sd = float(np.std(y, ddof=1)) if y.size > 1 else float("nan")
    else:  # the population's SD: each sampled row stands for 1/q stays
        _, variance = _weighted_mean_var(y.reshape(-1, 1), sampling_weight)
        outcome_sd = float(np.sqrt(variance[0]))
    result = AttResult(
        interval=None, overlap_share=overlap_share, control_ess=ess, n_treated=n_treated, n_control=n_control,
        n_trimmed=int((~kept).sum()), withheld=None, propensity=e, kept=kept, balance=balance, outcome_sd=outcome_sd,
    )
    if overlap_share < rule.min_share:
        result.withheld = (
            f"only {overlap_share:.0%} of enrolled stays have non-enrolled stays that look like them (a propensity "
            f"no higher than some non-enrolled stay's, and at most {rule.high}); enrolment is close to decided by "
            "the recorded risk factors (for example, everyone above a risk cut-off), so there is no comparison "
            "group and no adjusted estimate is printed")
        return result
    if ess < rule.min_control_ess:
        result.withheld = (
            f"the non-enrolled stays that resemble the enrolled ones are worth only {ess:.0f} stays after "
            "weighting; too few to compare, so no adjusted estimate is printed")
        return result
    treated_weight = wk * tk
    n1 = treated_weight.sum()
    residual = yk - mk
    score = treated_weight * residual - control_weight * residual
    theta = float(score.sum() / n1)
    influence = (score - treated_weight * theta) / (n1 / yk.size)
    se = cluster_se(influence, gk)
    treated_mean = float(np.sum(treated_weight * yk) / n1)
    result.interval = Interval(
        estimate=theta, ci_low=theta - Z95 * se, ci_high=theta + Z95 * se, treated_mean=treated_mean,
        control_mean=treated_mean - theta, n_treated=int(tk.sum()), n_control=int((1 - tk).sum()),
    )
    return result


def _wilson(successes: float, n: int) -> tuple[float, float]:
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return centre - half, centre + half


def naive_difference(
    y: np.ndarray, treated: np.ndarray, groups: np.ndarray, *, binary: bool, weight: np.ndarray | None = None
) -> Interval:
    """Enrolled minus not enrolled, as observed. Binary: difference of proportions with Newcombe's
    hybrid score interval (Stat Med 1998;17:873-90, method 10). Rates: difference of ratio means
    (sum of events / sum of member-months per arm) with a member-clustered Wald interval."""
    t = np.asarray(treated, dtype=bool)
    y = np.asarray(y, dtype=float)
    w = np.ones(y.size) if weight is None else np.asarray(weight, dtype=float)
    n1, n0 = int(t.sum()), int((~t).sum())
    m1 = float(np.sum(w[t] * y[t]) / np.sum(w[t]))
    m0 = float(np.sum(w[~t] * y[~t]) / np.sum(w[~t]))
    diff = m1 - m0
    if binary and weight is None:
        l1, u1 = _wilson(y[t].sum(), n1)
        l0, u0 = _wilson(y[~t].sum(), n0)
        low = diff - math.sqrt((m1 - l1) ** 2 + (u0 - m0) ** 2)
        high = diff + math.sqrt((u1 - m1) ** 2 + (m0 - l0) ** 2)
        return Interval(diff, low, high, m1, m0, n1, n0)
    n = y.size
    influence = np.where(t, w * (y - m1) / (np.sum(w[t]) / n), -w * (y - m0) / (np.sum(w[~t]) / n))
    se = cluster_se(influence, groups)
    return Interval(diff, diff - Z95 * se, diff + Z95 * se, m1, m0, n1, n0)


def rate_change(
    after_rate: np.ndarray, after_exposure: np.ndarray, before_rate: np.ndarray, before_exposure: np.ndarray,
    groups: np.ndarray,
) -> Interval:
    """The same units' rate after minus before (events / exposure summed over units), with a
    member-clustered Wald interval from the paired influence functions. ``treated_mean`` is the
    after rate and ``control_mean`` the before rate."""
    n = after_rate.size
    a_total, b_total = after_exposure.sum(), before_exposure.sum()
    after = float(np.sum(after_rate * after_exposure) / a_total)
    before = float(np.sum(before_rate * before_exposure) / b_total)
    influence = (after_exposure * (after_rate - after) / (a_total / n)
                 - before_exposure * (before_rate - before) / (b_total / n))
    se = cluster_se(influence, groups)
    diff = after - before
    return Interval(diff, diff - Z95 * se, diff + Z95 * se, after, before, n, n)


def stratified_difference(y: np.ndarray, offered: np.ndarray, strata: np.ndarray) -> tuple[Interval, int]:
    """Randomised comparison: offered minus not offered within each stratum (lottery round),
    averaged with weights n_s / N; Welch variance per stratum and a t interval with
    Welch-Satterthwaite degrees of freedom. Strata without both arms are dropped; returns the
    interval and the number of strata used."""
    frame = pl.DataFrame({"y": np.asarray(y, dtype=float), "arm": np.asarray(offered, dtype=np.int64),
                          "stratum": np.asarray(strata).astype(str)})
    arms = frame.group_by("stratum", "arm").agg(
        pl.len().alias("n"), pl.col("y").mean().alias("mean"), pl.col("y").var(ddof=1).fill_null(0.0).alias("var"))
    wide = (arms.pivot(on="arm", index="stratum", values=["n", "mean", "var"])
            .drop_nulls())
    if wide.height == 0 or not {"n_1", "n_0"} <= set(wide.columns):
        raise ValueError("no lottery stratum holds both offered and not-offered members")
    n1, n0 = wide["n_1"].to_numpy().astype(float), wide["n_0"].to_numpy().astype(float)
    share = (n1 + n0) / (n1 + n0).sum()
    diff = float(np.sum(share * (wide["mean_1"].to_numpy() - wide["mean_0"].to_numpy())))
    part1 = share**2 * wide["var_1"].to_numpy() / n1
    part0 = share**2 * wide["var_0"].to_numpy() / n0
    variance = float(np.sum(part1 + part0))
    denom = float(np.sum(part1**2 / np.maximum(n1 - 1, 1) + part0**2 / np.maximum(n0 - 1, 1)))
    dof = variance**2 / denom if denom > 0 else float("inf")
    quantile = float(student_t.ppf(0.975, dof)) if math.isfinite(dof) else Z95
    se = math.sqrt(variance)
    treated_mean = float(np.sum(share * wide["mean_1"].to_numpy()))
    return Interval(diff, diff - quantile * se, diff + quantile * se, treated_mean, treated_mean - diff,
                    int(n1.sum()), int(n0.sum())), wide.height


def e_value(rr: float) -> float:
    """E-value of a risk ratio (VanderWeele and Ding 2017): RR + sqrt(RR (RR - 1)), after taking
    1/RR for a protective ratio. The strength of association, on the risk-ratio scale, that an
    unmeasured confounder would need with both treatment and outcome to explain the estimate away."""
    if not (rr > 0 and math.isfinite(rr)):
        return float("nan")
    r = 1 / rr if rr < 1 else rr
    return r + math.sqrt(r * (r - 1))


def _ratio(kind: str, treated_mean: float, difference: float, outcome_sd: float) -> float:
    """The ratio scale the E-value needs for an effect ``difference`` on the treated."""
    if kind == "cost":
        # continuous outcome: standardised difference d, RR ~ exp(0.91 d) (VanderWeele and Ding 2017)
        return math.exp(0.91 * difference / outcome_sd) if outcome_sd > 0 else float("nan")
    counterfactual = treated_mean - difference
    if treated_mean <= 0 or counterfactual <= 0:
        return float("nan")
    return treated_mean / counterfactual  # risk ratio (binary), rate ratio (rates: rare-outcome approximation)


def e_values(interval: Interval, kind: str, outcome_sd: float = float("nan")) -> tuple[float, float]:
    """(E-value of the estimate, E-value of the interval limit closest to the null). A difference
    is turned into a ratio with the treated arm's mean and its counterfactual mean (treated mean
    minus the effect); an interval that contains 0 gives 1 for its limit."""
    estimate = e_value(_ratio(kind, interval.treated_mean, interval.estimate, outcome_sd))
    if interval.ci_low <= 0 <= interval.ci_high:
        return estimate, 1.0
    closest = interval.ci_low if interval.estimate > 0 else interval.ci_high
    return estimate, e_value(_ratio(kind, interval.treated_mean, closest, outcome_sd))
