"""The pipeline's SQL stages on Spark, their tables landed in the DuckDB warehouse.

Under ``--engine spark`` the ingest steps write each contract-checked ``raw`` table as Parquet
partitioned by service month (``features.spark_engine.write_raw_parquet``), and the steps that run
the named SQL files (stays, diagnoses, the readmission and member features, the KPIs) run them on a
SparkSession over that lake, as ``features.spark_engine`` does for the equality test. Each table a
step builds is then landed in the warehouse (Spark's Parquet read by DuckDB, in the order the file
states), so everything after it (checks, training, scoring, the intake list and the report) reads the
same tables whichever engine built them. Python inputs (the CMS-HCC scores, a model's expected risk,
earlier lists) are computed where they always are and handed to Spark.

Each ``*_on_spark`` function is the Spark twin of the DuckDB builder named in its docstring and
returns what that builder returns.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from data_contracts.spec import EXTRACTS
from features import spark_engine
from features.diagnosis import DIAGNOSIS_TABLE, mapping_coverage
from features.kpi import (
    KPI_TABLES,
    CaseloadGuideline,
    ensure_history_tables,
    finish_program_kpis,
    kpi_readmission_summary,
)
from features.member import MEMBER_TABLE, hcc_scores, member_dataset_counts
from features.readmission import LABEL_TEMP_TABLE, READMISSION_TABLE, VARIANTS, readmission_dataset_counts
from features.sqlfiles import ensure_schema
from features.stays import STAY_TABLE, inpatient_stay_counts

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_LEVEL_ORDER = "level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST"
# The order each table is landed in: its SQL file's ORDER BY, then its keys (ties broken the same
# way on every run). The feature tables are read back in this order for training.
LANDING_ORDER: dict[str, str] = {
    STAY_TABLE: "person_id, admission_date, stay_id",
    DIAGNOSIS_TABLE: "source, source_id, position",
    READMISSION_TABLE: "discharge_date, stay_id",
    MEMBER_TABLE: "as_of_date, person_id",
    "marts.kpi_readmission_monthly": "discharge_month, in_case_management_flag",
    "marts.kpi_transition_monthly": f"discharge_month, cohort, {_LEVEL_ORDER}",
    "marts.kpi_referral_monthly": f"referral_month, {_LEVEL_ORDER}",
    "marts.kpi_case_closure_monthly": f"close_month, {_LEVEL_ORDER}",
    "marts.kpi_caseload_monthly": f"snapshot_date, {_LEVEL_ORDER}",
    "marts.kpi_contact_compliance_monthly": f"scheduled_month, {_LEVEL_ORDER}",
    "marts.kpi_documentation": _LEVEL_ORDER,
    "marts.kpi_utilization_monthly": f"month, cohort, {_LEVEL_ORDER}",
    "marts.kpi_list_performance": "list_as_of_date, score_name",
}
# the program-KPI tables the SQL builds; kpi_score_drift and kpi_definition are written in Python
# afterwards (finish_program_kpis), on the DuckDB side whichever engine ran the SQL
PROGRAM_KPI_SQL_TABLES: tuple[str, ...] = tuple(
    t for t in KPI_TABLES if t not in ("marts.kpi_score_drift", "marts.kpi_definition"))


def spark_unavailable_reason() -> str | None:
    """Why a local Spark session cannot start here (pyspark not installed, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install '.[spark]'"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "no Java runtime was found (java on PATH or JAVA_HOME): install a Java 17 or 21 runtime"
    return None


_REFS_WRITTEN: set[Path] = set()  # lakes whose code lists this process wrote (open_lake)


def open_lake(spark: SparkSession, con: duckdb.DuckDBPyConnection, lake: Path) -> list[str]:
    """Make a session ready for a step: views ``raw.<extract>`` over every extract the ingest steps
    wrote under ``lake/raw``, the code lists (written from the packaged lists, then read), and the
    tables earlier steps built (``spark_engine.register_built_tables``). Returns the raw extracts found."""
    present = tuple(e for e in EXTRACTS if (lake / "raw" / e).is_dir())
    if lake not in _REFS_WRITTEN:  # the packaged code lists do not change within a process
        spark_engine.write_ref_parquet(con, lake)
        _REFS_WRITTEN.add(lake)
    spark_engine.register_raw(spark, lake, present)
    spark_engine.register_built_tables(spark)
    return list(present)


# ---------------------------------------------------------------------------------------------
# Landing Spark's tables in DuckDB


def _table_folder(spark: SparkSession, table: str) -> Path:
    # where Spark writes schema.table (spark_engine._materialise's layout), checked for the SQL it enters
    if not re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", table):
        raise ValueError(f"bad table name {table!r}")
    schema, name = table.split(".")
    folder = Path(spark_engine.warehouse_folder(spark)) / schema / name
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(folder)):
        raise ValueError(f"Spark warehouse folder {folder} must be a plain path (letters, digits, _ . / -)")
    return folder


