"""The DuckDB -> Spark SQL rewrites of features.portable, checked without Spark (sqlglot only)."""

from __future__ import annotations

import re

import pytest

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is in the optional 'spark' extra")

from sqlglot import exp  # noqa: E402

from features.portable import FeatureSQL, expand_by_schema, make_portable, portable_statements, to_spark  # noqa: E402
from features.sqlfiles import SQL_DIR  # noqa: E402

SLICE = ("core__inpatient_stay", "core__diagnosis", "features__readmission_label", "features__readmission_stay")
# every file with a query; marts__intake_assignment is DDL and stays DuckDB-only
QUERY_FILES = tuple(sorted(p.stem for p in SQL_DIR.glob("*.sql")
                           if not p.stem.startswith("macros__") and p.stem != "marts__intake_assignment"))


def _query(sql: str) -> exp.Query:
    return make_portable(sqlglot.parse_one(sql, dialect=FeatureSQL))


@pytest.mark.parametrize("name", QUERY_FILES)
def test_files_leave_no_duckdb_only_construct(name):
    for statement in portable_statements(name):
        text = statement.query.sql(dialect="spark").lower()
        for construct in ("date_sub('year'", "age_band(", "svi_quartile(", "rollup_level(", "length(",
                          "percentile_cont(", "_u(", "generate_series("):
            assert construct not in text, f"{name}: {construct} survived"
        # every min_by / max_by skips the rows whose value is NULL, as DuckDB's arg_min / arg_max do
        guarded = re.findall(r"(?:min|max)_by\((.+?), case when not \1 is null then ", text)
        assert len(guarded) == text.count("min_by(") + text.count("max_by(")


def test_scripts_keep_their_statement_kinds_and_targets():
    kinds = [(s.kind, s.target) for s in portable_statements("features__readmission_stay")]
    assert kinds[0] == ("temp", "_rs_idx") and kinds[-1] == ("select", None)
    assert [(s.kind, s.target) for s in portable_statements("core__inpatient_stay")] == [("table", "core.inpatient_stay")]


def test_scalar_macro_is_inlined_with_its_arguments():
    (statement,) = [s for s in portable_statements("features__readmission_stay") if s.kind == "select"]
    text = statement.query.sql(dialect="spark")
    assert "'65-74'" in text and "MONTHS_BETWEEN((m.discharge_date), (m.birth_date))" in text


def test_table_macro_becomes_a_subquery():
    statements = portable_statements("features__member_features")
    text = " ".join(s.query.sql(dialect="spark") for s in statements)
    assert "member_cost_events(" not in text.lower() and "FROM raw.pharmacy_claim" in text


def test_arg_min_skips_null_values_on_spark():
    sql = to_spark(_query("SELECT arg_min(a, (b, c)) FROM t"), columns=lambda q: [])
    assert sql == "SELECT MIN_BY(a, CASE WHEN NOT a IS NULL THEN STRUCT(b, c) END) FROM t"


def test_len_is_list_length_and_parameters_stay_markers():
    sql = to_spark(_query("SELECT len(codes) > 0, $as_of FROM t"), columns=lambda q: [])
    assert sql == "SELECT SIZE(codes) > 0, :as_of FROM t"


def test_only_year_date_sub_has_a_rewrite():
    with pytest.raises(ValueError, match="only 'year'"):
        _query("SELECT date_sub('month', a, b)")


def test_schema_constructs_expand_from_the_engine_columns():
    known = {"t1": ["k", "a"], "t2": ["k", "b"], "src": ["k", "n"]}

    def columns(query: exp.Query) -> list[str]:
        return known[next(t.name for t in query.find_all(exp.Table) if t.name in known)]

    fold = _query("SELECT k, max(COLUMNS(* EXCLUDE (k))) FROM (SELECT * FROM t1 UNION ALL BY NAME SELECT * FROM t2) GROUP BY k")
    # the union by name is expanded first, so COLUMNS() sees its padded column list
    def fold_columns(query: exp.Query) -> list[str]:
        return ["k", "a", "b"] if query.find(exp.Union) is not None else columns(query)

    text = expand_by_schema(fold, fold_columns).sql(dialect="spark")
    assert "MAX(a) AS a, MAX(b) AS b" in text and "BY NAME" not in text
    assert "SELECT k, a, NULL AS b FROM (SELECT * FROM t1)" in text and "SELECT k, NULL AS a, b FROM (SELECT * FROM t2)" in text
    renamed = expand_by_schema(_query("WITH c AS (SELECT * FROM src) SELECT * RENAME (n AS m) FROM c"), columns)
    assert renamed.sql(dialect="spark").endswith("SELECT k, n AS m FROM c")


