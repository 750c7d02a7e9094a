"""Who would benefit from case management: each member's expected reduction in 30-day readmission
and in admissions if enrolled at the discharge the intake list acts on, estimated from past
enrolments (docs/evaluation.md, "Ranking by expected benefit").

The learner is the DR-learner (Kennedy, "Towards optimal doubly robust estimation of
heterogeneous causal effects", Electron J Stat 2023) with a linear final stage, as EconML's
``LinearDRLearner`` fits it. The nuisance fits are models.causal_att's (a test holds them equal to
EconML's ``DRLearner``'s); the final stage is computed here because one effect modifier, the
outcome expected without the program, is itself a cross-fitted nuisance prediction, which
EconML's ``X`` cannot hold, and because the calibration below needs the scores themselves:

1. Nuisances, cross-fitted over whole-member folds (models.causal_att.grouped_folds): the
   propensity ``e`` of enrolment at time zero and the outcome expected with and without it,
   ``m1`` and ``m0`` (LightGBM on every confounder of marts.program_effect plus T).
2. The doubly robust score of each past stay, as a reduction (positive = fewer events)::

       psi = (m0 - m1) + (1 - T)(Y - m0) / (1 - e) - T (Y - m1) / e

   Stays with ``e`` outside [``overlap``, 1 - ``overlap``] are left out (no comparable stays).
3. The final stage: weighted least squares of ``psi`` on a handful of pre-specified effect
   modifiers (``MODIFIERS``: the risk without the program, social needs, usual-source care,
   a missed follow-up, age, comorbidity, prior stays, discharge to a facility, area
   deprivation, dual eligibility), centred on their means so the intercept is the average effect.
   Linear on purpose: the score is very noisy (a 0.01 average effect against a 0.3 outcome SD),
   and a handful of coefficients is what 10-30 thousand stays can estimate; a forest or boosted
   final stage fitted to the same scores mostly fits noise. Per-member 95% intervals come from the
   member-clustered (CR1) covariance of the coefficients (given the nuisances).
4. Calibration against the average effect (Chernozhukov, Demirer, Duflo and Fernandez-Val,
   "Generic machine learning inference on heterogeneous treatment effects", 2018): the final
   stage refitted out of fold, then ``psi`` regressed on the out-of-fold effect minus its mean
   (the best linear predictor, BLP: the intercept is the average effect, the slope is 1 when the
   estimated differences between members are real at face value and 0 when none is detected),
   and the average ``psi`` per quintile of the out-of-fold effect (GATES). Scoring uses the BLP
   slope (clipped to [0, 1], and 0 unless its 95% interval excludes 0) as a shrinkage factor on each
   member's departure from the average: the final stage's spread is believed only as far as it
   predicted out of fold, so with no such evidence every member gets the average effect and the
   benefit and blend rankings fall back to risk.

Why each member is expected to benefit: the final stage's own attributions, coefficient x
(value - mean) per modifier (for a linear model these are its exact SHAP values against the
training mean), the largest positive ones in plain words.

Race and ethnicity adjust the nuisance models (they are confounders) but are never effect
modifiers: a ranking by benefit must not give or withhold a slot by race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.stats import norm

from features.dictionary import FEATURE_DICTIONARY
from features.feature_spec import FeatureSpec
from models.causal_att import (
    NuisanceConfig,
    cross_fitted_outcomes,
    cross_fitted_propensity,
    grouped_folds,
    predict_outcome,
    quiet_reshaping,
)
from models.program_effect import confounder_matrix, eligible_stays

Z95 = float(norm.ppf(0.975))
MEMBER_MONTHS_PER_YEAR = 12.0


@dataclass(frozen=True)
class BenefitOutcome:
    name: str  # a column of the program-effect cohort
    binary: bool
    exposure: str | None  # weight column for rates (member-months)
    scale: float  # the cohort's unit to the reported unit
    unit: str
    words: str  # "30-day readmission risk" as a case manager reads it
    untreated_template: str  # the untreated-risk modifier in plain words


BENEFIT_OUTCOMES: dict[str, BenefitOutcome] = {o.name: o for o in (
    BenefitOutcome("readmit_30d", True, None, 1.0, "risk difference (probability)",
                   "30-day readmission risk", "{value:.0%} chance of readmission without the program"),
    BenefitOutcome("admissions_12m", False, "member_months_12m", MEMBER_MONTHS_PER_YEAR,
                   "unplanned admissions per member-year", "admissions in the next year",
                   "{value:.1f} admissions a year expected without the program"),
)}
UNTREATED_RISK = "untreated_risk"


@dataclass(frozen=True)
class Modifier:
    name: str
    expr: pl.Expr | None  # from cohort columns; None for the computed untreated risk
    spec: FeatureSpec


def _spec(name: str, template: str, zero: str | None = None, missing: str | None = None) -> FeatureSpec:
    return FeatureSpec(name, template, "", "", "", template, template_zero=zero, template_missing=missing)


MODIFIERS: tuple[Modifier, ...] = (
    Modifier(UNTREATED_RISK, None,
             _spec(UNTREATED_RISK, "at risk without the program")),
    Modifier("social_needs_positive", pl.col("social_needs_positive").fill_null(0).clip(0, 3),
             FEATURE_DICTIONARY["social_needs_positive"]),
    Modifier("low_office_visits", (6 - pl.col("office_visits_365d").fill_null(0).clip(0, 6)),
             _spec("low_office_visits", "few office visits in the last year (no usual source of care)",
                   "regular office visits in the last year")),
    Modifier("missed_followup_prior", (pl.col("followup_7d_prior_discharge_flag") == 0).fill_null(False),
             _spec("missed_followup_prior", "missed the follow-up visit after the previous discharge",
                   "was seen after the previous discharge, or had none")),
    Modifier("age_at_discharge", pl.col("age_at_discharge").fill_null(65).clip(0, 100),
             _spec("age_at_discharge", "aged {value:.0f}")),
    Modifier("lace_c", pl.col("lace_c").fill_null(0), FEATURE_DICTIONARY["lace_c"]),
    Modifier("prior_ip_stays_365d", pl.col("prior_ip_stays_365d").fill_null(0).clip(0, 6),
             FEATURE_DICTIONARY["prior_ip_stays_365d"]),
    Modifier("discharged_to_facility_flag", pl.col("discharged_to_facility_flag").fill_null(0),
             FEATURE_DICTIONARY["discharged_to_facility_flag"]),
    Modifier("svi_overall", pl.col("svi_overall").fill_null(0.5), FEATURE_DICTIONARY["svi_overall"]),
    Modifier("dual_flag", pl.col("dual_flag").fill_null(0), FEATURE_DICTIONARY["dual_flag"]),
)
NO_BENEFIT_REASON = "no factor raises the expected benefit above the average"


@dataclass(frozen=True)
class BenefitConfig:
    """The learner's knobs (the defaults are what the pipeline runs)."""

    nuisance: NuisanceConfig = field(default_factory=lambda: NuisanceConfig(folds=3))
    overlap: float = 0.02  # stays with e outside [overlap, 1 - overlap] are left out of the final stage
    min_treated: int = 50  # fewer enrolled (or comparison) stays with the outcome: no estimate
    # above this many stays the learner sees a seeded member-level sample (the time grows with rows;
    # the effect's standard error from 60k stays is already below a tenth of the average effect)
    max_stays: int = 60_000
    reasons: int = 2
    gates_groups: int = 5