def _land_parquet(con: duckdb.DuckDBPyConnection, folder: Path, table: str, order_by: str) -> int:
    ensure_schema(con, table.split(".")[0])
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet('{folder}/*.parquet') ORDER BY {order_by}")
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def land_table(con: duckdb.DuckDBPyConnection, spark: SparkSession, table: str) -> int:
    """Create or replace the DuckDB table ``table`` from the Parquet Spark wrote for it, in its
    ``LANDING_ORDER``; returns its rows. DuckDB streams the files, so nothing passes through the driver."""
    if table not in LANDING_ORDER:
        raise ValueError(f"no landing order for {table!r}")
    return _land_parquet(con, _table_folder(spark, table), table, LANDING_ORDER[table])


def land_frame(con: duckdb.DuckDBPyConnection, spark: SparkSession, frame, table: str, order_by: str) -> int:
    """A Spark DataFrame written as Parquet under the session's warehouse folder and landed in the
    DuckDB table ``table`` in ``order_by`` (a constant of the caller's, never input); returns its rows.
    For frames as large as the population (every member's score): nothing passes through the driver."""
    folder = _table_folder(spark, table)
    frame.write.mode("overwrite").parquet(str(folder))
    return _land_parquet(con, folder, table, order_by)


def land_view(con: duckdb.DuckDBPyConnection, spark: SparkSession, view: str) -> None:
    """A DuckDB temp table ``view`` holding a Spark temp view (small: a label or cohort table the
    builder's counts read), through Arrow."""
    if not re.fullmatch(r"_?[a-z][a-z0-9_]*", view):
        raise ValueError(f"bad temp table name {view!r}")
    frame = spark.table(view).toArrow()
    con.register("_landing_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT * FROM _landing_frame")
    finally:
        con.unregister("_landing_frame")


