"""Does case management work? ``marts.program_effect``: a target-trial emulation, estimated doubly
robust, with the descriptive comparisons beside it and labelled as such.

The trial emulated (features/sql/features__program_effect_cohort.sql): at each index discharge
(time zero), a member not opted out of outreach and not already in a program when admitted is
either enrolled in a program within the ``grace_days`` grace period or not; outcomes are counted
from the discharge; confounders are what was known at discharge (the readmission features, payer,
utilisation over 30 days to 2 years, Elixhauser comorbidities, demographics, the discharge month).
Per program (and ``all``: any program), enrolled stays are compared with stays enrolled in no
program.

Rows of ``marts.program_effect`` per (outcome, program):
  aipw         the adjusted effect on the enrolled (ATT, models.causal_att.estimate_att), with
               overlap, balance and the E-value; withheld when overlap fails
  naive        enrolled minus not enrolled, as observed: descriptive, not an effect
  pre_post     (admissions_6m only) enrolled stays' admissions per member-month in the 6 months
               after discharge minus the 6 months before: descriptive, not an effect
  lottery_itt  offered minus not offered within the evaluation lottery's band, when a band's
               180-day window has closed: randomised
A cell with fewer than ``min_treated`` enrolled stays is suppressed. docs/evaluation.md has the
design, the formulas and the measured bias and coverage on generated data.
"""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import polars as pl

from features.codelists import load_code_lists
from features.dictionary import MODEL_FEATURES
from features.sqlfiles import ensure_schema, load_sql, materialise_select
from models.causal_att import (
    AttResult,
    Interval,
    NuisanceConfig,
    OverlapRule,
    arm_sample,
    cross_fitted_propensity,
    e_values,
    estimate_att,
    grouped_folds,
    naive_difference,
    quiet_reshaping,
    rate_change,
    stratified_difference,
)

PROGRAM_ALL = "all"
COHORT_TEMP_TABLE = "_program_effect_cohort"
LOTTERY_TEMP_TABLE = "_lottery_assignment"
# where lottery assignments can come from: the generator's (or a program's own) extract, and the
# pipeline's own lottery; a fixed list, so no table name comes from outside
LOTTERY_SOURCES: tuple[str, ...] = ("raw.cm_intake_assignment", "marts.intake_assignment")
LOTTERY_COLUMNS = ("assignment_date", "person_id", "program", "lottery_band_flag", "offered_flag", "lottery_seed")
EFFECT_TABLE, BALANCE_TABLE, OVERLAP_TABLE = "marts.program_effect", "marts.program_effect_balance", "marts.program_effect_overlap"

# Columns of features.readmission_stay that are the treatment, not a confounder.
TREATMENT_DERIVED: tuple[str, ...] = ("open_cm_case_flag",)
# What was known at discharge beyond the readmission features (features__program_effect_cohort.sql):
# payer, longer and shorter utilisation windows, Elixhauser comorbidities.
COHORT_CONFOUNDERS: tuple[str, ...] = (
    "medicaid_flag", "medicare_flag", "prior_ip_admissions_30d", "prior_ip_admissions_90d",
    "prior_ip_admissions_730d", "prior_unplanned_discharges_180d", "emergency_admission_type_flag",
    "ed_visits_30d", "ed_visits_365d", "elixhauser_count", "elixhauser_vw_index", "office_visits_365d",
)
CONFOUNDERS: tuple[str, ...] = (*(c for c in MODEL_FEATURES if c not in TREATMENT_DERIVED), *COHORT_CONFOUNDERS)
CATEGORICAL_CONFOUNDERS: tuple[str, ...] = ("race", "ethnicity")

LABELS = {"aipw": "adjusted effect", "naive": "descriptive, not an effect", "pre_post": "descriptive, not an effect",
          "lottery_itt": "randomised"}
STATUSES = ("reported", "suppressed_small_cell", "withheld_no_overlap", "not_estimable")


@dataclass(frozen=True)
class OutcomeSpec:
    name: str
    kind: str  # models.causal_att.OUTCOME_KINDS
    exposure: str | None  # weight column (member-months) for rates
    window_days: int  # the outcome window, for notes
    unit: str
    description: str