@dataclass
class BenefitModel:
    """One outcome's fitted learner, or the sentence saying why there is none (``status``)."""

    outcome: BenefitOutcome
    status: str  # "estimated" or "not_estimable"
    note: str
    names: list[str] = field(default_factory=list)
    means: np.ndarray | None = None
    scales: np.ndarray | None = None
    coef: np.ndarray | None = None  # intercept first, on the centred and scaled modifiers
    cov: np.ndarray | None = None
    nuisance_models: list = field(default_factory=list)  # per fold: (m0/m1 model) for new rows
    confounder_names: list[str] = field(default_factory=list)
    calibration: dict = field(default_factory=dict)
    gates: pl.DataFrame = field(default_factory=pl.DataFrame)
    n_stays: int = 0
    n_treated: int = 0
    n_trimmed: int = 0
    # how much of the final stage's spread is used when scoring (``shrinkage_from``)
    shrinkage: float = 1.0
    untreated_mean: float = 0.0  # the training stays' mean outcome without the program (reported unit)

    @property
    def estimated(self) -> bool:
        return self.status == "estimated"


def modifier_frame(cohort: pl.DataFrame, untreated: np.ndarray) -> pl.DataFrame:
    """The effect modifiers of ``cohort``'s rows (``untreated``: each row's expected outcome
    without the program, in the outcome's reported unit)."""
    return cohort.select(
        pl.Series(UNTREATED_RISK, np.asarray(untreated, dtype=float)),
        *[m.expr.cast(pl.Float64).alias(m.name) for m in MODIFIERS if m.expr is not None],
    )


