"""``marts.program_effect``: does case management work? A thin asset over ``models.program_effect``."""

import dagster as dg
import polars as pl

from data_contracts.spec import EXTRACTS
from models.causal_att import NuisanceConfig
from models.program_effect import (
    BALANCE_TABLE,
    EFFECT_TABLE,
    OVERLAP_TABLE,
    ProgramEffectConfig,
    ScaleRule,
    build_program_effect,
    write_program_effect,
)
from pipelines.failures import surfaces_data_errors
from pipelines.resources import DUCKDB_POOL, RiskstratSettings

PROGRAM_EFFECT_CSV = "program_effect.csv"
# raw.cm_intake_assignment (a lottery extract) is read when the landing has one
RAW_INPUTS = [e for e in ("eligibility", "cm_case", "medical_claim", "pharmacy_claim", "encounter",
                          "cm_intake_assignment") if e in EXTRACTS]


class ProgramEffectRunConfig(dg.Config):
    """The evaluation's knobs (docs/evaluation.md); the defaults are what the pipeline runs."""

    grace_days: int = 7  # enrolled at time zero = a case opened within this many days of the discharge
    new_users_only: bool = True  # members already in a program when admitted are not eligible
    min_treated: int = 30  # cells with fewer enrolled stays are suppressed
    folds: int = 3  # cross-fitting folds (whole members per fold)
    seed: int = NuisanceConfig().seed
    n_jobs: int = 2  # cells estimated at once
    # a comparison of more than this many stays is estimated on a weighted random sample of this
    # many (models.program_effect.ScaleRule; 0 = never sample)
    max_stays: int = ScaleRule().max_stays or 0


def _headline(effects: pl.DataFrame) -> dict:
    """The 30-day readmission effect on the enrolled (all programs) and the status counts."""
    row = effects.filter((pl.col("outcome") == "readmit_30d") & (pl.col("program") == "all")
                         & (pl.col("method") == "aipw")).to_dicts()
    out: dict = {"statuses": dg.MetadataValue.json(
        {s: int(n) for s, n in effects.group_by("status").len().sort("status").iter_rows()})}
    if row:
        out["readmit_30d_status"] = row[0]["status"]
        for key in ("estimate", "ci_low", "ci_high"):
            if row[0][key] is not None:
                out[f"readmit_30d_{key}"] = round(float(row[0][key]), 4)
    return out


def _preview(effects: pl.DataFrame) -> str:
    shown = effects.filter(pl.col("program") == "all").select(
        "outcome", "method", "estimate", "ci_low", "ci_high", "n_treated", "status")
    return shown.to_pandas().to_markdown(index=False, floatfmt=".4f") if shown.height else "empty"


@dg.asset(
    key=["marts", "program_effect"],
    deps=[dg.AssetKey(["features", "readmission_stay"]), dg.AssetKey(["core", "inpatient_stay"]),
          dg.AssetKey(["core", "diagnosis"]),
          *(dg.AssetKey(["raw", e]) for e in RAW_INPUTS)],
    group_name="outputs",
    kinds={"duckdb", "csv"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def marts_program_effect(settings: RiskstratSettings, config: ProgramEffectRunConfig) -> dg.MaterializeResult:
    """Does case management work? A target-trial emulation at each index discharge of a member not
    already in a program: the effect of being enrolled within 7 days on the enrolled (ATT; doubly
    robust, cross-fitted, 95% interval)
    on 30- and 180-day readmission and on admissions, ED visits and paid amount per member-month over
    6 and 12 months, by program and overall; beside it the naive enrolled-vs-not and pre/post
    comparisons (labelled descriptive, not an effect), the lottery's randomised comparison when a
    band's window has closed, overlap, balance and E-values. Cells with fewer than 30 enrolled stays
    are suppressed; estimates without comparable non-enrolled stays are withheld. A comparison of
    more than 40,000 stays (from about 150,000 members) is estimated on a weighted random sample of
    40,000 (its note says so; ``sampled_cells`` counts them). Also marts.program_effect_balance,
    marts.program_effect_overlap and HOME/outputs/program_effect.csv (docs/evaluation.md)."""
    options = ProgramEffectConfig(
        grace_days=config.grace_days, new_users_only=config.new_users_only, min_treated=config.min_treated,
        n_jobs=config.n_jobs,
        nuisance=NuisanceConfig(folds=config.folds, seed=config.seed),
        scale=ScaleRule(max_stays=config.max_stays or None),
    )
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        tables = build_program_effect(con, as_of, options)
        written = write_program_effect(con, tables)
    path = settings.outputs_path / PROGRAM_EFFECT_CSV
    tables.effects.write_csv(path)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written[EFFECT_TABLE],
        "balance_rows": written[BALANCE_TABLE],
        "overlap_rows": written[OVERLAP_TABLE],
        "as_of": as_of.isoformat(),
        **tables.counts,
        **_headline(tables.effects),
        "path": str(path),
        "preview": dg.MetadataValue.md(_preview(tables.effects)),
    })