OUTCOMES: dict[str, OutcomeSpec] = {o.name: o for o in (
    OutcomeSpec("readmit_30d", "binary", None, 30, "risk difference",
                "unplanned acute readmission 1-30 days after discharge"),
    OutcomeSpec("readmit_180d", "binary", None, 180, "risk difference",
                "unplanned acute readmission 1-180 days after discharge"),
    OutcomeSpec("admissions_6m", "rate", "member_months_6m", 183, "admissions per member-month",
                "unplanned acute admissions in the 6 months after discharge"),
    OutcomeSpec("admissions_12m", "rate", "member_months_12m", 365, "admissions per member-month",
                "unplanned acute admissions in the 12 months after discharge"),
    OutcomeSpec("ed_visits_6m", "rate", "member_months_6m", 183, "ED visits per member-month",
                "ED visits in the 6 months after discharge"),
    OutcomeSpec("ed_visits_12m", "rate", "member_months_12m", 365, "ED visits per member-month",
                "ED visits in the 12 months after discharge"),
    OutcomeSpec("paid_6m", "cost", "member_months_6m", 183, "paid amount per member-month",
                "paid medical and pharmacy amount in the 6 months after discharge"),
    OutcomeSpec("paid_12m", "cost", "member_months_12m", 365, "paid amount per member-month",
                "paid medical and pharmacy amount in the 12 months after discharge"),
)}
LOTTERY_OUTCOMES: dict[str, OutcomeSpec] = {o.name: o for o in (
    OutcomeSpec("admissions_180d", "count", None, 180, "admissions per member",
                "unplanned acute admissions in the 180 days after the lottery"),
    OutcomeSpec("any_admission_180d", "binary", None, 180, "risk difference",
                "any unplanned acute admission in the 180 days after the lottery"),
)}
PRE_POST_OUTCOME = "admissions_6m"

EFFECT_SCHEMA: dict[str, pl.DataType] = {
    "as_of_date": pl.Date, "outcome": pl.String, "program": pl.String, "method": pl.String, "label": pl.String,
    "estimand": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "unit": pl.String,
    "n_treated": pl.Int64, "n_control": pl.Int64, "treated_mean": pl.Float64, "control_mean": pl.Float64,
    "e_value": pl.Float64, "e_value_ci": pl.Float64, "max_smd_before": pl.Float64, "max_smd_after": pl.Float64,
    "overlap_share": pl.Float64, "status": pl.String, "note": pl.String,
}
BALANCE_SCHEMA: dict[str, pl.DataType] = {
    "outcome": pl.String, "program": pl.String, "covariate": pl.String, "smd_before": pl.Float64,
    "smd_after": pl.Float64, "imbalanced_flag": pl.Int32,
}
OVERLAP_SCHEMA: dict[str, pl.DataType] = {
    "program": pl.String, "arm": pl.String, "bin_low": pl.Float64, "bin_high": pl.Float64, "stays": pl.Int64,
}
PROPENSITY_SCHEMA: dict[str, pl.DataType] = {
    "stay_id": pl.String, "person_id": pl.String, "discharge_date": pl.Date, "program": pl.String,
    "enrolled_flag": pl.Int32, "propensity": pl.Float64, "in_estimate_flag": pl.Int32, "sampling_weight": pl.Float64,
}


@dataclass(frozen=True)
class ScaleRule:
    """What changes when a program's comparison is large (docs/evaluation.md, "At scale").

    A comparison (a program's eligible enrolled stays and the eligible stays enrolled in no program)
    of more than ``max_stays`` stays is estimated on a random sample of ``max_stays`` of them, drawn
    within each arm: the enrolled whole up to ``max_treated_share`` of the sample, the non-enrolled
    filling the rest (a case-control sample); every sampled stay is weighted back by its arm's
    inverse sampling rate (models.causal_att.estimate_att), and the nuisance models are
    cross-fitted over ``folds`` folds. Below it nothing changes. At 100,000 generated members the
    largest comparison holds about 25,000-29,000 stays, at 200,000 about 53,000, at 1,000,000 about
    265,000 (extrapolated); the nuisance fits cost time in proportion to the stays, so this bounds
    the estimate's time whatever the membership. ``max_stays`` None: never sample. The naive and
    pre/post rows always use every stay."""

    max_stays: int | None = 40_000
    max_treated_share: float = 1 / 3
    folds: int = 2
    seed: int = 20_170_801


@dataclass(frozen=True)
class ProgramEffectConfig:
    """Knobs of the evaluation (the defaults are what the pipeline runs)."""

    grace_days: int = 7  # enrolled at time zero = a case opened within this many days of discharge
    # the decision at a discharge is whether to enrol: members already in a program when admitted
    # were picked at an earlier decision point and are not eligible (a new-user design; docs/evaluation.md)
    new_users_only: bool = True
    min_treated: int = 30  # fewer enrolled (or comparison) stays: suppressed
    overlap_bins: int = 20  # propensity histogram bins of marts.program_effect_overlap
    lottery_window_days: int = 180
    n_jobs: int = 2  # (outcome, program) cells estimated at once, each model on one thread
    nuisance: NuisanceConfig = field(default_factory=NuisanceConfig)
    overlap: OverlapRule = field(default_factory=OverlapRule)
    scale: ScaleRule = field(default_factory=ScaleRule)