def _design(frame: pl.DataFrame, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    z = (frame.to_numpy().astype(float) - means) / scales
    return np.hstack([np.ones((z.shape[0], 1)), z])


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares coefficients and their member-clustered (CR1) covariance."""
    xw = x * w[:, None]
    bread = np.linalg.pinv(x.T @ xw)
    coef = bread @ (xw.T @ y)
    resid = y - x @ coef
    codes = np.unique(groups, return_inverse=True)[1]
    g = codes.max() + 1
    scores = np.zeros((g, x.shape[1]))
    np.add.at(scores, codes, xw * resid[:, None])
    n, k = x.shape
    adjust = g / max(g - 1, 1) * (n - 1) / max(n - k, 1)
    cov = adjust * bread @ (scores.T @ scores) @ bread
    return coef, cov


def _not_estimable(outcome: BenefitOutcome, note: str, **counts) -> BenefitModel:
    return BenefitModel(outcome=outcome, status="not_estimable", note=note, **counts)


def _member_sample(frame: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    if frame.height <= max_rows:
        return frame
    members = frame.select("person_id").unique().sort("person_id").sample(fraction=1.0, shuffle=True, seed=seed)
    counts = frame.group_by("person_id").len()
    order = members.join(counts, on="person_id", how="left", maintain_order="left")
    keep = order.filter(pl.col("len").cum_sum() <= max_rows)["person_id"]
    return frame.filter(pl.col("person_id").is_in(keep.implode()))


def fit_benefit(cohort: pl.DataFrame, outcome: str, config: BenefitConfig = BenefitConfig()) -> BenefitModel:
    """The DR-learner of the module docstring for ``outcome`` (a key of BENEFIT_OUTCOMES) on the
    program-effect cohort's eligible stays whose outcome is observed (enrolled in any program at
    time zero vs in none)."""
    spec = BENEFIT_OUTCOMES[outcome]
    rows = eligible_stays(cohort).filter(pl.col(outcome).is_not_null())
    if spec.exposure:
        rows = rows.filter(pl.col(spec.exposure) > 0)
    rows = _member_sample(rows.sort("discharge_date", "stay_id"), config.max_stays, config.nuisance.seed)
    treated = rows["enrolled_flag"].cast(pl.Int64).to_numpy()
    n1, n0 = int(treated.sum()), int((1 - treated).sum())
    if min(n1, n0) < config.min_treated:
        return _not_estimable(spec, f"{n1} enrolled and {n0} not enrolled past stays with the outcome observed; "
                                    f"at least {config.min_treated} of each are needed to estimate who benefits",
                              n_stays=rows.height, n_treated=n1)
    y = rows[outcome].cast(pl.Float64).to_numpy()
    weight = rows[spec.exposure].cast(pl.Float64).to_numpy() if spec.exposure else None
    w_x, w_names = confounder_matrix(rows)
    groups = rows["person_id"].to_numpy()
    folds = grouped_folds(groups, treated, config.nuisance.folds, config.nuisance.seed)
    with quiet_reshaping():
        e = cross_fitted_propensity(w_x, treated, weight, folds, config.nuisance)
        m0, m1, models = cross_fitted_outcomes(w_x, treated, y, weight, folds, spec.binary, config.nuisance)
    inside = (e >= config.overlap) & (e <= 1 - config.overlap)
    psi = (m0 - m1) + (1 - treated) * (y - m0) / (1 - e) - treated * (y - m1) / e
    mods = modifier_frame(rows, m0 * spec.scale)
    means = mods.filter(pl.Series(inside)).mean().to_numpy().ravel()
    scales = mods.filter(pl.Series(inside)).std().to_numpy().ravel()
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)
    x = _design(mods, means, scales)
    w = np.ones(len(y)) if weight is None else weight
    keep = np.flatnonzero(inside)
    coef, cov = _wls(x[keep], psi[keep] * spec.scale, w[keep], groups[keep])
    calibration, gates = _calibrate(x[keep], psi[keep] * spec.scale, w[keep], groups[keep], config)
    shrinkage = shrinkage_from(calibration)
    return BenefitModel(
        outcome=spec, status="estimated",
        note=(f"DR-learner on {keep.size} past stays ({int(treated[keep].sum())} enrolled at time zero); "
              f"average reduction {coef[0]:+.4f} {spec.unit} (95% CI {coef[0] - Z95 * np.sqrt(cov[0, 0]):+.4f} to "
              f"{coef[0] + Z95 * np.sqrt(cov[0, 0]):+.4f})"),
        names=mods.columns, means=means, scales=scales, coef=coef, cov=cov, nuisance_models=models,
        confounder_names=w_names, calibration=calibration, gates=gates,
        n_stays=int(keep.size), n_treated=int(treated[keep].sum()), n_trimmed=int(len(y) - keep.size),
        shrinkage=shrinkage, untreated_mean=float(np.average(m0[keep] * spec.scale, weights=w[keep])),
    )


def _calibrate(
    x: np.ndarray, psi: np.ndarray, w: np.ndarray, groups: np.ndarray, config: BenefitConfig,
) -> tuple[dict, pl.DataFrame]:
    """BLP and GATES of the out-of-fold final stage (module docstring, step 4)."""
    k = config.nuisance.folds
    codes = np.unique(groups, return_inverse=True)[1]
    fold = np.random.default_rng(config.nuisance.seed).permutation(codes.max() + 1)[codes] % k
    tau = np.empty(len(psi))
    for f in range(k):
        fit = fold != f
        coef, _ = _wls(x[fit], psi[fit], w[fit], groups[fit])
        tau[~fit] = x[~fit] @ coef
    centred = tau - np.average(tau, weights=w)
    blp, blp_cov = _wls(np.column_stack([np.ones(len(psi)), centred]), psi, w, groups)
    se = np.sqrt(np.diag(blp_cov))
    calibration = {
        "average_effect": float(blp[0]), "average_effect_ci": [float(blp[0] - Z95 * se[0]), float(blp[0] + Z95 * se[0])],
        "heterogeneity_loading": float(blp[1]),
        "heterogeneity_loading_ci": [float(blp[1] - Z95 * se[1]), float(blp[1] + Z95 * se[1])],
        "out_of_fold_sd": float(np.sqrt(np.average(centred**2, weights=w))),
        "rule": ("best linear predictor (Chernozhukov et al. 2018): the DR score regressed on the out-of-fold effect "
                 "minus its mean; loading 1 = estimated differences are real at face value, 0 = none detected"),
    }
    edges = np.quantile(tau, np.linspace(0, 1, config.gates_groups + 1)[1:-1])
    group = np.searchsorted(edges, tau, side="right")
    out = []
    for g in range(config.gates_groups):
        sel = group == g
        if not sel.any():
            continue
        est, cov = _wls(np.ones((int(sel.sum()), 1)), psi[sel], w[sel], groups[sel])
        half = Z95 * float(np.sqrt(cov[0, 0]))
        out.append({"group": g + 1, "stays": int(sel.sum()), "mean_estimated": float(np.average(tau[sel], weights=w[sel])),
                    "dr_estimate": float(est[0]), "ci_low": float(est[0] - half), "ci_high": float(est[0] + half)})
    return calibration, pl.DataFrame(out)


def shrinkage_from(calibration: dict) -> float:
    """How much of the final stage's spread scoring believes: the BLP loading clipped to [0, 1]
    when its 95% interval excludes 0, else 0. A loading whose interval holds 0 is no evidence that
    the estimated differences between members are real, and acting on it reorders the list by
    noise (docs/evaluation.md: two of five 100k seeds lost readmissions that way)."""
    low = calibration["heterogeneity_loading_ci"][0]
    return float(np.clip(calibration["heterogeneity_loading"], 0.0, 1.0)) if low > 0 else 0.0


def relative_reduction(benefit: np.ndarray, untreated: np.ndarray, model: BenefitModel) -> np.ndarray:
    """The share of the expected events enrolment removes, for the blend ranking (risk x this):
    the member's own ratio weighted by the shrinkage, and for the rest the average relative
    reduction (average effect / mean outcome without the program). With no evidence of differences
    every member gets the same relative reduction, so the blend orders the list as risk does: the
    constant-relative-effect assumption behind ranking by risk."""
    average = model.coef[0] / max(float(model.untreated_mean), 1e-9)
    own = benefit / np.maximum(untreated, 1e-9)
    return np.clip(model.shrinkage * own + (1 - model.shrinkage) * average, 0.0, 1.0)


def untreated_outcome(model: BenefitModel, cohort: pl.DataFrame) -> np.ndarray:
    """The expected outcome without the program for new rows (the fold models' mean, in the
    outcome's reported unit)."""
    w_x, names = confounder_matrix(cohort)
    w_x = _align(w_x, names, model.confounder_names)
    x0 = np.hstack([w_x, np.zeros((w_x.shape[0], 1))])
    with quiet_reshaping():
        preds = [predict_outcome(m, x0, model.outcome.binary) for m in model.nuisance_models]
    return np.mean(preds, axis=0) * model.outcome.scale


def _align(x: np.ndarray, names: Sequence[str], wanted: Sequence[str]) -> np.ndarray:
    """Columns of ``x`` (named ``names``) in the order ``wanted``; a column the training rows had
    and these rows lack (a race level nobody new has) is 0."""
    index = {n: i for i, n in enumerate(names)}
    return np.column_stack([x[:, index[n]] if n in index else np.zeros(x.shape[0]) for n in wanted]) if wanted else x


def score_benefit(model: BenefitModel, cohort: pl.DataFrame, k: int = 2) -> pl.DataFrame:
    """For each row of ``cohort`` (stays the list acts on, shaped like the program-effect cohort):
    ``benefit`` (expected reduction, reported unit), its 95% interval, the expected outcome without
    the program, the relative reduction, and ``k`` plain-word reasons from the final stage's own
    attributions (``benefit_reason_i``, ``benefit_reason_feature_i``, ``benefit_contribution_i``)."""
    empty = {"stay_id": pl.String, "person_id": pl.String, "outcome": pl.String, "benefit": pl.Float64,
             "benefit_ci_low": pl.Float64, "benefit_ci_high": pl.Float64, "untreated_expected": pl.Float64,
             "relative_reduction": pl.Float64,
             **{f"benefit_reason_{i + 1}": pl.String for i in range(k)},
             **{f"benefit_reason_feature_{i + 1}": pl.String for i in range(k)},
             **{f"benefit_contribution_{i + 1}": pl.Float64 for i in range(k)}}
    if not model.estimated or cohort.height == 0:
        return pl.DataFrame(schema=empty)
    untreated = untreated_outcome(model, cohort)
    mods = modifier_frame(cohort, untreated)
    # each member's departure from the average effect, shrunk by the out-of-fold evidence that such
    # departures are real (the BLP loading): with no evidence everyone gets the average effect
    x = _design(mods, model.means, model.scales)
    x[:, 1:] *= model.shrinkage
    benefit = x @ model.coef
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, model.cov, x))
    contrib = x[:, 1:] * model.coef[1:]
    reasons = benefit_reasons(contrib, mods, k, model.outcome)
    return pl.DataFrame({
        "stay_id": cohort["stay_id"], "person_id": cohort["person_id"],
        "outcome": [model.outcome.name] * cohort.height,
        "benefit": benefit, "benefit_ci_low": benefit - Z95 * se, "benefit_ci_high": benefit + Z95 * se,
        "untreated_expected": untreated,
        "relative_reduction": relative_reduction(benefit, untreated, model),
    }).hstack(reasons).cast(empty)