@contextmanager
def _timed(times: dict[str, int], key: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        times[key] = times.get(key, 0) + round((time.perf_counter() - started) * 1000)


def _with_times(counts: dict, times: dict[str, int]) -> dict:
    # milliseconds on Spark and landing in DuckDB, beside the builder's counts (step metadata)
    return {**counts, "spark_sql_ms": times.get("spark", 0), "landing_ms": times.get("landing", 0)}


# ---------------------------------------------------------------------------------------------
# The steps


def _one_file(con: duckdb.DuckDBPyConnection, spark: SparkSession, name: str, table: str) -> dict[str, int]:
    # a file that builds one table from raw: run on Spark, landed; the times
    times: dict[str, int] = {}
    with _timed(times, "spark"):
        spark_engine.run_file(spark, name)
    with _timed(times, "landing"):
        land_table(con, spark, table)
    return times


def inpatient_stays_on_spark(con: duckdb.DuckDBPyConnection, spark: SparkSession) -> dict[str, int]:
    """``features.stays.build_inpatient_stays`` with the SQL on Spark."""
    times = _one_file(con, spark, "core__inpatient_stay", STAY_TABLE)
    return _with_times(inpatient_stay_counts(con), times)


def diagnosis_on_spark(con: duckdb.DuckDBPyConnection, spark: SparkSession) -> dict[str, float | int]:
    """``features.diagnosis.build_diagnosis`` with the SQL on Spark."""
    times = _one_file(con, spark, "core__diagnosis", DIAGNOSIS_TABLE)
    return _with_times(mapping_coverage(con), times)


def readmission_on_spark(con: duckdb.DuckDBPyConnection, spark: SparkSession, as_of: dt.date,
                         variant: str = "cms_hwr") -> dict[str, int]:
    """``features.readmission.build_readmission_dataset`` with the SQL on Spark."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown readmission variant {variant!r}; choose one of {VARIANTS}")
    times: dict[str, int] = {}
    with _timed(times, "spark"):
        spark_engine.run_file(spark, "features__readmission_label", {"as_of": as_of, "variant": variant},
                              select_into=LABEL_TEMP_TABLE, select_kind="temp")
        spark_engine.run_file(spark, "features__readmission_stay", select_into=READMISSION_TABLE)
    with _timed(times, "landing"):
        land_view(con, spark, LABEL_TEMP_TABLE)
        land_table(con, spark, READMISSION_TABLE)
    return _with_times(readmission_dataset_counts(con), times)


def member_features_on_spark(con: duckdb.DuckDBPyConnection, spark: SparkSession, as_of_dates: list[dt.date],
                             data_end: dt.date) -> dict[str, int]:
    """``features.member.build_member_dataset`` with the SQL on Spark: the cohort and the HCC inputs
    on Spark, the CMS-HCC scores in Python (hccinfhir, as on DuckDB), then the features on Spark."""
    if not as_of_dates:
        raise ValueError("member_features_on_spark needs at least one as-of date")
    dates = sorted(set(as_of_dates))
    times: dict[str, int] = {}
    with _timed(times, "spark"):
        spark_engine.run_file(spark, "features__member_cohort", {"as_of_dates": dates, "data_end": data_end},
                              select_into="_member_cohort", select_kind="temp")
        inputs = spark_engine.member_hcc_inputs(spark, dates)
    distinct = inputs.select(["age", "sex", "dual_elgbl_cd", "orec", "icd10cm_codes"]).n_unique()
    with _timed(times, "hcc"):
        member_hcc = hcc_scores(inputs)
    with _timed(times, "spark"):
        spark_engine.build_member_features(spark, dates, data_end, member_hcc)
    with _timed(times, "landing"):
        land_table(con, spark, MEMBER_TABLE)
    return {**_with_times(member_dataset_counts(con, distinct), times), "hcc_python_ms": times["hcc"]}


def kpi_readmission_on_spark(con: duckdb.DuckDBPyConnection, spark: SparkSession,
                             as_of: dt.date) -> dict[str, int | float | None]:
    """``features.kpi.build_kpi_readmission_monthly`` with the SQL on Spark."""
    times: dict[str, int] = {}
    with _timed(times, "spark"):
        spark_engine.build_kpi_readmission(spark, as_of)
    with _timed(times, "landing"):
        land_table(con, spark, "marts.kpi_readmission_monthly")
    return _with_times(kpi_readmission_summary(con), times)


def program_kpis_on_spark(
    con: duckdb.DuckDBPyConnection, spark: SparkSession, as_of: dt.date, expected: pl.DataFrame | None = None,
    guideline: CaseloadGuideline = CaseloadGuideline(),
) -> dict[str, int]:
    """``features.kpi.build_program_kpis`` with the SQL on Spark; the earlier lists
    (``marts.intake_list_history``) and the model's expected risk are handed over from DuckDB and
    Python, and the O/E columns, score drift and definitions follow in Python as on DuckDB."""
    ensure_history_tables(con)
    history = con.execute("SELECT * FROM marts.intake_list_history").pl()
    exp = expected if expected is not None else pl.DataFrame(schema={"stay_id": pl.String, "expected_p": pl.Float64})
    times: dict[str, int] = {}
    with _timed(times, "spark"):
        spark_engine.build_program_kpis(spark, as_of, expected=exp, list_history=history, guideline=guideline)
    with _timed(times, "landing"):
        for table in PROGRAM_KPI_SQL_TABLES:
            land_table(con, spark, table)
    return _with_times(finish_program_kpis(con), times)