def test_division_and_avg_are_double_as_on_duckdb():
    # DuckDB: 2 * 1000.0 / 3 and avg(1.0) are DOUBLE; Spark would keep DECIMALs rounded to their scale
    sql = to_spark(_query("SELECT a * 1000.0 / b / c, avg(CASE WHEN x THEN 1.0 ELSE 0.0 END) FROM t"), columns=lambda q: [])
    assert sql == ("SELECT CAST(CAST(a * 1000.0 AS DOUBLE) / b AS DOUBLE) / c, "
                   "AVG(CAST(CASE WHEN x THEN 1.0 ELSE 0.0 END AS DOUBLE)) FROM t")


def test_generate_series_in_from_becomes_a_generator_with_no_rows_when_empty():
    sql = to_spark(_query("SELECT CAST(m AS DATE) FROM generate_series($a, $b, INTERVAL 1 MONTH) AS t(m)"), columns=lambda q: [])
    assert sql == ("SELECT CAST(m AS DATE) FROM (SELECT EXPLODE(CASE WHEN :a <= :b THEN "
                   "SEQUENCE(:a, :b, INTERVAL '1' MONTH) END) AS m) AS t")
    with pytest.raises(ValueError, match="AS t\\(m\\)"):
        _query("SELECT * FROM generate_series(1, 3)")


def test_ordered_list_keeps_its_order_or_stops():
    sql = to_spark(_query("SELECT list(DISTINCT p ORDER BY p) FROM t"), columns=lambda q: [])
    assert sql == "SELECT ARRAY_SORT(COLLECT_LIST(DISTINCT p)) FROM t"
    with pytest.raises(ValueError, match="ORDER BY x"):
        _query("SELECT list(p ORDER BY q) FROM t")


def test_quantile_cont_is_spark_percentile():
    sql = to_spark(_query("SELECT quantile_cont(x, 0.9), median(x) FROM t"), columns=lambda q: [])
    assert sql == "SELECT PERCENTILE(x, 0.9), MEDIAN(x) FROM t"


def test_list_parameters_reach_spark_as_arrays_only_when_scalar_typed():
    import datetime as dt

    from features.spark_engine import _args

    assert _args({"as_of_dates": (dt.date(2025, 1, 1),)}) == {"as_of_dates": [dt.date(2025, 1, 1)]}
    with pytest.raises(TypeError, match="list of them"):
        _args({"as_of_dates": [object()]})


def test_member_feature_statements_batch_as_of_dates():
    """On Spark the member-feature script runs once per batch of as-of dates: the cohort filter becomes
    a range and each scan bound the batch's last date; every per-row bound stays the cohort's own."""
    from features.spark_engine import batched_statement

    for statement in portable_statements("features__member_features"):
        sql = batched_statement(statement).query.sql()
        assert "$as_of_date" not in sql and ":as_of_date" not in sql
    final = batched_statement(portable_statements("features__member_features")[-1]).query.sql()
    assert "BETWEEN :batch_first AND :batch_last" in final


def test_batching_refuses_an_unknown_use_of_the_as_of_date():
    import sqlglot

    from features.portable import Statement
    from features.spark_engine import batched_statement

    query = sqlglot.parse_one("SELECT * FROM t WHERE event_date >= $as_of_date", read="duckdb")
    with pytest.raises(ValueError, match="cannot batch as-of dates over"):
        batched_statement(Statement("select", None, query))


def test_date_batches_keep_order_and_the_row_budget():
    import datetime as dt

    from features.spark_engine import date_batches

    days = [dt.date(2024, m, 1) for m in (1, 4, 7, 10)]
    assert date_batches(dict(zip(days, (5, 5, 5, 5))), 10) == [days[:2], days[2:]]
    assert date_batches(dict(zip(days, (20, 1, 1, 1))), 10) == [days[:1], days[1:]]
    assert date_batches(dict(zip(days, (0, 0, 0, 0))), 10) == [days]