@dataclass
class ProgramEffectTables:
    """The three marts tables, plus each program's readmit_30d propensities and the cohort they came
    from (for benchmarks, which would otherwise build the cohort a second time)."""

    effects: pl.DataFrame
    balance: pl.DataFrame
    overlap: pl.DataFrame
    propensity: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    cohort: pl.DataFrame = field(default_factory=pl.DataFrame)


def build_program_effect_cohort(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, grace_days: int = 7, recent_from: dt.date | None = None,
) -> pl.DataFrame:
    """One row per index stay whose 30-day window closed before ``as_of``: treatment
    (``enrolled_programs``, ``enrolled_flag``), outcomes, exposures and confounders
    (features/sql/features__program_effect_cohort.sql); with ``recent_from``, also the stays
    discharged in [recent_from, as_of), outcomes NULL (the stays a list acts on now). Needs
    ``features.readmission_stay``, ``core.inpatient_stay`` and raw eligibility, cm_case,
    medical_claim, pharmacy_claim, encounter."""
    load_code_lists(con)  # _ref_elixhauser
    materialise_select(con, "features__program_effect_cohort", COHORT_TEMP_TABLE,
                       {"as_of": as_of, "grace_days": grace_days, "recent_from": recent_from or as_of})
    return con.execute(f"SELECT * FROM {COHORT_TEMP_TABLE}").pl()


