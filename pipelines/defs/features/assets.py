"""Point-in-time feature tables."""

import dagster as dg
import duckdb

from data_contracts.errors import RiskstratDataError
from features.coverage import cached_month_coverage, coverage_metadata, write_month_coverage
from features.dictionary import MEMBER_FEATURES, MODEL_FEATURES
from features.member import (
    HCC_LIBRARY,
    MEMBER_TABLE,
    NULL_RATE_LIMITS,
    build_member_dataset,
    cutoff_violations,
    enrolled_on,
    no_enrolled_member_error,
    null_rates,
)
from features.diagnosis import mapping_coverage
from features.spark_landing import member_features_on_spark, readmission_on_spark
from features.dictionary import features_from_absent_sources
from features.readmission import (
    READMISSION_TABLE,
    VARIANTS,
    build_readmission_dataset,
    lace_diagnosis_coverage,
    readmission_null_rates,
)
from models.timesplit import high_need_snapshots
from pipelines.failures import surfaces_data_errors
from pipelines.resources import DUCKDB_POOL, RiskstratSettings, SqlEngine

READMISSION_INPUTS = ["eligibility", "medical_claim", "pharmacy_claim", "encounter", "lab_result", "area_sdoh_county", "cm_case"]
MEMBER_INPUTS = [
    "eligibility", "medical_claim", "pharmacy_claim", "encounter", "lab_result", "sdoh_screening",
    "area_sdoh_county", "area_sdoh_zip", "cm_case", "cm_contact",
]
HISTORY_START_SQL = "SELECT min(claim_start_date) FROM raw.medical_claim"


def _record_coverage(con: duckdb.DuckDBPyConnection, as_of) -> dict[str, object]:
    """Persist this run's month coverage (audit.month_coverage) and return it as metadata."""
    coverage = cached_month_coverage(con)
    write_month_coverage(con, coverage, as_of)
    return {**coverage_metadata(coverage), "month_coverage_table": "audit.month_coverage"}


class ReadmissionConfig(dg.Config):
    variant: str = "cms_hwr"  # or "hedis_pcr" (HEDIS Plan All-Cause Readmissions)


@dg.asset(
    key=["features", "readmission_stay"],
    deps=[dg.AssetKey(["core", "inpatient_stay"]), *[dg.AssetKey(["raw", name]) for name in READMISSION_INPUTS]],
    group_name="features",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def features_readmission_stay(
    context: dg.AssetExecutionContext, settings: RiskstratSettings, config: ReadmissionConfig, engine: SqlEngine,
) -> dg.MaterializeResult:
    """One row per index stay discharged before the as-of date (CMS hospital-wide logic by default,
    HEDIS PCR by config), with features computed only from data before the discharge, HOSPITAL and
    LACE scores, subgroup columns, and the 30-day unplanned readmission label (CMS planned
    readmission algorithm; NULL while unobservable). Every exclusion is counted in the metadata."""
    if config.variant not in VARIANTS:
        raise ValueError(f"readmission variant must be one of {VARIANTS}")
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        month_coverage = _record_coverage(con, as_of)
        if engine.on_spark:
            counts = readmission_on_spark(con, engine.spark(settings, con), as_of, config.variant)
        else:
            counts = build_readmission_dataset(con, as_of, config.variant)
        coverage = lace_diagnosis_coverage(con)
    context.log.info(f"as-of {as_of}: {counts.get('index_stays', 0)} index stays ({config.variant})")
    rate = counts["readmissions"] / counts["labelled"] if counts["labelled"] else None
    return dg.MaterializeResult(metadata={
        "as_of": as_of.isoformat(), "variant": config.variant, "readmission_rate": rate, "engine": engine.name,
        **{k: int(v) for k, v in counts.items()}, **coverage, **month_coverage,
    })


@dg.asset(
    key=["features", "member_features"],
    deps=[dg.AssetKey(["core", "inpatient_stay"]), dg.AssetKey(["core", "diagnosis"]),
          *[dg.AssetKey(["raw", name]) for name in MEMBER_INPUTS]],
    group_name="features",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def features_member_features(
    context: dg.AssetExecutionContext, settings: RiskstratSettings, engine: SqlEngine,
) -> dg.MaterializeResult:
    """One row per member and as-of date (the modelling snapshot plan: quarterly training dates, the
    calibration and test dates, and the run's as-of date) with point-in-time member features and both
    high-need labels over the next 12 months: top 5% of allowed cost and 2+ unplanned admissions or
    4+ ED visits (NULL when the 12-month window closes after the run's as-of date)."""
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        month_coverage = _record_coverage(con, as_of)
        start = con.execute(HISTORY_START_SQL).fetchone()[0]
        if start is None:
            raise RiskstratDataError("raw.medical_claim is empty: no history to build member features from; "
                                     "load medical claims", source="raw.medical_claim")
        try:
            dates = high_need_snapshots(as_of, start).all_dates()
        except ValueError as exc:  # too little history for a training plan: build the scoring date only
            context.log.warning(f"member snapshots: {exc}; building the as-of date {as_of} only")
            dates = [as_of]
        enrolled = enrolled_on(con, as_of)
        if enrolled == 0:
            # the training snapshots can still be built; the high-need score stops with this sentence
            context.log.warning(str(no_enrolled_member_error(con, as_of)))
        if engine.on_spark:
            counts = member_features_on_spark(con, engine.spark(settings, con), dates, data_end=as_of)
        else:
            counts = build_member_dataset(con, dates, data_end=as_of)
        if counts["rows"] == 0:
            raise no_enrolled_member_error(con, as_of)
        as_of_rows = con.execute(f"SELECT count(*) FROM {MEMBER_TABLE} WHERE as_of_date = $as_of",
                                 {"as_of": as_of}).fetchone()[0]
        # HCC, Charlson and Elixhauser read core.diagnosis through its ICD-10-CM mapping
        coverage = {f"grouper_dx_{k}": v for k, v in mapping_coverage(con).items()}
    context.log.info(f"{counts['rows']} member rows over {counts['as_of_dates']} as-of dates")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": counts["rows"], "as_of": as_of.isoformat(), "engine": engine.name,
        "as_of_dates": ", ".join(d.isoformat() for d in sorted(dates)), "hcc_model": HCC_LIBRARY,
        "as_of_snapshot_rows": int(as_of_rows), "enrolled_on_as_of": enrolled,
        **{k: int(v) for k, v in counts.items()}, **coverage, **month_coverage,
    })


