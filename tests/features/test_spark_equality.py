"""The feature SQL on Spark equals DuckDB table for table (issue 16, first slice): a generated
population through DuckDB up to features.readmission_stay, the same raw tables as Parquet through
Spark, then every table compared (same rows, keys and dtypes; numbers within 1e-9 relative)."""

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

from generated import build_core, load_population  # noqa: E402

from features.portable import make_portable, to_spark  # noqa: E402
from features.readmission import LABEL_TEMP_TABLE, build_readmission_dataset, materialise_labels  # noqa: E402
from features.spark_engine import (  # noqa: E402
    SparkSettings, build_readmission_slice, compare_tables, export_raw_parquet, register_raw, run_file,
    spark_session, spark_table,
)

pytestmark = pytest.mark.slow

MEMBERS, SEED, MONTHS = 1500, 11, 24
AS_OF = dt.date(2025, 1, 1)  # the day after the generated 24 months
KEYS: dict[str, list[str]] = {
    "core.inpatient_stay": ["stay_id"],
    "core.diagnosis": ["source", "source_id", "position"],
    "features.readmission_stay": ["stay_id"],
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    from synth.generator import generate

    root = tmp_path_factory.mktemp("spark_equality")
    generate(root / "landing", members=MEMBERS, seed=SEED, months=MONTHS, file_format="parquet")
    con = load_population(root / "landing")
    build_core(con)
    build_readmission_dataset(con, AS_OF)
    export_raw_parquet(con, root / "parquet")
    spark = spark_session(SparkSettings(warehouse=root / "warehouse"))
    register_raw(spark, root / "parquet")
    build_readmission_slice(spark, AS_OF)
    yield con, spark
    spark.stop()
    con.close()


@pytest.mark.parametrize("table", sorted(KEYS))
def test_spark_builds_the_same_table_as_duckdb(engines, table):
    con, spark = engines
    duck, other = con.execute(f"SELECT * FROM {table}").pl(), spark_table(spark, table)
    assert duck.height > 100, "the population is too small to prove anything"
    assert compare_tables(duck, other, KEYS[table]) == []
    assert dict(duck.schema) == dict(other.schema)


def test_hedis_variant_labels_agree(engines):
    # the HEDIS variant's age exclusion reads date_sub('year', ...), the rewrite DuckDB and Spark differ on
    con, spark = engines
    materialise_labels(con, AS_OF, "hedis_pcr")
    run_file(spark, "features__readmission_label", {"as_of": AS_OF, "variant": "hedis_pcr"},
             select_into=LABEL_TEMP_TABLE, select_kind="temp")
    duck, other = con.execute(f"SELECT * FROM {LABEL_TEMP_TABLE}").pl(), spark_table(spark, LABEL_TEMP_TABLE)
    assert duck["exclusion_reason"].is_in(["age_under_18", "not_enrolled_prior_365d"]).any()
    assert compare_tables(duck, other, ["stay_id"]) == []


def test_whole_years_agree_on_month_ends_and_leap_days(engines):
    # DuckDB date_sub('year', a, b) counts 29 Feb -> 28 Feb as a year; Spark's timestampdiff does not
    con, spark = engines
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
    con, spark = engines
    sql = "SELECT arg_min(v, k) AS first_v, arg_max(v, k) AS last_v FROM _vals"
    con.execute("CREATE OR REPLACE TEMP TABLE _vals AS SELECT * FROM (VALUES (1, NULL), (2, 'x'), (3, 'y'), (4, NULL)) t(k, v)")
    spark.sql("SELECT * FROM VALUES (1, CAST(NULL AS STRING)), (2, 'x'), (3, 'y'), (4, NULL) AS t(k, v)").createOrReplaceTempView("_vals")
    query = make_portable(sqlglot.parse_one(sql, dialect="duckdb"))
    assert con.execute(sql).fetchone() == ("x", "y")
    assert tuple(spark.sql(to_spark(query, columns=lambda q: [])).first()) == ("x", "y")


def test_comparison_reports_a_changed_value():
    left = pl.DataFrame({"k": [1, 2], "x": [1.0, 2.0], "s": ["a", None]})
    assert compare_tables(left, left.reverse(), ["k"]) == []
    assert compare_tables(left, left.with_columns(pl.Series("x", [1.0, 2.0 + 1e-6])), ["k"]) == ["x: 1 of 2 rows differ"]
    assert compare_tables(left, left.with_columns(pl.Series("s", ["a", "b"])), ["k"]) == ["s: 1 of 2 rows differ"]