def confounder_matrix(cohort: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The confounders as a float matrix (NaN where missing) and their names: the readmission
    features known at discharge except the treatment-derived ones, race and ethnicity as
    indicators, and the discharge month (programs open and grow over time)."""
    numeric = [c for c in CONFOUNDERS if c in cohort.columns]
    indicators: list[pl.Expr] = []
    for column in CATEGORICAL_CONFOUNDERS:
        if column in cohort.columns:
            values = sorted(v for v in cohort[column].unique().to_list() if v is not None)
            indicators += [(pl.col(column) == v).cast(pl.Float64).alias(f"{column}_{v}") for v in values]
    month = (pl.col("discharge_date").dt.year() * 12 + pl.col("discharge_date").dt.month() - 1).cast(pl.Float64)
    frame = cohort.select(*[pl.col(c).cast(pl.Float64) for c in numeric], *indicators, month.alias("discharge_month"))
    return frame.to_numpy().astype(float), frame.columns


def _row(as_of: dt.date, outcome: OutcomeSpec, program: str, method: str, **values) -> dict:
    row = {key: None for key in EFFECT_SCHEMA}
    row.update(as_of_date=as_of, outcome=outcome.name, program=program, method=method, label=LABELS[method],
               unit=outcome.unit, estimand=_estimand(outcome, method))
    row.update(values)
    return row


def _estimand(outcome: OutcomeSpec, method: str) -> str:
    scale = ("risk difference" if outcome.kind == "binary"
             else f"difference in {outcome.unit}" + (", member-month weighted" if outcome.exposure else ""))
    if method == "aipw":
        return f"ATT: {scale} (enrolled minus not enrolled) in {outcome.description}, among enrolled index stays"
    if method == "naive":
        return f"observed {scale}, enrolled minus not enrolled, in {outcome.description}"
    if method == "pre_post":
        return ("enrolled stays: unplanned acute admissions per member-month in the 6 months after discharge minus "
                "the 6 months before (index admission included)")
    return f"ITT: {scale} (offered minus not offered) in {outcome.description}, within the lottery band"


def _interval_values(interval: Interval) -> dict:
    return {"estimate": interval.estimate, "ci_low": interval.ci_low, "ci_high": interval.ci_high,
            "treated_mean": interval.treated_mean, "control_mean": interval.control_mean}


def _small_cell_note(n_treated: int, n_control: int, minimum: int, treated_word: str = "enrolled") -> str | None:
    if n_treated < minimum:
        return (f"fewer than {minimum} {treated_word} stays with this outcome observed; too few to estimate, "
                "so the figure is suppressed")
    if n_control < minimum:
        return f"fewer than {minimum} comparison stays with this outcome observed; suppressed"
    return None


def eligible_stays(cohort: pl.DataFrame, new_users_only: bool = True) -> pl.DataFrame:
    """Stays eligible for the emulated trial: the member is not opted out of outreach and (with
    ``new_users_only``) was not already in a program when admitted (``already_enrolled_flag``)."""
    keep = pl.col("opted_out_flag") == 0
    if new_users_only:
        keep = keep & (pl.col("already_enrolled_flag") == 0)
    return cohort.filter(keep)


def _aipw_unfit_row(as_of, spec, program, frame, config: ProgramEffectConfig) -> dict | None:
    """The row of a cell that is not fitted (an arm missing, a small cell, a constant outcome); None
    when the cell is fitted."""
    treated = frame["_treated"].to_numpy()
    n1, n0 = int(treated.sum()), int(treated.size - treated.sum())
    base = {"n_treated": n1, "n_control": n0}
    if n1 == 0 or n0 == 0:
        note = "no enrolled stays with this outcome observed" if n1 == 0 else "no non-enrolled stays to compare with"
        return _row(as_of, spec, program, "aipw", status="not_estimable", note=note, **base)
    if (small := _small_cell_note(n1, n0, config.min_treated)) is not None:
        return _row(as_of, spec, program, "aipw", status="suppressed_small_cell", note=small, **base)
    y = frame[spec.name].to_numpy()
    if np.all(y == y[0]):
        return _row(as_of, spec, program, "aipw", status="not_estimable",
                    note="the outcome is the same for every stay, so there is nothing to compare", **base)
    return None


def _aipw_row(as_of, spec, program, frame, x, names, config: ProgramEffectConfig,
              propensity: np.ndarray | None = None, sample: _Sample | None = None) -> tuple[dict, AttResult | None]:
    if (unfit := _aipw_unfit_row(as_of, spec, program, frame, config)) is not None:
        return unfit, None
    treated = frame["_treated"].to_numpy()
    base = {"n_treated": int(treated.sum()), "n_control": int(treated.size - treated.sum())}
    y = frame[spec.name].to_numpy().astype(float)
    weight = frame[spec.exposure].to_numpy().astype(float) if spec.exposure else None
    result = estimate_att(x, names, treated, y, frame["person_id"].to_numpy(), binary=spec.kind == "binary",
                          weight=weight, config=_nuisance_config(config, sample), rule=config.overlap,
                          propensity=propensity, sampling_rate=None if sample is None else sample.rates)
    diagnostics = {
        "overlap_share": result.overlap_share,
        "max_smd_before": _max_abs(result.balance["smd_before"]),
        "max_smd_after": _max_abs(result.balance["smd_after"]),
    }
    sampled = [] if sample is None else [sample.note(config.scale)]
    if result.interval is None:
        return _row(as_of, spec, program, "aipw", status="withheld_no_overlap",
                    note="; ".join([result.withheld, *sampled]), **base, **diagnostics), result
    interval = result.interval
    if interval.n_treated < config.min_treated:
        return _row(as_of, spec, program, "aipw", status="suppressed_small_cell", **base, **diagnostics,
                    note=f"fewer than {config.min_treated} enrolled stays left once those without comparable "
                         "non-enrolled stays are set aside; suppressed"), result
    e, e_ci = e_values(interval, spec.kind, result.outcome_sd)
    imbalanced = result.balance.filter(pl.col("imbalanced_flag") == 1)["covariate"].to_list()
    parts = [f"adjusted for {len(names)} factors known at discharge", *sampled]
    if result.n_trimmed:
        parts.append(f"{result.n_trimmed} stays with a propensity above {config.overlap.high} left out (no comparable "
                     "non-enrolled stays)")
    if imbalanced:
        parts.append(f"still imbalanced after weighting (|SMD| > {config.overlap.smd_threshold}): "
                     + ", ".join(imbalanced[:5]) + (" ..." if len(imbalanced) > 5 else ""))
    parts.append(f"an unmeasured confounder would need a risk ratio of {_fmt(e_ci)} with both enrolment and the "
                 "outcome to move the interval to no effect" if e_ci > 1 else "the interval includes no effect")
    row = _row(as_of, spec, program, "aipw", status="reported", note="; ".join(parts),
               e_value=_finite(e), e_value_ci=_finite(e_ci), **_interval_values(interval), **diagnostics,
               n_treated=interval.n_treated, n_control=interval.n_control)
    return row, result


def _fmt(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def _finite(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _max_abs(column: pl.Series) -> float | None:
    value = column.abs().max()
    return float(value) if value is not None else None


def _naive_row(as_of, spec, program, frame, config: ProgramEffectConfig) -> dict:
    treated = frame["_treated"].to_numpy()
    n1, n0 = int(treated.sum()), int(treated.size - treated.sum())
    base = {"n_treated": n1, "n_control": n0}
    if n1 == 0 or n0 == 0:
        return _row(as_of, spec, program, "naive", status="not_estimable",
                    note="no enrolled stays with this outcome observed" if n1 == 0 else "no non-enrolled stays", **base)
    if (small := _small_cell_note(n1, n0, config.min_treated)) is not None:
        return _row(as_of, spec, program, "naive", status="suppressed_small_cell", note=small, **base)
    weight = frame[spec.exposure].to_numpy().astype(float) if spec.exposure else None
    interval = naive_difference(frame[spec.name].to_numpy().astype(float), treated, frame["person_id"].to_numpy(),
                                binary=spec.kind == "binary", weight=weight)
    return _row(as_of, spec, program, "naive", status="reported", **_interval_values(interval), **base,
                note="observed rates; members are enrolled because they are at high risk, so this difference is "
                     "not the program's effect")


def _pre_post_row(as_of, program, frame, config: ProgramEffectConfig) -> dict:
    spec = OUTCOMES[PRE_POST_OUTCOME]
    enrolled = frame.filter((pl.col("_treated") == 1) & pl.col(PRE_POST_OUTCOME).is_not_null()
                            & pl.col("admissions_pre_6m").is_not_null())
    n = enrolled.height
    if n == 0:
        return _row(as_of, spec, program, "pre_post", status="not_estimable", n_treated=0,
                    note="no enrolled stay has both its 6 months before and after discharge observed")
    if n < config.min_treated:
        return _row(as_of, spec, program, "pre_post", status="suppressed_small_cell", n_treated=n,
                    note=_small_cell_note(n, config.min_treated, config.min_treated))
    interval = rate_change(enrolled[PRE_POST_OUTCOME].to_numpy(), enrolled["member_months_6m"].to_numpy(),
                           enrolled["admissions_pre_6m"].to_numpy(), enrolled["member_months_pre_6m"].to_numpy(),
                           enrolled["person_id"].to_numpy())
    return _row(as_of, spec, program, "pre_post", status="reported", **_interval_values(interval), n_treated=n,
                note="the same enrolled members before and after discharge; they were picked after a spike in use, "
                     "which falls back on its own (regression to the mean), so this change is not the program's "
                     "effect")


def _overlap_bins(propensity: pl.DataFrame, bins: int) -> pl.DataFrame:
    """Stays per propensity bin and arm, every bin present (0 when empty)."""
    if propensity.height == 0:
        return pl.DataFrame(schema=OVERLAP_SCHEMA)
    width = 1.0 / bins
    grid = (pl.DataFrame({"bin": list(range(bins))})
            .join(propensity.select("program").unique(), how="cross")
            .join(pl.DataFrame({"arm": ["enrolled", "not_enrolled"]}), how="cross"))
    counts = (propensity
              .with_columns((pl.col("propensity") / width).floor().clip(0, bins - 1).cast(pl.Int64).alias("bin"),
                            pl.when(pl.col("enrolled_flag") == 1).then(pl.lit("enrolled"))
                            .otherwise(pl.lit("not_enrolled")).alias("arm"))
              # a sampled stay stands for 1/rate stays of its arm (ScaleRule)
              .group_by("program", "arm", "bin").agg(pl.col("sampling_weight").sum().round().cast(pl.Int64).alias("stays")))
    return (grid.join(counts, on=["program", "arm", "bin"], how="left")
            .with_columns(pl.col("stays").fill_null(0),
                          (pl.col("bin") * width).round(6).alias("bin_low"),
                          ((pl.col("bin") + 1) * width).round(6).alias("bin_high"))
            .sort("program", "arm", "bin")
            .select(list(OVERLAP_SCHEMA)).cast(OVERLAP_SCHEMA))


def _programs(cohort: pl.DataFrame) -> list[str]:
    present = cohort.select(pl.col("enrolled_programs").explode().drop_nulls().unique().sort())
    return [PROGRAM_ALL, *present.to_series().to_list()]


@dataclass(frozen=True)
class _Sample:
    """A cell estimated on a ScaleRule sample: its stays per arm, in the cell and in the sample."""

    enrolled: int
    enrolled_sampled: int
    not_enrolled: int
    not_enrolled_sampled: int

    @classmethod
    def of(cls, treated: np.ndarray, rows: np.ndarray, fit_rows: np.ndarray) -> _Sample:
        n1, m1 = int(treated[rows].sum()), int(treated[fit_rows].sum())
        return cls(n1, m1, rows.size - n1, fit_rows.size - m1)

    @property
    def rates(self) -> tuple[float, float]:
        """(enrolled, not enrolled) sampling rates within the cell: the weights are their inverses."""
        return (self.enrolled_sampled / self.enrolled if self.enrolled else 1.0,
                self.not_enrolled_sampled / self.not_enrolled if self.not_enrolled else 1.0)

    def note(self, rule: ScaleRule) -> str:
        return (f"estimated on a random sample of {self.enrolled_sampled + self.not_enrolled_sampled:,} of the "
                f"{self.enrolled + self.not_enrolled:,} stays ({self.enrolled_sampled:,} of {self.enrolled:,} enrolled, "
                f"{self.not_enrolled_sampled:,} of {self.not_enrolled:,} not enrolled; the comparison holds more than "
                f"{rule.max_stays:,} stays), each weighted back by its arm's sampling rate, {rule.folds} "
                "cross-fitting folds")


@dataclass(frozen=True)
class _Cell:
    """One (program, outcome) cell, as rows of the eligible stays rather than frames: 48 frames of a
    1M-member comparison (265,000 stays x 70 columns each) would hold about 7 GB at once."""

    program: str
    spec: OutcomeSpec
    treated: np.ndarray  # per eligible stay: 1 when enrolled in the program
    rows: np.ndarray  # the comparison's stays with the outcome observed (naive, pre/post, cell sizes)
    fit_rows: np.ndarray  # the stays the adjusted estimate is fitted on: rows, or their ScaleRule sample
    key: tuple  # (program, weight column, fit rows): cells with equal keys share the propensity
    sample: _Sample | None


def _comparison_rows(treated: np.ndarray, enrolled: np.ndarray, rule: ScaleRule) -> tuple[np.ndarray, np.ndarray]:
    """Rows (of the eligible stays) of a program's comparison, enrolled in it or in no program, and
    the rows it is fitted on: the same, or their ScaleRule sample (in cohort order) when there are
    more than ``rule.max_stays``."""
    rows = np.flatnonzero((treated == 1) | (enrolled == 0))
    if rule.max_stays is None or rows.size <= rule.max_stays:
        return rows, rows
    sampled, _ = arm_sample(treated[rows], rule.max_stays, rule.max_treated_share, rule.seed)
    return rows, rows[sampled]


def _nuisance_config(config: ProgramEffectConfig, sample: _Sample | None) -> NuisanceConfig:
    return config.nuisance if sample is None else replace(config.nuisance, folds=config.scale.folds)


def estimate_program_effects(
    cohort: pl.DataFrame, as_of: dt.date, config: ProgramEffectConfig = ProgramEffectConfig()
) -> ProgramEffectTables:
    """Every (outcome, program) cell of the observational rows (aipw, naive, pre_post) with its
    balance, and the propensity histogram of each program's readmit_30d comparison."""
    rows: list[dict] = []
    balance: list[pl.DataFrame] = []
    propensity: list[pl.DataFrame] = []
    eligible = eligible_stays(cohort, config.new_users_only)
    if eligible.height == 0 or eligible["enrolled_flag"].sum() == 0:
        why = ("no index stay has its 30-day window closed before the as-of date" if eligible.height == 0 else
               f"no eligible index stay was enrolled in a program by {config.grace_days} days after discharge, so "
               "there is no enrolled group to compare")
        for spec in OUTCOMES.values():
            for method in ("aipw", "naive"):
                rows.append(_row(as_of, spec, PROGRAM_ALL, method, status="not_estimable", note=why,
                                 n_treated=0, n_control=int(eligible.height)))
        rows.append(_row(as_of, OUTCOMES[PRE_POST_OUTCOME], PROGRAM_ALL, "pre_post", status="not_estimable",
                         note=why, n_treated=0))
        return _tables(rows, balance, propensity, config)
    enrolled = eligible["enrolled_flag"].to_numpy()

    def cell_frame(cell: _Cell, rows: np.ndarray, columns: list[str] | None = None) -> pl.DataFrame:
        """The cell's stays ``rows`` (all columns, or ``columns``) with ``_treated``, built when needed."""
        source = eligible if columns is None else eligible.select(columns)
        return source[rows].with_columns(pl.Series("_treated", cell.treated[rows], dtype=pl.Int32))

    cells: list[_Cell] = []
    for program in _programs(eligible):
        in_program = (pl.col("enrolled_flag") == 1) if program == PROGRAM_ALL else pl.col("enrolled_programs").list.contains(program)
        treated = eligible.select(in_program.cast(pl.Int32)).to_series().to_numpy()
        arm_rows, fit_arm_rows = _comparison_rows(treated, enrolled, config.scale)
        for spec in OUTCOMES.values():
            keep = pl.col(spec.name).is_not_null()
            if spec.exposure:
                keep = keep & (pl.col(spec.exposure) > 0)
            observed = eligible.select(keep.fill_null(False)).to_series().to_numpy()
            cell_rows, fit_rows = arm_rows[observed[arm_rows]], fit_arm_rows[observed[fit_arm_rows]]
            sample = None if fit_arm_rows is arm_rows else _Sample.of(treated, cell_rows, fit_rows)
            # the propensity depends on the rows, their weights and the folds (which follow from
            # the rows), not on the outcome: cells of a program with the same rows and weight share it
            cells.append(_Cell(program, spec, treated, cell_rows, fit_rows,
                               (program, spec.exposure, fit_rows.tobytes()), sample))

    def unfit_row(cell: _Cell) -> dict | None:
        return _aipw_unfit_row(as_of, cell.spec, cell.program, cell_frame(cell, cell.rows, [cell.spec.name]), config)

    to_fit: dict[tuple, _Cell] = {}
    for cell in cells:
        if cell.key not in to_fit and unfit_row(cell) is None:
            to_fit[cell.key] = cell

    def fit_propensity(cell: _Cell) -> np.ndarray:
        frame = cell_frame(cell, cell.fit_rows)
        x, _ = confounder_matrix(frame)
        treated = frame["_treated"].to_numpy()
        nuisance = _nuisance_config(config, cell.sample)
        folds = grouped_folds(frame["person_id"].to_numpy(), treated, nuisance.folds, nuisance.seed)
        weight = frame[cell.spec.exposure].to_numpy().astype(float) if cell.spec.exposure else None
        return cross_fitted_propensity(x, treated, weight, folds, nuisance)

    def adjusted(cell: _Cell) -> tuple[dict, AttResult | None]:
        if (unfit := unfit_row(cell)) is not None:
            return unfit, None
        frame = cell_frame(cell, cell.fit_rows)
        x, names = confounder_matrix(frame)
        return _aipw_row(as_of, cell.spec, cell.program, frame, x, names, config, shared.get(cell.key), cell.sample)

    # cells are independent and LightGBM releases the GIL while it trains: n_jobs fits at once,
    # first the distinct propensities, then each cell's outcome model
    with quiet_reshaping(), ThreadPoolExecutor(max_workers=max(1, config.n_jobs)) as pool:
        shared = dict(zip(to_fit, pool.map(fit_propensity, to_fit.values()), strict=True))
        fitted = list(pool.map(adjusted, cells))
    sampled_cells = 0
    descriptive = ["person_id", PRE_POST_OUTCOME, "admissions_pre_6m", "member_months_6m", "member_months_pre_6m"]
    for cell, (row, result) in zip(cells, fitted, strict=True):
        program, spec = cell.program, cell.spec
        frame = cell_frame(cell, cell.rows, list(dict.fromkeys(
            [*descriptive, spec.name, *([spec.exposure] if spec.exposure else [])])))
        sampled_cells += int(result is not None and cell.sample is not None)
        rows.append(row)
        rows.append(_naive_row(as_of, spec, program, frame, config))
        if spec.name == PRE_POST_OUTCOME:
            rows.append(_pre_post_row(as_of, program, frame, config))
        if result is not None:
            balance.append(result.balance.with_columns(pl.lit(spec.name).alias("outcome"),
                                                       pl.lit(program).alias("program")))
            if spec.name == "readmit_30d":
                sampling_weight = (pl.lit(1.0) if cell.sample is None else
                                   pl.when(pl.col("_treated") == 1).then(1 / cell.sample.rates[0])
                                   .otherwise(1 / cell.sample.rates[1]))
                propensity.append(cell_frame(cell, cell.fit_rows, ["stay_id", "person_id", "discharge_date"]).select(
                    "stay_id", "person_id", "discharge_date", pl.lit(program).alias("program"),
                    pl.col("_treated").alias("enrolled_flag"), pl.Series("propensity", result.propensity),
                    pl.Series("in_estimate_flag", result.kept.astype(np.int32)),
                    sampling_weight.alias("sampling_weight")))
    tables = _tables(rows, balance, propensity, config)
    tables.counts["sampled_cells"] = sampled_cells  # adjusted estimates fitted on a ScaleRule sample
    return tables


def _tables(rows, balance, propensity, config: ProgramEffectConfig) -> ProgramEffectTables:
    effects = pl.DataFrame(rows, schema=EFFECT_SCHEMA, orient="row") if rows else pl.DataFrame(schema=EFFECT_SCHEMA)
    balance_frame = (pl.concat(balance).select(list(BALANCE_SCHEMA)).cast(BALANCE_SCHEMA) if balance
                     else pl.DataFrame(schema=BALANCE_SCHEMA))
    propensity_frame = (pl.concat(propensity).cast(PROPENSITY_SCHEMA) if propensity
                        else pl.DataFrame(schema=PROPENSITY_SCHEMA))
    return ProgramEffectTables(effects=effects, balance=balance_frame,
                               overlap=_overlap_bins(propensity_frame, config.overlap_bins), propensity=propensity_frame)


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()[0])


