"""Core tables derived from raw extracts."""

import dagster as dg

from features.diagnosis import DIAGNOSIS_TABLE, build_diagnosis
from features.spark_landing import diagnosis_on_spark, inpatient_stays_on_spark
from features.stays import build_inpatient_stays
from pipelines.failures import surfaces_data_errors
from pipelines.resources import DUCKDB_POOL, RiskstratSettings, SqlEngine


@dg.asset(
    key=["core", "inpatient_stay"],
    deps=[dg.AssetKey(["raw", "medical_claim"]), dg.AssetKey(["raw", "encounter"])],
    group_name="core",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def core_inpatient_stay(settings: RiskstratSettings, engine: SqlEngine) -> dg.MaterializeResult:
    """One row per acute inpatient stay: institutional inpatient claims (with or without a diagnosis)
    and EHR inpatient encounters no claim overlaps, of one person, whose dates overlap or chain as a
    transfer, collapsed into a single stay (grain: stay_id), with the CMS Planned Readmission
    Algorithm v4.0 flag (planned_flag, planned_reason; an unknown principal diagnosis never makes a
    potentially planned procedure planned)."""
    with settings.connect() as con:
        if engine.on_spark:
            counts = inpatient_stays_on_spark(con, engine.spark(settings, con))
        else:
            counts = build_inpatient_stays(con)
    return dg.MaterializeResult(metadata={**{k: int(v) for k, v in counts.items()}, "engine": engine.name})


@dg.asset(
    key=["core", "diagnosis"],
    deps=[dg.AssetKey(["raw", name]) for name in ("medical_claim", "condition", "encounter")],
    group_name="core",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def core_diagnosis(settings: RiskstratSettings, engine: SqlEngine) -> dg.MaterializeResult:
    """One row per diagnosis record and position (claims diagnosis_code_1..3, EHR conditions,
    encounter primary diagnoses) with its code system and an ICD-10-CM code (ICD-9-CM via the CMS
    GEMs, SNOMED CT via the shipped NLM map subset); unmapped rows are kept. Metadata: rows, mapped
    rows and coverage per code system."""
    with settings.connect() as con:
        coverage = diagnosis_on_spark(con, engine.spark(settings, con)) if engine.on_spark else build_diagnosis(con)
    return dg.MaterializeResult(metadata={"dagster/row_count": coverage["rows_all"], **coverage, "engine": engine.name})


@dg.asset_check(asset=dg.AssetKey(["core", "diagnosis"]), name="one_row_per_diagnosis", blocking=True)
@surfaces_data_errors
def diagnosis_grain(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """core.diagnosis has one row per (source, source_id, position) and every row has a code system."""
    with settings.connect(read_only=True) as con:
        rows, keys, no_system = con.execute(
            f"SELECT count(*), count(DISTINCT (source, source_id, position)), count(*) FILTER (WHERE code_system IS NULL) "
            f"FROM {DIAGNOSIS_TABLE}"
        ).fetchone()
    return dg.AssetCheckResult(passed=rows == keys and no_system == 0,
                               metadata={"rows": rows, "distinct_keys": keys, "rows_without_code_system": no_system})


core_checks = [diagnosis_grain]
