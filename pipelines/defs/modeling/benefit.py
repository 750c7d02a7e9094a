"""``ml.benefit_score``: who would benefit from case management, a thin asset over ``models.benefit``."""

import dagster as dg
import polars as pl

from models.benefit import CALIBRATION_TABLE, MODEL_TABLE, SCORE_TABLE, BenefitConfig, build_benefit, write_benefit
from models.causal_att import NuisanceConfig
from models.intake import IntakeOptions
from pipelines.defs.outputs.program_effect import RAW_INPUTS
from pipelines.failures import surfaces_data_errors
from pipelines.resources import DUCKDB_POOL, RiskstratSettings


class BenefitRunConfig(dg.Config):
    """The learner's knobs (models.benefit.BenefitConfig); the defaults are what the pipeline runs."""

    folds: int = 3  # cross-fitting folds (whole members per fold)
    seed: int = NuisanceConfig().seed
    min_treated: int = BenefitConfig().min_treated
    max_stays: int = BenefitConfig().max_stays


def _model_metadata(model: pl.DataFrame) -> dict:
    out: dict = {}
    for row in model.iter_rows(named=True):
        name = row["outcome"]
        out[f"{name}_status"] = row["status"]
        out[f"{name}_note"] = row["note"]
        if row["heterogeneity_loading"] is not None:
            out[f"{name}_heterogeneity_loading"] = round(float(row["heterogeneity_loading"]), 3)
            out[f"{name}_heterogeneity_loading_ci"] = (
                f"{row['heterogeneity_loading_ci_low']:.2f} to {row['heterogeneity_loading_ci_high']:.2f}")
    return out


@dg.asset(
    key=["ml", "benefit_score"],
    deps=[dg.AssetKey(["features", "readmission_stay"]), dg.AssetKey(["core", "inpatient_stay"]),
          dg.AssetKey(["core", "diagnosis"]), *(dg.AssetKey(["raw", e]) for e in RAW_INPUTS)],
    group_name="modeling",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def ml_benefit_score(settings: RiskstratSettings, config: BenefitRunConfig) -> dg.MaterializeResult:
    """Each discharge in the readmission list's window (the 30 days before the as-of), with its
    expected reduction in 30-day readmission risk and in admissions per member-year if enrolled now,
    a 95% interval and two plain-word reasons; learnt from past enrolments at discharge (a DR-learner
    with a linear final stage over pre-specified effect modifiers, cross-fitted LightGBM nuisances;
    models.benefit). Also ml.benefit_model (per outcome: status, the average effect and how much of
    the estimated difference between members is real: the BLP loading) and ml.benefit_calibration
    (per-quintile doubly robust effects and the final stage's coefficients). Without a lottery the
    estimates rest on no unmeasured confounding (docs/evaluation.md)."""
    options = BenefitConfig(nuisance=NuisanceConfig(folds=config.folds, seed=config.seed),
                            min_treated=config.min_treated, max_stays=config.max_stays)
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        tables = build_benefit(con, as_of, IntakeOptions().lookback_days, options)
        written = write_benefit(con, tables)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written[SCORE_TABLE],
        "model_rows": written[MODEL_TABLE],
        "calibration_rows": written[CALIBRATION_TABLE],
        "as_of": as_of.isoformat(),
        **_model_metadata(tables.model),
    })
