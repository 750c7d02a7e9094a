"""The feature SQL on Spark: the raw tables exported by DuckDB as Parquet, the named SQL files made
portable (``features.portable``) and run on a SparkSession, tables compared with DuckDB's.

Every table the SQL files build from raw (``build_all``, in the order the DuckDB assets build them):
``core.inpatient_stay``, ``core.diagnosis``, ``features.readmission_stay``
(``build_readmission_slice``), ``features.member_features`` (``build_member_features``), the
program-effect cohort and the ``marts.kpi_*`` tables built by SQL (``build_kpis``). What the DuckDB
path computes in Python (HCC scores, a model's expected risk, earlier lists) is handed over
(``PythonInputs``), never recomputed. ``marts__intake_assignment.sql`` is DDL (CREATE TABLE IF NOT
EXISTS, ALTER TABLE ADD COLUMN IF NOT EXISTS for older logs) and stays DuckDB-only.

pyspark is an optional extra (``pip install .[spark]``) and needs Java; it is imported only
inside the functions that use it.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import re
import shutil
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from data_contracts.spec import load_contract
from features.codelists import load_code_lists
from features.coverage import BASELINE_MONTHS, judge_months
from features.kpi import KPI_MONTHS, CaseloadGuideline, _next_month, _start_month, kpi_months, program_kpi_statements
from features.member import MEMBER_TABLE, hcc_diagnosis_codes
from features.portable import Statement, portable_statements, spark_fragment, to_spark
from features.readmission import LABEL_TEMP_TABLE, READMISSION_TABLE, REQUIRED_RAW_TABLES, VARIANTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SLICE_RAW_TABLES: tuple[str, ...] = tuple(sorted({*REQUIRED_RAW_TABLES, "condition", "sdoh_screening"}))
REF_TABLES: tuple[str, ...] = (
    "_ref_snomed_icd10cm", "_ref_icd9_icd10cm", "_ref_charlson", "_ref_elixhauser", "_ref_planned_readmission",
)
MONTH_COLUMN = "service_month"
WAREHOUSE_CONF = "riskstrat.warehouse"  # where this caller's core/features/marts tables are written
PROGRAM_EFFECT_COHORT = "_program_effect_cohort"  # models.program_effect.COHORT_TEMP_TABLE (features does not import models)
_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
Scalar = dt.date | int | float | str
ParamValue = Scalar | list[Scalar] | tuple[Scalar, ...]


# Every table the equality test and benchmarks/bench_spark_equality.py compare, with its key columns
_LEVEL_KEYS = ["level", "program", "team", "case_manager_id", "as_of_date"]
TABLE_KEYS: dict[str, list[str]] = {
    "core.inpatient_stay": ["stay_id"],
    "core.diagnosis": ["source", "source_id", "position"],
    "features.readmission_stay": ["stay_id"],
    "features.member_features": ["person_id", "as_of_date"],
    "_program_effect_cohort": ["stay_id"],
    "marts.kpi_readmission_monthly": ["discharge_month", "in_case_management_flag"],
    "marts.kpi_transition_monthly": ["discharge_month", "cohort", *_LEVEL_KEYS],
    "marts.kpi_referral_monthly": ["referral_month", *_LEVEL_KEYS],
    "marts.kpi_case_closure_monthly": ["close_month", *_LEVEL_KEYS],
    "marts.kpi_caseload_monthly": ["snapshot_date", *_LEVEL_KEYS],
    "marts.kpi_contact_compliance_monthly": ["scheduled_month", *_LEVEL_KEYS],
    "marts.kpi_documentation": _LEVEL_KEYS,
    "marts.kpi_utilization_monthly": ["month", "cohort", *_LEVEL_KEYS],
    "marts.kpi_list_performance": ["list_as_of_date", "score_name"],
}
# columns computed in Python after the SQL (features.kpi.list_calibration), by neither engine
PYTHON_COLUMNS: dict[str, list[str]] = {"marts.kpi_list_performance": ["oe_ratio", "oe_ci_low", "oe_ci_high", "oe_flag"]}


@dataclass(frozen=True)
class SparkSettings:
    """A local Spark session: ``local[2]`` bound to 127.0.0.1, modest memory, UTC dates, and a
    warehouse folder for the ``core`` and ``features`` tables."""

    warehouse: Path
    master: str = "local[2]"
    driver_memory: str = "2g"
    shuffle_partitions: int = 4
    local_ip: str = "127.0.0.1"


def spark_session(settings: SparkSettings) -> SparkSession:
    """Start (or return the running) SparkSession for ``settings``."""
    os.environ.setdefault("SPARK_LOCAL_IP", settings.local_ip)  # else Spark binds the external address
    # Python workers (mapInArrow scoring, models.spark_score) run this interpreter, whose packages
    # (pyarrow, lightgbm) they need; by default Spark starts the system python3
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # pyspark 4.3 warns on each Arrow call that it does not fully support pandas 3; no pandas frame
    # crosses the engine here (Arrow only), and a run prints no Python warnings
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(settings.master)
        .appName("riskstrat")
        .config("spark.driver.bindAddress", settings.local_ip)
        .config("spark.driver.host", settings.local_ip)
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")  # dates cast to timestamps at UTC midnight
        .config("spark.sql.warehouse.dir", str(settings.warehouse))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # getOrCreate hands back a running session with its first warehouse.dir (a static setting): the
    # folder this caller's tables go to is a runtime setting of our own, set on every call
    spark.conf.set(WAREHOUSE_CONF, str(settings.warehouse))
    return spark


# ---------------------------------------------------------------------------------------------
# Raw tables as Parquet


def write_raw_parquet(con: duckdb.DuckDBPyConnection, lake: Path, extract: str) -> Path:
    """Write ``raw.<extract>`` under ``lake/raw/<extract>`` as Parquet, partitioned by month of the
    contract's service date (``service_month=YYYY-MM``) where the contract partitions by one; an
    empty table (an absent optional extract) as one file with the columns. The folder is replaced as
    a whole (written beside it, then swapped), so a month reloaded or dropped leaves no stale files.

    Names come from the contracts (a fixed list), never from input. Returns the folder."""
    contract = load_contract(extract)
    target = lake / "raw" / contract.extract
    staging = target.with_name(f"{target.name}.writing")
    _check_path(target)
    shutil.rmtree(staging, ignore_errors=True)
    rows = con.execute(f"SELECT count(*) FROM raw.{contract.extract}").fetchone()[0]
    if contract.partition_by and rows:
        con.execute(
            f"COPY (SELECT *, strftime({contract.partition_by}, '%Y-%m') AS {MONTH_COLUMN} FROM raw.{contract.extract}) "
            f"TO '{staging}' (FORMAT PARQUET, PARTITION_BY ({MONTH_COLUMN}))"
        )
    else:
        staging.mkdir(parents=True)
        con.execute(f"COPY raw.{contract.extract} TO '{staging / 'data.parquet'}' (FORMAT PARQUET)")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def write_ref_parquet(con: duckdb.DuckDBPyConnection, lake: Path) -> dict[str, Path]:
    """The code lists the SQL joins (``REF_TABLES``: GEMs, SNOMED map, Charlson, Elixhauser, planned
    readmission) under ``lake/ref/<name>``, from the packaged lists DuckDB loads."""
    load_code_lists(con, gem=True)
    written: dict[str, Path] = {}
    for ref in REF_TABLES:
        target = lake / "ref" / ref
        _check_path(target)
        target.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY {ref} TO '{target / 'data.parquet'}' (FORMAT PARQUET)")
        written[ref] = target
    return written


def export_raw_parquet(con: duckdb.DuckDBPyConnection, out: Path, tables: tuple[str, ...] = SLICE_RAW_TABLES) -> dict[str, Path]:
    """``write_raw_parquet`` for each of ``tables`` and ``write_ref_parquet``: table -> folder."""
    written = {name: write_raw_parquet(con, out, name) for name in tables}
    return {**written, **write_ref_parquet(con, out)}


def register_raw(spark: SparkSession, folder: Path, tables: tuple[str, ...] = SLICE_RAW_TABLES) -> None:
    """Views ``raw.<table>`` over the Parquet folders with exactly the contract's columns (the month
    partition column is left out), and temp views ``_ref_*`` for the code lists."""
    spark.sql("CREATE DATABASE IF NOT EXISTS raw")
    for name in tables:
        contract = load_contract(name)
        path = folder / "raw" / contract.extract
        _check_path(path)
        cols = ", ".join(f"`{c.name}`" for c in contract.columns)
        spark.sql(f"CREATE OR REPLACE VIEW raw.{contract.extract} AS SELECT {cols} FROM parquet.`{path}`")
    for ref in REF_TABLES:
        spark.read.parquet(str(folder / "ref" / ref)).createOrReplaceTempView(ref)


def register_built_tables(spark: SparkSession) -> list[str]:
    """Tables an earlier step built under this session's warehouse folder (``<schema>/<table>``),
    registered in the session's catalog: a step in a new process (Dagster's multiprocess executor)
    reads ``core.inpatient_stay`` as the step that built it left it. Returns the names."""
    root = Path(warehouse_folder(spark))
    names: list[str] = []
    for folder in sorted(root.glob("*/*")):
        schema, table = folder.parent.name, folder.name
        if not (re.fullmatch(r"[a-z_]+", schema) and re.fullmatch(r"[a-z0-9_]+", table)) or not any(folder.glob("*.parquet")):
            continue
        _check_path(folder)
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
        if not spark.catalog.tableExists(f"{schema}.{table}"):
            spark.sql(f"CREATE TABLE {schema}.{table} USING parquet LOCATION '{folder}'")
        names.append(f"{schema}.{table}")
    return names


def warehouse_folder(spark: SparkSession) -> str:
    """The folder the tables built on ``spark`` are written under (``<folder>/<schema>/<table>``)."""
    folder = spark.conf.get(WAREHOUSE_CONF, None) or spark.conf.get("spark.sql.warehouse.dir")
    return folder.removeprefix("file:").rstrip("/")


def _check_path(path: Path) -> None:
    if not _PATH.match(str(path)):
        raise ValueError(f"Parquet folder {path} must be a plain path (letters, digits, _ . / -)")


# ---------------------------------------------------------------------------------------------
# Running the named files


def _args(params: Mapping[str, ParamValue] | None) -> dict[str, Any]:
    # a list (DuckDB's unnest($as_of_dates)) is bound as a Spark array literal
    out: dict[str, Any] = {}
    scalar = (dt.date, int, float, str)
    for key, value in (params or {}).items():
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", key) or not all(isinstance(v, scalar) for v in items):
            raise TypeError(f"parameter {key!r}: a date, number or string (or a list of them) is required")
        out[key] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def spark_query(spark: SparkSession, statement: Statement, params: Mapping[str, ParamValue] | None = None) -> DataFrame:
    """The DataFrame of one portable statement's query, parameters bound as Spark markers."""
    args = _args(params)

    def columns(query) -> list[str]:  # analysis only: Spark resolves the plan, computes nothing
        sql = spark_fragment(query)
        return list(spark.sql(sql, args={k: v for k, v in args.items() if f":{k}" in sql}).columns)

    sql = to_spark(statement.query, columns)
    return spark.sql(sql, args={k: v for k, v in args.items() if f":{k}" in sql})


