"""Core tables derived from raw extracts."""

import dagster as dg

from features.stays import build_inpatient_stays
from pipelines.resources import DUCKDB_POOL, RiskstratSettings


@dg.asset(
    key=["core", "inpatient_stay"],
    deps=[dg.AssetKey(["raw", "medical_claim"])],
    group_name="core",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
def core_inpatient_stay(settings: RiskstratSettings) -> dg.MaterializeResult:
    """One row per acute inpatient stay: institutional inpatient claims of one person whose dates
    overlap, or chain as a transfer, collapsed into a single stay (grain: stay_id)."""
    with settings.connect() as con:
        counts = build_inpatient_stays(con)
    return dg.MaterializeResult(metadata={k: int(v) for k, v in counts.items()})
