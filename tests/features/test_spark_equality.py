"""The feature, label and KPI SQL on Spark equals DuckDB table for table (issue 16): a generated
population through every DuckDB builder the assets call, the same raw tables as Parquet through
Spark (``features.spark_engine.build_all``), then every table compared (same rows, keys and dtypes;
numbers within 1e-9 relative). What the DuckDB path computes in Python is handed to Spark as is:
the hccinfhir scores (``_member_hcc``), the expected readmission risk and earlier lists (stand-ins
here: the point is that both engines read the same frames)."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import polars as pl
import pytest

pytest.importorskip("pyspark", reason="pyspark is in the optional 'spark' extra (pip install .[spark])")
sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is in the optional 'spark' extra (pip install .[spark])")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java 17+ (no java on PATH, no JAVA_HOME)", allow_module_level=True)

from generated import EXTRACTS, build_core, load_population, stand_in_inputs  # noqa: E402

from features.coverage import warehouse_month_coverage  # noqa: E402
from features.kpi import build_kpi_readmission_monthly, build_program_kpis  # noqa: E402
from features.member import build_member_dataset  # noqa: E402
from features.portable import make_portable, portable_statements, to_spark  # noqa: E402
from features.readmission import (  # noqa: E402
    LABEL_TEMP_TABLE, build_readmission_dataset, materialise_labels,
)
from features.spark_engine import (  # noqa: E402
    PROGRAM_EFFECT_COHORT, PYTHON_COLUMNS, TABLE_KEYS, SparkSettings, build_all, compare_tables,
    create_temp_view,
    export_raw_parquet, register_raw, run_file, spark_query, spark_session, spark_table,
)
from features.sqlfiles import load_sql  # noqa: E402
from models.intake import IntakeOptions  # noqa: E402
from models.program_effect import COHORT_TEMP_TABLE, build_program_effect_cohort  # noqa: E402
from models.timesplit import high_need_snapshots  # noqa: E402

pytestmark = pytest.mark.slow

MEMBERS, SEED = 1500, 11
AS_OF = dt.date(2026, 1, 1)  # the day after the generated 36 months (2023-01 .. 2025-12)
RECENT_FROM = AS_OF - dt.timedelta(days=60)
LIST_DATES = (dt.date(2025, 6, 1), dt.date(2025, 9, 1))
# the program-effect cohort is compared on its own below
KEYS: dict[str, list[str]] = {t: k for t, k in TABLE_KEYS.items() if t != "_program_effect_cohort"}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from synth.generator import generate

    root = tmp_path_factory.mktemp("spark_equality")
    generate(root / "landing", members=MEMBERS, seed=SEED, months=36, file_format="parquet")
    con = load_population(root / "landing")
    # DuckDB, as the assets call it
    build_core(con)
    build_readmission_dataset(con, AS_OF)
    start = con.execute("SELECT min(claim_start_date) FROM raw.medical_claim").fetchone()[0]
    dates = high_need_snapshots(AS_OF, start).all_dates()
    build_member_dataset(con, dates, data_end=AS_OF)
    build_program_effect_cohort(con, AS_OF, 7, recent_from=RECENT_FROM)
    inputs = stand_in_inputs(con, LIST_DATES)
    build_kpi_readmission_monthly(con, AS_OF)
    build_program_kpis(con, AS_OF, expected=inputs.expected)
    # Spark, from the same raw tables as Parquet
    export_raw_parquet(con, root / "parquet", EXTRACTS)
    spark = spark_session(SparkSettings(warehouse=root / "warehouse"))
    register_raw(spark, root / "parquet", EXTRACTS)
    coverage = build_all(spark, AS_OF, dates, inputs, recent_from=RECENT_FROM)
    yield con, spark, {"dates": dates, "coverage": coverage}
    spark.stop()
    con.close()


def _assert_equal(duck: pl.DataFrame, other: pl.DataFrame, keys: list[str]) -> None:
    assert duck.height > 0, "the population is too small to prove anything"
    assert compare_tables(duck, other, keys) == []
    assert dict(duck.schema) == dict(other.schema)


@pytest.mark.parametrize("table", sorted(KEYS))
def test_spark_builds_the_same_table_as_duckdb(engines, table):
    con, spark, _ = engines
    duck, other = con.execute(f"SELECT * FROM {table}").pl(), spark_table(spark, table)
    _assert_equal(duck.drop(PYTHON_COLUMNS.get(table, [])), other, KEYS[table])


def test_member_features_cover_every_snapshot_of_the_high_need_plan(engines):
    con, spark, built = engines
    other = spark_table(spark, "features.member_features")
    assert sorted(other["as_of_date"].unique().to_list()) == built["dates"] and len(built["dates"]) >= 3


def test_program_effect_cohort_agrees(engines):
    con, spark, _ = engines
    assert COHORT_TEMP_TABLE == PROGRAM_EFFECT_COHORT
    duck = con.execute(f"SELECT * FROM {COHORT_TEMP_TABLE}").pl()
    _assert_equal(duck, spark_table(spark, PROGRAM_EFFECT_COHORT), ["stay_id"])
    assert duck["enrolled_programs"].list.len().max() >= 2, "no stay with two programs: the ordered list is untested"


def test_month_coverage_agrees(engines):
    con, _, built = engines
    _assert_equal(warehouse_month_coverage(con), built["coverage"], ["month"])


def test_member_hcc_inputs_agree(engines):
    # the scores are hccinfhir's (Python); the rows it is called with come from SQL on either engine
    from features.spark_engine import member_hcc_inputs

    con, spark, built = engines
    dates = built["dates"]
    duck = pl.concat([con.execute(load_sql("features__member_hcc_input"), {"as_of_date": d}).pl() for d in dates])
    _assert_equal(duck, member_hcc_inputs(spark, dates), ["person_id", "as_of_date"])


def test_intake_queries_agree(engines):
    con, spark, _ = engines
    options = IntakeOptions()
    caps = pl.DataFrame({"program": list(options.program_caps), "cap": list(options.program_caps.values())},
                        schema={"program": pl.String, "cap": pl.Int64})
    con.execute("CREATE OR REPLACE TEMP TABLE _program_cap AS SELECT * FROM caps")
    create_temp_view(spark, caps, "_program_cap")
    for name, params, keys in (
        ("ml__intake_eligible_member", {"as_of": AS_OF, "declined_days": options.declined_days}, ["person_id"]),
        ("ml__intake_member_context", {"as_of": AS_OF}, ["person_id"]),
        ("ml__case_manager_open_capacity", {"as_of": AS_OF, "acuity_weighted": options.acuity_weighted},
         ["case_manager_id"]),
    ):
        duck = con.execute(load_sql(name), params).pl()
        (statement,) = portable_statements(name)
        _assert_equal(duck, pl.from_arrow(spark_query(spark, statement, params).toArrow()), keys)


def test_hedis_variant_labels_agree(engines):
    # the HEDIS variant's age exclusion reads date_sub('year', ...), the rewrite DuckDB and Spark differ on
    con, spark, _ = engines
    materialise_labels(con, AS_OF, "hedis_pcr")
    run_file(spark, "features__readmission_label", {"as_of": AS_OF, "variant": "hedis_pcr"},
             select_into=LABEL_TEMP_TABLE, select_kind="temp")
    duck, other = con.execute(f"SELECT * FROM {LABEL_TEMP_TABLE}").pl(), spark_table(spark, LABEL_TEMP_TABLE)
    assert duck["exclusion_reason"].is_in(["age_under_18", "not_enrolled_prior_365d"]).any()
    assert compare_tables(duck, other, ["stay_id"]) == []


def test_whole_years_agree_on_month_ends_and_leap_days(engines):
    # DuckDB date_sub('year', a, b) counts 29 Feb -> 28 Feb as a year; Spark's timestampdiff does not
    con, spark, _ = engines
    pairs = con.execute(
        "SELECT a::DATE AS a, b::DATE AS b FROM range(DATE '1999-12-01', DATE '2001-04-01', INTERVAL 1 DAY) r(a), "
        "(SELECT unnest([DATE '2001-02-28', DATE '2001-03-01', DATE '2003-02-28', DATE '2004-02-28', DATE '2004-02-29', "
        "DATE '2000-12-31', DATE '2001-12-30', DATE '2020-03-31', DATE '2000-06-15']) AS b)"
    ).pl()
    expected = con.execute("SELECT a, b, date_sub('year', a, b) AS years FROM pairs ORDER BY a, b").pl()
    spark.createDataFrame(pairs.to_arrow()).createOrReplaceTempView("_pairs")
    query = make_portable(sqlglot.parse_one(
        "SELECT a, b, date_sub('year', a, b) AS years FROM _pairs", dialect="duckdb"))
    got = pl.from_arrow(spark.sql(to_spark(query, columns=lambda q: [])).toArrow()).sort("a", "b")
    assert got["years"].cast(pl.Int64).to_list() == expected["years"].to_list()


def test_arg_min_skips_null_values_on_both_engines(engines):
    con, spark, _ = engines
    sql = "SELECT arg_min(v, k) AS first_v, arg_max(v, k) AS last_v FROM _vals"
    con.execute("CREATE OR REPLACE TEMP TABLE _vals AS SELECT * FROM (VALUES (1, NULL), (2, 'x'), (3, 'y'), (4, NULL)) t(k, v)")
    spark.sql("SELECT * FROM VALUES (1, CAST(NULL AS STRING)), (2, 'x'), (3, 'y'), (4, NULL) AS t(k, v)").createOrReplaceTempView("_vals")
    query = make_portable(sqlglot.parse_one(sql, dialect="duckdb"))
    assert con.execute(sql).fetchone() == ("x", "y")
    assert tuple(spark.sql(to_spark(query, columns=lambda q: [])).first()) == ("x", "y")


def test_generate_series_and_quantiles_agree_on_edge_ranges(engines):
    # an empty range (start after stop) gives no rows on both engines, a one-value range one row;
    # quantile_cont interpolates alike
    con, spark, _ = engines
    sql = ("SELECT count(*) AS n, min(CAST(m AS DATE)) AS first_m FROM generate_series($a, $b, INTERVAL 1 MONTH) AS t(m)")
    query = make_portable(sqlglot.parse_one(sql, dialect="duckdb"))
    for a, b in ((dt.date(2025, 3, 1), dt.date(2025, 1, 1)), (dt.date(2025, 1, 1), dt.date(2025, 1, 1)),
                 (dt.date(2024, 1, 31), dt.date(2024, 6, 30))):
        assert tuple(spark.sql(to_spark(query, columns=lambda q: []), args={"a": a, "b": b}).first()) == \
            con.execute(sql, {"a": a, "b": b}).fetchone()
    sql = "SELECT quantile_cont(x, 0.9) AS p90, median(x) AS p50 FROM (SELECT unnest([1, 2, 4, 8, 9]) AS x)"
    query = make_portable(sqlglot.parse_one(sql, dialect="duckdb"))
    assert tuple(spark.sql(to_spark(query, columns=lambda q: [])).first()) == con.execute(sql).fetchone()


def test_comparison_reports_a_changed_value():
    left = pl.DataFrame({"k": [1, 2], "x": [1.0, 2.0], "s": ["a", None]})
    assert compare_tables(left, left.reverse(), ["k"]) == []
    assert compare_tables(left, left.with_columns(pl.Series("x", [1.0, 2.0 + 1e-6])), ["k"]) == ["x: 1 of 2 rows differ"]
    assert compare_tables(left, left.with_columns(pl.Series("s", ["a", "b"])), ["k"]) == ["s: 1 of 2 rows differ"]


def test_cent_rounded_money_columns_agree_within_one_cent_and_no_more():
    duck = pl.DataFrame({"k": [1, 2], "pmpm_paid_amount": [123.45, 10.0], "rate": [0.5, 0.25]})
    assert compare_tables(duck, duck.with_columns(pl.Series("pmpm_paid_amount", [123.44, 10.0])), ["k"]) == []
    assert compare_tables(duck, duck.with_columns(pl.Series("pmpm_paid_amount", [123.43, 10.0])), ["k"]) != []
    assert compare_tables(duck, duck.with_columns(pl.Series("rate", [0.5, 0.26])), ["k"]) != []  # other floats: 1e-9