def _materialise(spark: SparkSession, frame: DataFrame, kind: str, target: str, *, append: bool = False) -> None:
    if kind == "temp":
        if not re.fullmatch(r"_?[a-z][a-z0-9_]*", target):
            raise ValueError(f"bad temp table name {target!r}")
        frame.localCheckpoint(eager=True).createOrReplaceTempView(target)
        return
    if not re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", target):
        raise ValueError(f"bad table name {target!r}")
    schema, table = target.split(".")
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
    # an external table at a fixed path: a new session (in-memory catalog) may overwrite the folder
    # a previous one left, which Spark refuses for a managed table
    location = f"{warehouse_folder(spark)}/{schema}/{table}"
    frame.write.mode("append" if append else "overwrite").format("parquet").option("path", location).saveAsTable(target)


def run_file(
    spark: SparkSession, name: str, params: Mapping[str, ParamValue] | None = None, *, select_into: str | None = None,
    select_kind: str = "table",
) -> None:
    """Run ``features/sql/<name>.sql`` on Spark, statement by statement: CREATE TEMP TABLE into a
    checkpointed temp view, CREATE TABLE into a warehouse table, a bare SELECT into ``select_into``
    (``select_kind`` 'table' or 'temp'), as the DuckDB functions around each file do."""
    for statement in portable_statements(name):
        frame = spark_query(spark, statement, params)
        if statement.kind == "select":
            if select_into is None:
                raise ValueError(f"features/sql/{name}.sql ends in a SELECT: pass select_into")
            _materialise(spark, frame, select_kind, select_into)
        else:
            assert statement.target is not None
            _materialise(spark, frame, statement.kind, statement.target)