@dg.asset_check(asset=dg.AssetKey(["features", "readmission_stay"]), name="one_row_per_stay", blocking=True)
@surfaces_data_errors
def readmission_stay_grain(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """The feature table has exactly one row per stay_id."""
    with settings.connect(read_only=True) as con:
        rows, stays = con.execute("SELECT count(*), count(DISTINCT stay_id) FROM features.readmission_stay").fetchone()
    return dg.AssetCheckResult(passed=rows == stays, metadata={"rows": rows, "distinct_stays": stays})


@dg.asset_check(asset=dg.AssetKey(["features", "readmission_stay"]), name="null_rates_within_bounds", blocking=False)
@surfaces_data_errors
def readmission_stay_null_rates(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """Each readmission feature's share of NULLs is within its bound (features.member.NULL_RATE_LIMITS;
    labs and 'since previous stay' features may be missing, the rest almost never)."""
    with settings.connect(read_only=True) as con:
        rates = readmission_null_rates(con)
        over = {k: v for k, v in rates.items() if v > NULL_RATE_LIMITS.get(k, 0.01)}
        absent = features_from_absent_sources(con, over)
    breaches = {k: v for k, v in over.items() if k not in absent}
    # a warning, not a stop: real extracts legitimately lack inputs (geography, labs) for many members
    return dg.AssetCheckResult(passed=not breaches, severity=dg.AssetCheckSeverity.WARN, metadata={"breaches": str(breaches), "features": len(MODEL_FEATURES),
                                                              "absent_source_features": ", ".join(sorted(absent)) or "none",
                                                              "max_null_rate": max(rates.values(), default=0.0)})


@dg.asset_check(asset=dg.AssetKey(["features", "readmission_stay"]), name="no_feature_date_at_or_after_cutoff", blocking=True)
@surfaces_data_errors
def readmission_stay_cutoff(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """Every stay was discharged before the as-of date and no 'days since' feature is negative."""
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        late, negative = con.execute(
            f"SELECT count(*) FILTER (WHERE discharge_date >= $as_of), "
            f"count(*) FILTER (WHERE days_since_prev_discharge < 0) FROM {READMISSION_TABLE}", {"as_of": as_of}
        ).fetchone()
    return dg.AssetCheckResult(passed=late == 0 and negative == 0,
                               metadata={"rows_discharged_on_or_after_cutoff": late, "negative_gaps": negative})


@dg.asset_check(asset=dg.AssetKey(["features", "member_features"]), name="one_row_per_member_and_date", blocking=True)
@surfaces_data_errors
def member_features_grain(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """features.member_features has exactly one row per (person_id, as_of_date)."""
    with settings.connect(read_only=True) as con:
        rows, keys = con.execute(
            f"SELECT count(*), count(DISTINCT (person_id, as_of_date)) FROM {MEMBER_TABLE}").fetchone()
    return dg.AssetCheckResult(passed=rows == keys, metadata={"rows": rows, "distinct_keys": keys})


@dg.asset_check(asset=dg.AssetKey(["features", "member_features"]), name="null_rates_within_bounds", blocking=False)
@surfaces_data_errors
def member_features_null_rates(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """Each member feature's share of NULLs (over all as-of dates) is within its bound in
    features.member.NULL_RATE_LIMITS (default 1%)."""
    with settings.connect(read_only=True) as con:
        rates = null_rates(con)
        over = {k: round(v, 4) for k, v in rates.items() if v > NULL_RATE_LIMITS.get(k, 0.01)}
        absent = features_from_absent_sources(con, over)
    breaches = {k: v for k, v in over.items() if k not in absent}
    return dg.AssetCheckResult(
        passed=not breaches,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"breaches": str(breaches), "features": len(MEMBER_FEATURES),
                  "absent_source_features": ", ".join(sorted(absent)) or "none",
                  "null_rates": {k: round(v, 4) for k, v in rates.items() if v > 0}},
    )


@dg.asset_check(asset=dg.AssetKey(["features", "member_features"]), name="no_feature_date_at_or_after_cutoff", blocking=True)
@surfaces_data_errors
def member_features_cutoff(settings: RiskstratSettings) -> dg.AssetCheckResult:
    """Re-derives, per as-of date, the latest source-event date inside every feature window and
    requires it to fall before the as-of date (features.member.cutoff_violations)."""
    with settings.connect(read_only=True) as con:
        violations = cutoff_violations(con)
    return dg.AssetCheckResult(passed=not violations, metadata={"violations": str(violations)})


feature_checks = [
    readmission_stay_grain, readmission_stay_null_rates, readmission_stay_cutoff,
    member_features_grain, member_features_null_rates, member_features_cutoff,
]