def benefit_reasons(contrib: np.ndarray, mods: pl.DataFrame, k: int, outcome: BenefitOutcome) -> pl.DataFrame:
    """Per row, the ``k`` modifiers whose contribution raises the expected benefit most, in plain
    words ("larger benefit expected: ..."); NO_BENEFIT_REASON in the first slot when none does."""
    specs = {m.name: m.spec for m in MODIFIERS} | {
        UNTREATED_RISK: _spec(UNTREATED_RISK, outcome.untreated_template)}
    names = mods.columns
    values = mods.to_numpy().astype(float)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    cols: dict[str, list] = {}
    for i in range(k):
        idx = order[:, i]
        c = contrib[np.arange(len(idx)), idx]
        v = values[np.arange(len(idx)), idx]
        cols[f"benefit_reason_{i + 1}"] = [
            f"larger benefit expected: {specs[names[j]].reason(float(val))}" if cj > 0
            else (NO_BENEFIT_REASON if i == 0 else None)
            for j, val, cj in zip(idx, v, c, strict=True)]
        cols[f"benefit_reason_feature_{i + 1}"] = [names[j] if cj > 0 else None for j, cj in zip(idx, c, strict=True)]
        cols[f"benefit_contribution_{i + 1}"] = [float(cj) if cj > 0 else None for cj in c]
    return pl.DataFrame(cols, schema={**{f"benefit_reason_{i + 1}": pl.String for i in range(k)},
                                      **{f"benefit_reason_feature_{i + 1}": pl.String for i in range(k)},
                                      **{f"benefit_contribution_{i + 1}": pl.Float64 for i in range(k)}})