def lottery_band(con: duckdb.DuckDBPyConnection, as_of: dt.date, window_days: int = 180) -> pl.DataFrame:
    """Lottery band rows whose window closed before ``as_of``, with their outcomes
    (features/sql/features__program_effect_lottery.sql), from every table of ``LOTTERY_SOURCES``
    present; empty when there is none."""
    sources = [t for t in LOTTERY_SOURCES if _table_exists(con, t)]
    if not sources:
        return pl.DataFrame()
    columns = ", ".join(LOTTERY_COLUMNS)
    union = " UNION ALL ".join(f"SELECT {columns} FROM {t}" for t in sources)  # names from the fixed tuple
    con.execute(f"CREATE OR REPLACE TEMP TABLE {LOTTERY_TEMP_TABLE} AS SELECT CAST(assignment_date AS DATE) AS "
                f"assignment_date, CAST(person_id AS VARCHAR) AS person_id, CAST(program AS VARCHAR) AS program, "
                f"CAST(lottery_band_flag AS INTEGER) AS lottery_band_flag, CAST(offered_flag AS INTEGER) AS offered_flag, "
                f"CAST(lottery_seed AS BIGINT) AS lottery_seed FROM ({union})")
    return con.execute(load_sql("features__program_effect_lottery"),
                       {"as_of": as_of, "window_days": window_days}).pl()