def build_readmission_slice(spark: SparkSession, as_of: dt.date, variant: str = "cms_hwr") -> None:
    """``core.inpatient_stay``, ``core.diagnosis`` and ``features.readmission_stay`` on Spark, in the
    DuckDB assets' order (features.stays, features.diagnosis, features.readmission)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown readmission variant {variant!r}; choose one of {VARIANTS}")
    run_file(spark, "core__inpatient_stay")
    run_file(spark, "core__diagnosis")
    run_file(spark, "features__readmission_label", {"as_of": as_of, "variant": variant},
             select_into=LABEL_TEMP_TABLE, select_kind="temp")
    run_file(spark, "features__readmission_stay", select_into=READMISSION_TABLE)


def create_temp_view(spark: SparkSession, frame: pl.DataFrame, name: str) -> None:
    """A checkpointed temp view ``name`` holding ``frame`` (inputs computed in Python, given to both
    engines alike: the HCC scores, the expected risk, the month flags)."""
    if not re.fullmatch(r"_?[a-z][a-z0-9_]*", name):
        raise ValueError(f"bad temp view name {name!r}")
    spark.createDataFrame(frame.to_arrow()).localCheckpoint(eager=True).createOrReplaceTempView(name)


# Cohort rows per Spark pass of the member-feature script. DuckDB runs the script once per as-of date
# to bound its memory; on Spark each statement costs about half a second whatever its size, so a
# history of decades (the MIMIC-IV demo: 275 quarterly dates for 100 patients) took 275 x 23
# statements one date at a time. Spark spills, so dates are batched up to this many cohort rows.
MEMBER_BATCH_ROWS = 2_000_000


def batched_statement(statement: Statement) -> Statement:
    """A statement of ``features__member_features`` for a batch of as-of dates: the cohort filter
    ``as_of_date = $as_of_date`` becomes ``BETWEEN $batch_first AND $batch_last`` and each scan bound
    ``x < $as_of_date`` becomes ``x < $batch_last`` (the file bounds every feature per row by the
    cohort's own dates, ``c.as_of_date`` and ``c.d365_start``; the constants only prune scans). Any
    other use of ``$as_of_date`` is refused rather than guessed."""
    from sqlglot import exp

    tree = statement.query.copy()
    for node in list(tree.find_all(exp.Placeholder)):
        if node.name != "as_of_date":
            continue
        parent = node.parent
        if isinstance(parent, exp.EQ) and parent.expression is node and parent.this.name == "as_of_date":
            parent.replace(exp.Between(this=parent.this.copy(), low=exp.Placeholder(this="batch_first"),
                                       high=exp.Placeholder(this="batch_last")))
        elif isinstance(parent, exp.LT) and parent.expression is node:
            node.replace(exp.Placeholder(this="batch_last"))
        else:
            raise ValueError(f"features__member_features: cannot batch as-of dates over {parent.sql()!r}; "
                             "only 'as_of_date = $as_of_date' and 'x < $as_of_date' are known")
    return Statement(statement.kind, statement.target, tree)


def date_batches(rows_per_date: Mapping[dt.date, int], max_rows: int = MEMBER_BATCH_ROWS) -> list[list[dt.date]]:
    """Consecutive as-of dates grouped so each group's cohort rows stay within ``max_rows`` (a date
    larger than that is a group of its own)."""
    batches: list[list[dt.date]] = []
    size = 0
    for day in sorted(rows_per_date):
        if batches and size + rows_per_date[day] <= max_rows:
            batches[-1].append(day)
            size += rows_per_date[day]
        else:
            batches.append([day])
            size = rows_per_date[day]
    return batches


def member_hcc_inputs(spark: SparkSession, as_of_dates: list[dt.date],
                      max_batch_rows: int = MEMBER_BATCH_ROWS) -> pl.DataFrame:
    """``features__member_hcc_input`` on Spark for the as-of dates of ``_member_cohort`` (the rows
    ``features.member.build_member_hcc`` hands hccinfhir on DuckDB, one date at a time there), one
    statement per batch of dates (``date_batches``, ``batched_statement``), in (as_of_date, person_id) order."""
    create_temp_view(spark, hcc_diagnosis_codes(), "_ref_hcc_dx")
    (statement,) = portable_statements("features__member_hcc_input")
    batched = batched_statement(statement)
    counts = {r[0]: int(r[1]) for r in spark.table("_member_cohort").groupBy("as_of_date").count().collect()}
    frames = [pl.from_arrow(spark_query(spark, batched, {"batch_first": batch[0], "batch_last": batch[-1]}).toArrow())
              for batch in date_batches({d: counts.get(d, 0) for d in sorted(set(as_of_dates))}, max_batch_rows)]
    return pl.concat(frames, how="vertical").sort("as_of_date", "person_id")


def build_member_features(spark: SparkSession, as_of_dates: list[dt.date], data_end: dt.date,
                          member_hcc: pl.DataFrame, max_batch_rows: int = MEMBER_BATCH_ROWS) -> None:
    """``features.member_features`` on Spark as ``features.member.build_member_dataset`` builds it on
    DuckDB: the cohort (``features__member_cohort``, the dates bound as one array), then per batch of
    as-of dates (``date_batches``, ascending) every feature group of ``features__member_features``
    (``batched_statement``) into a temp view and the batch's rows appended to the table.

    ``member_hcc`` is ``_member_hcc`` as the DuckDB path computed it: the CMS-HCC scores come from
    hccinfhir in Python (one call per distinct input), not from SQL, so both engines read the same rows."""
    dates = sorted(set(as_of_dates))
    run_file(spark, "features__member_cohort", {"as_of_dates": dates, "data_end": data_end},
             select_into="_member_cohort", select_kind="temp")
    create_temp_view(spark, member_hcc, "_member_hcc")
    counts = {r[0]: int(r[1]) for r in spark.table("_member_cohort").groupBy("as_of_date").count().collect()}
    *groups, rows = (batched_statement(s) for s in portable_statements("features__member_features"))
    # a date with no cohort row still gets its pass, as on DuckDB (it appends nothing)
    for i, batch in enumerate(date_batches({d: counts.get(d, 0) for d in dates}, max_batch_rows)):
        first, last = batch[0], batch[-1]
        params = {"batch_first": first, "batch_last": last, "lookback_start": first - dt.timedelta(days=365),
                  "label_end": last + dt.timedelta(days=366)}
        for statement in groups:
            assert statement.target is not None
            _materialise(spark, spark_query(spark, statement, params), statement.kind, statement.target)
        _materialise(spark, spark_query(spark, rows, params), "table", MEMBER_TABLE, append=i > 0)


def month_coverage(spark: SparkSession) -> pl.DataFrame:
    """``features.coverage.warehouse_month_coverage`` on Spark for a warehouse with medical claims:
    the views ``_coverage_claims`` / ``_coverage_eligibility`` over ``raw.medical_claim`` and
    ``raw.eligibility`` (enrolment ends at death, unparseable values NULL), ``audit__month_coverage``
    on Spark, then the completeness verdict ``judge_months`` in polars, the same Python as DuckDB's."""
    spark.sql(
        "CREATE OR REPLACE TEMP VIEW _coverage_claims AS SELECT CAST(person_id AS STRING) AS person_id, "
        "TRY_CAST(claim_start_date AS DATE) AS start_date, TRY_CAST(claim_end_date AS DATE) AS end_date, "
        "coalesce(TRY_CAST(paid_amount AS DOUBLE), 0.0D) AS paid_amount FROM raw.medical_claim")
    spark.sql(
        "CREATE OR REPLACE TEMP VIEW _coverage_eligibility AS SELECT CAST(person_id AS STRING) AS person_id, "
        "TRY_CAST(enrollment_start_date AS DATE) AS enrollment_start_date, "
        "least(TRY_CAST(enrollment_end_date AS DATE), coalesce(TRY_CAST(death_date AS DATE), "
        "TRY_CAST(enrollment_end_date AS DATE))) AS enrollment_end_date FROM raw.eligibility")
    (statement,) = portable_statements("audit__month_coverage")
    frame = pl.from_arrow(spark_query(spark, statement, {"baseline_months": BASELINE_MONTHS}).toArrow())
    return judge_months(frame)