def coefficient_table(model: BenefitModel) -> pl.DataFrame:
    """The final stage per modifier: the change in expected reduction per SD of the modifier, with
    its interval (the model card's table)."""
    if not model.estimated:
        return pl.DataFrame(schema={"outcome": pl.String, "term": pl.String, "estimate": pl.Float64,
                                    "ci_low": pl.Float64, "ci_high": pl.Float64})
    se = np.sqrt(np.diag(model.cov))
    terms = ["average effect", *(f"{n} (per SD {s:.3g})" for n, s in zip(model.names, model.scales, strict=True))]
    return pl.DataFrame({"outcome": [model.outcome.name] * len(terms), "term": terms, "estimate": model.coef,
                         "ci_low": model.coef - Z95 * se, "ci_high": model.coef + Z95 * se})


def recent_window(as_of: dt.date, lookback_days: int) -> dt.date:
    """The first discharge date the list acts on (models.intake.IntakeOptions.lookback_days)."""
    return as_of - dt.timedelta(days=lookback_days)


# ---- the pipeline's tables -------------------------------------------------------------------
SCORE_TABLE, MODEL_TABLE, CALIBRATION_TABLE = "ml.benefit_score", "ml.benefit_model", "ml.benefit_calibration"
MODEL_SCHEMA: dict[str, pl.DataType] = {
    "as_of_date": pl.Date, "outcome": pl.String, "unit": pl.String, "status": pl.String, "note": pl.String,
    "stays": pl.Int64, "enrolled_stays": pl.Int64, "trimmed_stays": pl.Int64,
    "average_effect": pl.Float64, "average_effect_ci_low": pl.Float64, "average_effect_ci_high": pl.Float64,
    "heterogeneity_loading": pl.Float64, "heterogeneity_loading_ci_low": pl.Float64,
    "heterogeneity_loading_ci_high": pl.Float64, "shrinkage": pl.Float64, "out_of_fold_sd": pl.Float64,
    "scored_stays": pl.Int64,
}
CALIBRATION_SCHEMA: dict[str, pl.DataType] = {
    "outcome": pl.String, "kind": pl.String, "term": pl.String, "stays": pl.Int64, "mean_estimated": pl.Float64,
    "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
}


