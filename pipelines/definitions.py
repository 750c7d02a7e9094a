"""The Dagster code location: every asset, check and resource of the pipeline.

``dagster dev`` from the repository root loads ``defs``; the CLI builds the same
definitions with the home and landing folders it was given.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines import automation
from pipelines.executors import executor_from_environment
from pipelines.defs.ingest.assets import ingest_assets, ingest_checks
from pipelines.progress import step_progress_logger
from pipelines.resources import ENGINES, RiskstratSettings, SqlEngine

ALL_ASSETS_JOB = "riskstrat_all"


def build_definitions(
    settings: RiskstratSettings, engine: SqlEngine | None = None, executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor; ``engine`` is the SQL engine resource (DuckDB
    when omitted): swapping it for ``SqlEngine(name="spark")`` runs the same assets' SQL on Spark.
    ``executor`` runs the jobs' steps (Dagster's default when omitted; the code location takes
    RISKSTRAT_EXECUTOR, ``pipelines.executors``; the CLI runs in-process either way)."""
    from pipelines.defs.downstream import downstream_assets_for, downstream_checks

    assets = [*automation.with_extract_freshness(ingest_assets), *downstream_assets_for(settings.intake_score)]
    checks = [*ingest_checks, *downstream_checks]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[
            dg.define_asset_job(
                ALL_ASSETS_JOB,
                selection=dg.AssetSelection.all(),
                description="Ingest, check, build features, train, score and write the intake list and KPIs.",
            ),
            automation.ingest_monthly_job,
            automation.ingest_whole_job,
            automation.scoring_job,
            automation.retraining_job,
        ],
        schedules=[automation.daily_scoring_schedule, automation.monthly_retraining_schedule],
        sensors=[automation.landing_sensor],
        resources={"settings": settings, "engine": engine or SqlEngine()},
        loggers={"progress": step_progress_logger},
        executor=executor,
    )


def settings_from_environment() -> RiskstratSettings:
    """Settings for ``dagster dev``: RISKSTRAT_HOME, RISKSTRAT_LANDING, RISKSTRAT_AS_OF."""
    return RiskstratSettings(
        home=os.environ.get("RISKSTRAT_HOME", "riskstrat-home"),
        landing=os.environ.get("RISKSTRAT_LANDING", ""),
        as_of=os.environ.get("RISKSTRAT_AS_OF", ""),
    )


def engine_from_environment() -> SqlEngine:
    """The SQL engine for ``dagster dev``: RISKSTRAT_ENGINE (duckdb or spark), RISKSTRAT_SPARK_MASTER,
    RISKSTRAT_SPARK_DRIVER_MEMORY and RISKSTRAT_LAKE (the Parquet lake; default HOME/lake)."""
    name = os.environ.get("RISKSTRAT_ENGINE", "duckdb").strip().lower() or "duckdb"
    if name not in ENGINES:
        raise ValueError(f"RISKSTRAT_ENGINE={name!r}: choose one of {', '.join(ENGINES)}")
    defaults = SqlEngine()
    return SqlEngine(
        name=name,
        spark_master=os.environ.get("RISKSTRAT_SPARK_MASTER", defaults.spark_master),
        spark_driver_memory=os.environ.get("RISKSTRAT_SPARK_DRIVER_MEMORY", defaults.spark_driver_memory),
        lake=os.environ.get("RISKSTRAT_LAKE", ""),
    )


defs = build_definitions(settings_from_environment(), engine_from_environment(), executor_from_environment())