def _kpi_inputs(spark: SparkSession, as_of: dt.date) -> pl.DataFrame:
    # what every KPI file reads besides raw and core: the label rows and the month flags
    run_file(spark, "features__readmission_label", {"as_of": as_of, "variant": "cms_hwr"},
             select_into=LABEL_TEMP_TABLE, select_kind="temp")
    coverage = month_coverage(spark)
    create_temp_view(spark, coverage.select("month", "month_complete_flag"), "_month_complete")
    return coverage


def build_kpi_readmission(spark: SparkSession, as_of: dt.date) -> pl.DataFrame:
    """``marts.kpi_readmission_monthly`` on Spark, as ``features.kpi.build_kpi_readmission_monthly``
    builds it on DuckDB. Returns the month coverage."""
    coverage = _kpi_inputs(spark, as_of)
    run_file(spark, "marts__kpi_readmission_monthly", {"as_of": as_of})
    return coverage


def build_program_kpis(
    spark: SparkSession, as_of: dt.date, *, expected: pl.DataFrame, list_history: pl.DataFrame,
    guideline: CaseloadGuideline = CaseloadGuideline(), months: int = KPI_MONTHS,
) -> pl.DataFrame:
    """The program ``marts.kpi_*`` tables built by SQL, on Spark, as ``features.kpi.build_program_kpis``
    builds them on DuckDB (same files, same parameters, same order).

    Python inputs are handed over, not recomputed: ``expected`` (stay_id, expected_p: the readmission
    model's calibrated risk, ``_readmission_expected``) and ``list_history`` (``marts.intake_list_history``,
    written by earlier scoring runs). The month flags come from ``month_coverage`` (Spark SQL, then
    polars). The O/E columns of kpi_list_performance (``features.kpi.list_calibration``), kpi_score_drift
    and kpi_definition are Python over these tables and stay on the caller's side. Returns the coverage."""
    start = _start_month(as_of, months)
    coverage = _kpi_inputs(spark, as_of)
    exp_rows = expected.select(pl.col("stay_id").cast(pl.String), pl.col("expected_p").cast(pl.Float64))
    create_temp_view(spark, exp_rows, "_readmission_expected")
    _materialise(spark, spark.createDataFrame(list_history.to_arrow()), "table", "marts.intake_list_history")
    for name, params in program_kpi_statements(as_of, start, guideline):
        run_file(spark, name, params)
    # DuckDB appends one month per statement to bound memory; one statement over all months here
    # (Spark spills per partition), the same rows
    (util,) = portable_statements("marts__kpi_utilization_monthly")
    last = kpi_months(start, as_of)[-1] if kpi_months(start, as_of) else start
    frame = spark_query(spark, util, {"as_of": as_of, "first_month": start, "end_month": _next_month(last)})
    _materialise(spark, frame, "table", "marts.kpi_utilization_monthly")
    run_file(spark, "marts__kpi_list_performance", {"as_of": as_of})
    return coverage