def lottery_effects(band: pl.DataFrame, as_of: dt.date, config: ProgramEffectConfig = ProgramEffectConfig()) -> pl.DataFrame:
    """``lottery_itt`` rows per (outcome, program): offered minus not offered, stratified by round."""
    rows: list[dict] = []
    if band.height == 0:
        return pl.DataFrame(schema=EFFECT_SCHEMA)
    programs = [PROGRAM_ALL, *sorted(band["program"].drop_nulls().unique().to_list())]
    for program in programs:
        part = band if program == PROGRAM_ALL else band.filter(pl.col("program") == program)
        strata = part.select(pl.concat_str(pl.col("assignment_date").cast(pl.String), pl.col("program"),
                                           pl.col("lottery_seed").cast(pl.String), separator="|",
                                           ignore_nulls=True)).to_series().to_numpy()
        offered = part["offered_flag"].to_numpy()
        n1, n0 = int(offered.sum()), int(offered.size - offered.sum())
        for spec in LOTTERY_OUTCOMES.values():
            base = {"n_treated": n1, "n_control": n0}
            if (small := _small_cell_note(n1, n0, config.min_treated, "offered")) is not None:
                status = "not_estimable" if min(n1, n0) == 0 else "suppressed_small_cell"
                rows.append(_row(as_of, spec, program, "lottery_itt", status=status, note=small, **base))
                continue
            try:
                interval, used = stratified_difference(part[spec.name].to_numpy(), offered, strata)
            except ValueError:
                rows.append(_row(as_of, spec, program, "lottery_itt", status="not_estimable", **base,
                                 note="no lottery round holds both offered and not-offered members"))
                continue
            rows.append(_row(
                as_of, spec, program, "lottery_itt", status="reported", **_interval_values(interval),
                n_treated=interval.n_treated, n_control=interval.n_control,
                note=f"randomised within the lottery band ({used} round{'s' if used != 1 else ''}); intention to "
                     "treat: offered members may decline and others may enrol later"))
    return pl.DataFrame(rows, schema=EFFECT_SCHEMA, orient="row")


