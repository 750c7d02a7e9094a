"""Point-in-time feature tables."""

import dagster as dg

from features.readmission import build_readmission_dataset
from pipelines.resources import DUCKDB_POOL, RiskstratSettings

READMISSION_INPUTS = ["eligibility", "medical_claim", "pharmacy_claim", "encounter", "lab_result", "area_sdoh_county", "cm_case"]


@dg.asset(
    key=["features", "readmission_stay"],
    deps=[dg.AssetKey(["core", "inpatient_stay"]), *[dg.AssetKey(["raw", name]) for name in READMISSION_INPUTS]],
    group_name="features",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
def features_readmission_stay(context: dg.AssetExecutionContext, settings: RiskstratSettings) -> dg.MaterializeResult:
    """One row per index stay discharged before the as-of date, with features computed only from
    data before the discharge and the 30-day unplanned readmission label (NULL while unobservable)."""
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        counts = build_readmission_dataset(con, as_of)
    context.log.info(f"as-of {as_of}: {counts.get('index_stays', 0)} index stays")
    return dg.MaterializeResult(metadata={"as_of": as_of.isoformat(), **{k: int(v) for k, v in counts.items()}})


@dg.asset_check(asset=dg.AssetKey(["features", "readmission_stay"]), name="one_row_per_stay", blocking=True)
def readmission_stay_grain(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """The feature table has exactly one row per stay_id."""
    with settings.connect(read_only=True) as con:
        rows, stays = con.execute("SELECT count(*), count(DISTINCT stay_id) FROM features.readmission_stay").fetchone()
    return dg.AssetCheckResult(passed=rows == stays, metadata={"rows": rows, "distinct_stays": stays})