def build_kpis(
    spark: SparkSession, as_of: dt.date, *, expected: pl.DataFrame, list_history: pl.DataFrame,
    guideline: CaseloadGuideline = CaseloadGuideline(), months: int = KPI_MONTHS,
) -> pl.DataFrame:
    """Every ``marts.kpi_*`` table built by SQL: ``build_kpi_readmission`` then ``build_program_kpis``,
    as the two KPI assets build them. Returns the month coverage."""
    build_kpi_readmission(spark, as_of)
    return build_program_kpis(spark, as_of, expected=expected, list_history=list_history,
                              guideline=guideline, months=months)


def build_program_effect_cohort(spark: SparkSession, as_of: dt.date, grace_days: int = 7,
                                recent_from: dt.date | None = None) -> None:
    """The temp view ``_program_effect_cohort`` (``features__program_effect_cohort``), as
    ``models.program_effect.build_program_effect_cohort`` builds it on DuckDB; the estimates that
    follow are Python over these rows."""
    run_file(spark, "features__program_effect_cohort",
             {"as_of": as_of, "grace_days": grace_days, "recent_from": recent_from or as_of},
             select_into=PROGRAM_EFFECT_COHORT, select_kind="temp")


@dataclass(frozen=True)
class PythonInputs:
    """What the DuckDB path computes in Python and Spark is handed as is: ``member_hcc``
    (``_member_hcc``: hccinfhir scores), ``expected`` (stay_id, expected_p: the readmission model's
    risk for the KPIs), ``list_history`` (``marts.intake_list_history`` from earlier scoring runs)."""

    member_hcc: pl.DataFrame
    expected: pl.DataFrame
    list_history: pl.DataFrame