def build_program_effect(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, config: ProgramEffectConfig = ProgramEffectConfig()
) -> ProgramEffectTables:
    """Cohort, estimates and lottery for ``as_of``: the tables ``write_program_effect`` writes."""
    cohort = build_program_effect_cohort(con, as_of, config.grace_days)
    tables = estimate_program_effects(cohort, as_of, config)
    band = lottery_band(con, as_of, config.lottery_window_days)
    lottery = lottery_effects(band, as_of, config)
    tables.effects = pl.concat([tables.effects, lottery]) if lottery.height else tables.effects
    eligible = eligible_stays(cohort, config.new_users_only)
    tables.counts = {
        "index_stays": cohort.height,
        "opted_out_stays": int(cohort["opted_out_flag"].sum() or 0),
        "already_enrolled_stays": int(cohort["already_enrolled_flag"].sum() or 0),
        "eligible_stays": eligible.height,
        "enrolled_stays": int(eligible["enrolled_flag"].sum() or 0),
        "lottery_band_rows": band.height,
        **tables.counts,
    }
    tables.cohort = cohort
    return tables


def write_program_effect(con: duckdb.DuckDBPyConnection, tables: ProgramEffectTables) -> dict[str, int]:
    """Create or replace ``marts.program_effect``, ``marts.program_effect_balance`` and
    ``marts.program_effect_overlap``; row counts by table."""
    ensure_schema(con, "marts")
    counts = {}
    for name, frame in ((EFFECT_TABLE, tables.effects), (BALANCE_TABLE, tables.balance), (OVERLAP_TABLE, tables.overlap)):
        con.register("_program_effect_frame", frame.to_arrow())
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _program_effect_frame")  # fixed names
        finally:
            con.unregister("_program_effect_frame")
        counts[name] = frame.height
    return counts