@dataclass
class BenefitTables:
    score: pl.DataFrame  # ml.benefit_score: one row per (listed-window stay, outcome)
    model: pl.DataFrame  # ml.benefit_model: one row per outcome
    calibration: pl.DataFrame  # ml.benefit_calibration: GATES and final-stage coefficients
    models: dict[str, BenefitModel] = field(default_factory=dict)


def _model_row(as_of: dt.date, model: BenefitModel, scored: int) -> dict:
    row = {k: None for k in MODEL_SCHEMA} | {
        "as_of_date": as_of, "outcome": model.outcome.name, "unit": model.outcome.unit, "status": model.status,
        "note": model.note, "stays": model.n_stays, "enrolled_stays": model.n_treated, "trimmed_stays": model.n_trimmed,
        "scored_stays": scored}
    c = model.calibration
    if c:
        row |= {"average_effect": c["average_effect"], "average_effect_ci_low": c["average_effect_ci"][0],
                "average_effect_ci_high": c["average_effect_ci"][1], "heterogeneity_loading": c["heterogeneity_loading"],
                "heterogeneity_loading_ci_low": c["heterogeneity_loading_ci"][0],
                "heterogeneity_loading_ci_high": c["heterogeneity_loading_ci"][1], "shrinkage": model.shrinkage,
                "out_of_fold_sd": c["out_of_fold_sd"]}
    return row