def build_all(spark: SparkSession, as_of: dt.date, member_dates: list[dt.date], inputs: PythonInputs,
              *, recent_from: dt.date | None = None) -> pl.DataFrame:
    """Every table the SQL files build from raw, on Spark, in the assets' order: core.inpatient_stay,
    core.diagnosis, features.readmission_stay, features.member_features (``member_dates``, data end
    ``as_of`` as the features asset passes it), the program-effect cohort and the SQL-built
    ``marts.kpi_*`` tables. Returns the month coverage."""
    build_readmission_slice(spark, as_of)
    build_member_features(spark, member_dates, as_of, inputs.member_hcc)
    build_program_effect_cohort(spark, as_of, recent_from=recent_from)
    return build_kpis(spark, as_of, expected=inputs.expected, list_history=inputs.list_history)


# ---------------------------------------------------------------------------------------------
# Comparison


def spark_table(spark: SparkSession, table: str) -> pl.DataFrame:
    return pl.from_arrow(spark.table(table).toArrow())


# Columns the SQL rounds to cents after a float sum (round(sum(paid), 2)): the order of the sum
# (DuckDB's threads, Spark's partitions; DuckDB from one run to the next too) can move a value across
# a half-cent, so the two agree within one cent there (3 of 261 kpi_utilization_monthly rows did).
ROUNDED_COLUMNS: dict[str, float] = {"paid_amount": 0.01, "pmpm_paid_amount": 0.01}


