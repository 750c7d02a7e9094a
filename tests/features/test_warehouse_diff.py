"""compare_warehouses, the yardstick of the Spark engine's whole-run test: its polars and its DuckDB
SQL paths (the latter for tables of tens of millions of rows) find the same differences, and let
through only the documented ones (float summation order, a cent on rounded money)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import features.warehouse_diff as warehouse_diff
from features.warehouse_diff import compare_warehouses

ROWS = """
    ('s1', 980.1, 12.34, 'a', 1), ('s2', 396.23, 0.0, 'b', 2), ('s3', 1.0, 5.0, NULL, 3), ('s4', 2.0, 7.5, 'd', 4)
"""


def _warehouse(path: Path, edits: list[str]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA core")
        con.execute("CREATE TABLE core.inpatient_stay (stay_id VARCHAR, amount DOUBLE, paid_amount DOUBLE, "
                    "source VARCHAR, n INTEGER)")
        con.execute(f"INSERT INTO core.inpatient_stay VALUES {ROWS}")
        for edit in edits:
            con.execute(edit)
    return path


@pytest.fixture(params=["polars", "sql"])
def path_kind(request, monkeypatch):
    monkeypatch.setattr(warehouse_diff, "SQL_COMPARE_ROWS", -1 if request.param == "sql" else 10**12)
    return request.param


def test_float_summation_order_and_a_cent_on_money_pass(tmp_path, path_kind):
    reference = _warehouse(tmp_path / "a.duckdb", [])
    candidate = _warehouse(tmp_path / "b.duckdb", [
        "UPDATE core.inpatient_stay SET amount = 980.1000000000001 WHERE stay_id = 's1'",
        "UPDATE core.inpatient_stay SET paid_amount = 12.35 WHERE stay_id = 's1'",  # one cent
    ])
    (diff,) = compare_warehouses(reference, candidate, ("core",))
    assert diff.equal, diff.problems


def test_real_differences_are_named_by_column(tmp_path, path_kind):
    reference = _warehouse(tmp_path / "a.duckdb", [])
    candidate = _warehouse(tmp_path / "b.duckdb", [
        "UPDATE core.inpatient_stay SET amount = 396.24 WHERE stay_id = 's2'",
        "UPDATE core.inpatient_stay SET paid_amount = 12.36 WHERE stay_id = 's1'",  # two cents
        "UPDATE core.inpatient_stay SET source = 'c' WHERE stay_id = 's3'",  # NULL -> value
        "UPDATE core.inpatient_stay SET n = 5 WHERE stay_id = 's4'",
    ])
    (diff,) = compare_warehouses(reference, candidate, ("core",))
    assert sorted(diff.problems) == [
        "amount: 1 of 4 rows differ", "n: 1 of 4 rows differ", "paid_amount: 1 of 4 rows differ",
        "source: 1 of 4 rows differ",
    ]


def test_missing_and_duplicate_keys(tmp_path, path_kind):
    reference = _warehouse(tmp_path / "a.duckdb", [])
    renamed = _warehouse(tmp_path / "b.duckdb", ["UPDATE core.inpatient_stay SET stay_id = 's9' WHERE stay_id = 's4'"])
    (diff,) = compare_warehouses(reference, renamed, ("core",))
    (problem,) = diff.problems
    assert problem.startswith("keys ['stay_id'] differ")
    doubled = _warehouse(tmp_path / "c.duckdb", ["UPDATE core.inpatient_stay SET stay_id = 's1' WHERE stay_id = 's4'"])
    (diff,) = compare_warehouses(reference, doubled, ("core",))
    (problem,) = diff.problems
    # the second warehouse named as compare_tables names it (spark) or as the SQL path does (candidate)
    assert problem in ("spark: keys ['stay_id'] not unique", "candidate: keys ['stay_id'] not unique")
