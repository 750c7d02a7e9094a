"""What people read: the intake list and KPI tables."""

import dagster as dg

from features.kpi import build_kpi_readmission_monthly
from models.intake import build_intake_list
from pipelines.resources import DUCKDB_POOL, RiskstratSettings

INTAKE_CSV = "intake_list.csv"


@dg.asset(
    key=["marts", "intake_list"],
    deps=[
        dg.AssetKey(["ml", "readmission_score"]),
        dg.AssetKey(["raw", "eligibility"]),
        dg.AssetKey(["raw", "cm_case"]),
        dg.AssetKey(["raw", "cm_roster"]),
    ],
    group_name="outputs",
    kinds={"duckdb", "csv"},
    pool=DUCKDB_POOL,
)
def marts_intake_list(settings: RiskstratSettings) -> dg.MaterializeResult:
    """Members discharged in the last 30 days who are eligible for outreach, ranked by readmission
    risk and cut at the team's open capacity, with three plain-word reasons, a suggested case
    manager and a contact-by date. Also written to HOME/outputs/intake_list.csv."""
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        scores = con.execute("SELECT * FROM ml.readmission_score").pl()
        intake = build_intake_list(con, scores, as_of)
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE OR REPLACE TABLE marts.intake_list AS SELECT * FROM intake")
    path = settings.outputs_path / INTAKE_CSV
    intake.write_csv(path)
    preview = intake.head(10).select([c for c in ("rank", "score", "risk_tier", "reason_1") if c in intake.columns])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": intake.height,
            "as_of": as_of.isoformat(),
            "path": str(path),
            "preview": dg.MetadataValue.md(preview.to_pandas().to_markdown(index=False) if preview.height else "empty"),
        }
    )


@dg.asset(
    key=["marts", "kpi_readmission_monthly"],
    deps=[dg.AssetKey(["features", "readmission_stay"]), dg.AssetKey(["raw", "cm_case"])],
    group_name="outputs",
    kinds={"duckdb", "csv"},
    pool=DUCKDB_POOL,
)
def marts_kpi_readmission_monthly(settings: RiskstratSettings) -> dg.MaterializeResult:
    """30-day readmission rate by discharge month, for members in case management at discharge and
    for those not in it. Numerator: index stays with an unplanned readmission within 30 days;
    denominator: index stays whose 30-day window closed before the as-of date."""
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        summary = build_kpi_readmission_monthly(con, as_of)
        kpi = con.execute("SELECT * FROM marts.kpi_readmission_monthly ORDER BY ALL").pl()
    path = settings.outputs_path / "kpi_readmission_monthly.csv"
    kpi.write_csv(path)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": kpi.height, "path": str(path), **{k: v for k, v in summary.items() if v is not None}}
    )