def compare_tables(
    duck: pl.DataFrame, spark: pl.DataFrame, keys: list[str], rel_tol: float = 1e-9,
    abs_tol: dict[str, float] | None = None,
) -> list[str]:
    """Differences between two versions of one table: columns (names and order), rows, keys, and
    per column values (floats within ``rel_tol`` relative, or 1e-9 absolute near 0, or the column's
    ``abs_tol`` (default ROUNDED_COLUMNS); other types equal, lists compared as lists). An empty
    list means equal."""
    abs_tol = ROUNDED_COLUMNS if abs_tol is None else abs_tol
    problems: list[str] = []
    if duck.columns != spark.columns:
        return [f"columns differ: duckdb {duck.columns} spark {spark.columns}"]
    if duck.height != spark.height:
        problems.append(f"rows differ: duckdb {duck.height} spark {spark.height}")
    for frame, engine in ((duck, "duckdb"), (spark, "spark")):
        if frame.select(keys).is_duplicated().any():
            problems.append(f"{engine}: keys {keys} not unique")
    if problems:
        return problems
    left, right = duck.sort(keys), spark.sort(keys)
    if not left.select(keys).equals(right.select(keys)):
        return [f"keys {keys} differ"]
    for name in duck.columns:
        a, b = left[name], right[name]
        if a.dtype.is_float() or b.dtype.is_float():
            bad = _float_mismatches(a, b, rel_tol, abs_tol.get(name, 1e-9))
        else:
            if a.dtype != b.dtype and a.dtype.is_integer() and b.dtype.is_integer():
                a, b = a.cast(pl.Int64), b.cast(pl.Int64)  # e.g. DuckDB HUGEINT sums, Spark BIGINT
            bad = int((~a.eq_missing(b)).sum())
        if bad:
            problems.append(f"{name}: {bad} of {duck.height} rows differ")
    return problems