def _calibration_rows(model: BenefitModel) -> pl.DataFrame:
    frames = [pl.DataFrame(schema=CALIBRATION_SCHEMA)]
    if model.estimated:
        coef = coefficient_table(model)
        frames.append(coef.select("outcome", pl.lit("coefficient").alias("kind"), "term", "estimate", "ci_low", "ci_high"))
        if model.gates.height:
            frames.append(model.gates.select(
                pl.lit(model.outcome.name).alias("outcome"), pl.lit("gates").alias("kind"),
                pl.format("quintile {} of the out-of-fold effect", "group").alias("term"), "stays", "mean_estimated",
                pl.col("dr_estimate").alias("estimate"), "ci_low", "ci_high"))
    return pl.concat([f.cast({k: v for k, v in CALIBRATION_SCHEMA.items() if k in f.columns}) for f in frames],
                     how="diagonal_relaxed").select(list(CALIBRATION_SCHEMA))


def build_benefit(
    con, as_of: dt.date, lookback_days: int = 30, config: BenefitConfig = BenefitConfig(), grace_days: int = 7,
) -> BenefitTables:
    """Fit each outcome's learner on the past stays of the program-effect cohort and score the
    stays discharged in the ``lookback_days`` before ``as_of`` (the readmission list's window)."""
    from models.program_effect import build_program_effect_cohort

    cohort = build_program_effect_cohort(con, as_of, grace_days, recent_from=recent_window(as_of, lookback_days))
    recent = cohort.filter(pl.col("discharge_date") >= recent_window(as_of, lookback_days))
    past = cohort.filter(pl.col("discharge_date") < recent_window(as_of, lookback_days))
    scores, rows, calibration, models = [], [], [], {}
    for name in BENEFIT_OUTCOMES:
        model = fit_benefit(past, name, config)
        scored = score_benefit(model, recent, config.reasons)
        models[name] = model
        scores.append(scored)
        rows.append(_model_row(as_of, model, scored.height))
        calibration.append(_calibration_rows(model))
    score = pl.concat(scores).join(recent.select("stay_id", "discharge_date"), on="stay_id", how="left")
    return BenefitTables(score=score, model=pl.DataFrame(rows, schema=MODEL_SCHEMA),
                         calibration=pl.concat(calibration), models=models)


def write_benefit(con, tables: BenefitTables) -> dict[str, int]:
    """Replace the three ml tables; returns their row counts."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    written = {}
    for table, frame in ((SCORE_TABLE, tables.score), (MODEL_TABLE, tables.model), (CALIBRATION_TABLE, tables.calibration)):
        con.register("_benefit_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _benefit_frame")  # names from the constants above
        con.unregister("_benefit_frame")
        written[table] = frame.height
    return written