def _float_mismatches(a: pl.Series, b: pl.Series, rel_tol: float, abs_tol: float = 1e-9) -> int:
    frame = pl.DataFrame({"a": a.cast(pl.Float64), "b": b.cast(pl.Float64)})
    x, y = pl.col("a"), pl.col("b")
    # a hair above the stated tolerance: 0.01 apart in binary is not always <= 0.01
    tolerance = pl.max_horizontal(pl.lit(abs_tol * (1 + 1e-9)), rel_tol * pl.max_horizontal(x.abs(), y.abs()))
    return int(frame.select(((x.is_null() != y.is_null()) | ((x - y).abs() > tolerance).fill_null(False)).sum()).item())


def max_relative_difference(duck: pl.DataFrame, spark: pl.DataFrame, keys: list[str]) -> float:
    """The largest |a - b| / max(|a|, |b|) over the float columns of two versions of one table,
    rows matched on ``keys`` (0.0 when every float is equal or there is none; magnitudes below 1e-6
    are taken as 1e-6)."""
    floats = [c for c, t in duck.schema.items() if t.is_float() and c not in keys]
    if not floats:
        return 0.0
    joined = duck.select(*keys, *floats).join(spark.select(*keys, *floats), on=keys, how="inner",
                                               nulls_equal=True, suffix="__spark")
    # magnitudes below 1e-6 count as 1e-6: a sum that is 0 on one engine and 3e-12 on the other (float
    # summation order) is not "200% apart"
    worst = []
    for c in floats:
        gap = (pl.col(c) - pl.col(f"{c}__spark")).abs()
        size = pl.max_horizontal(pl.col(c).abs(), pl.col(f"{c}__spark").abs(), pl.lit(1e-6))
        worst.append((gap / size).max())
    value = joined.select(pl.max_horizontal(*worst)).item()
    return float(value or 0.0)
