"""Two warehouses built from the same landing folder, compared table by table.

What ``riskstrat run --engine spark`` is held to: every core, features, ml and marts table equal to
the default engine's (``features.spark_engine.compare_tables``: same columns, rows and keys; floats
within 1e-9 relative, the cent-rounded money columns within one cent). Tables with keys in
``spark_engine.TABLE_KEYS`` are matched on them; the rest (scores, the intake list, the model-derived
marts) row by row in the order they were written, which for a ranked list is the ranking itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from features.spark_engine import TABLE_KEYS, compare_tables

COMPARED_SCHEMAS: tuple[str, ...] = ("core", "features", "ml", "marts")
# tables appended to run after run, in an order no reader relies on
WAREHOUSE_KEYS: dict[str, list[str]] = {
    **TABLE_KEYS,
    "marts.score_history": ["scored_as_of_date", "score_name", "person_id"],
    "marts.intake_list_history": ["list_as_of_date", "score_name", "person_id"],
}
# A reason in words shows its feature's value rounded ("$6,067 in pharmacy costs"): a value a float
# summation order apart on either side of a half (6066.4999999 / 6066.5000001) reads one unit apart.
# Such a text matches when its words are the same and every number is within one unit of the last
# digit shown; the reason's feature and SHAP value columns are compared as numbers as usual.
REASON_TEXT = r"^reason_\d+$|^benefit_reason_\d+$"
ROW_NUMBER = "_row_number"
# Columns that differ between any two runs whatever the engine: when a row was written, by which run.
RUN_COLUMNS: frozenset[str] = frozenset({"run_id", "logged_at", "created_at", "scored_at", "written_at", "trained_at"})


@dataclass(frozen=True)
class TableDiff:
    table: str
    rows: int
    matched_on: str  # the key columns, or "row order"
    problems: tuple[str, ...]

    @property
    def equal(self) -> bool:
        return not self.problems


def warehouse_tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...] = COMPARED_SCHEMAS) -> list[str]:
    """``schema.table`` for every table of ``schemas``, sorted."""
    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN (SELECT unnest($schemas)) AND table_type = 'BASE TABLE' ORDER BY 1",
        {"schemas": list(schemas)},
    ).fetchall()
    return [r[0] for r in rows]


def _read(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    schema, name = table.split(".", 1)
    frame = con.execute(f'SELECT * FROM "{schema}"."{name}"').pl()  # names from information_schema
    return frame.drop([c for c in frame.columns if c in RUN_COLUMNS])


# Keyed tables above this many rows are compared in DuckDB SQL (both files attached, a join on the
# keys), not in polars: at 1M members core.diagnosis and features.member_features are tens of
# millions of rows, too many to hold twice in memory.
SQL_COMPARE_ROWS = 2_000_000
_FLOAT_TYPES = frozenset({"DOUBLE", "FLOAT", "REAL"})


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compare_table_sql(reference: Path, candidate: Path, table: str, keys: list[str], rel_tol: float = 1e-9,
                      abs_tol: dict[str, float] | None = None) -> list[str]:
    """``spark_engine.compare_tables``'s rules in DuckDB SQL over the two files: the same columns, row
    counts and unique keys, every key in both, and per column the rows that differ (floats beyond
    ``rel_tol`` relative, 1e-9 absolute near 0, or the column's ``abs_tol``; others IS DISTINCT FROM)."""
    from features.spark_engine import ROUNDED_COLUMNS

    abs_tol = ROUNDED_COLUMNS if abs_tol is None else abs_tol
    schema, name = table.split(".", 1)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{reference}' AS ref (READ_ONLY)")  # paths of the caller's, never input
        con.execute(f"ATTACH '{candidate}' AS cand (READ_ONLY)")
        left = con.execute(f"DESCRIBE ref.{_quoted(schema)}.{_quoted(name)}").fetchall()
        right = con.execute(f"DESCRIBE cand.{_quoted(schema)}.{_quoted(name)}").fetchall()
        columns = [r[0] for r in left if r[0] not in RUN_COLUMNS]
        if columns != [r[0] for r in right if r[0] not in RUN_COLUMNS]:
            return [f"columns differ: reference {columns} candidate {[r[0] for r in right]}"]
        types = {r[0]: r[1] for r in left}
        a, b = f"ref.{_quoted(schema)}.{_quoted(name)}", f"cand.{_quoted(schema)}.{_quoted(name)}"
        key_list = ", ".join(_quoted(k) for k in keys)
        problems: list[str] = []
        for side, where in ((a, "reference"), (b, "candidate")):
            rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT ({key_list})) FROM {side}").fetchone()
            if rows != distinct:
                problems.append(f"{where}: keys {keys} not unique")
        rows_a, rows_b = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (a, b))
        if rows_a != rows_b:
            problems.append(f"rows differ: reference {rows_a} candidate {rows_b}")
        if problems:
            return problems
        on = " AND ".join(f"x.{_quoted(k)} IS NOT DISTINCT FROM y.{_quoted(k)}" for k in keys)
        tests = ["count(*) FILTER (WHERE x._in IS NULL OR y._in IS NULL)"]
        for c in (c for c in columns if c not in keys):
            x, y = f"x.{_quoted(c)}", f"y.{_quoted(c)}"
            if types[c] in _FLOAT_TYPES:
                tolerance = f"greatest({abs_tol.get(c, 1e-9) * (1 + 1e-9)!r}, {rel_tol!r} * greatest(abs({x}), abs({y})))"
                tests.append(f"count(*) FILTER (WHERE ({x} IS NULL) <> ({y} IS NULL) OR abs({x} - {y}) > {tolerance})")
            else:
                tests.append(f"count(*) FILTER (WHERE {x} IS DISTINCT FROM {y})")
        counts = con.execute(
            f"SELECT {', '.join(tests)} FROM (SELECT *, 1 AS _in FROM {a}) AS x "
            f"FULL JOIN (SELECT *, 1 AS _in FROM {b}) AS y ON {on}").fetchone()
    unmatched, *by_column = counts
    if unmatched:
        return [f"keys {keys} differ: {unmatched} rows in one warehouse only"]
    return [f"{c}: {n} of {rows_a} rows differ" for c, n in zip([c for c in columns if c not in keys], by_column,
                                                                  strict=True) if n]


def compare_warehouses(reference: Path, candidate: Path, schemas: tuple[str, ...] = COMPARED_SCHEMAS) -> list[TableDiff]:
    """Every table of ``schemas`` in either warehouse, compared (a table in one only is a problem)."""
    large = _large_keyed_tables(reference, candidate, schemas)
    diffs = [TableDiff(t, rows, ", ".join(WAREHOUSE_KEYS[t]), tuple(compare_table_sql(reference, candidate, t, WAREHOUSE_KEYS[t])))
             for t, rows in large.items()]
    with duckdb.connect(str(reference), read_only=True) as ref, duckdb.connect(str(candidate), read_only=True) as cand:
        left, right = warehouse_tables(ref, schemas), warehouse_tables(cand, schemas)
        for table in sorted(set(left) | set(right)):
            if table in large:
                continue
            if table not in left or table not in right:
                where = "reference" if table in left else "candidate"
                diffs.append(TableDiff(table, 0, "", (f"only in the {where} warehouse",)))
                continue
            a, b = _read(ref, table), _read(cand, table)
            keys = WAREHOUSE_KEYS.get(table)
            if keys is None:
                a, b = a.with_row_index(ROW_NUMBER), b.with_row_index(ROW_NUMBER)
            problems = compare_tables(*_rounded_reasons_aligned(a, b, keys or [ROW_NUMBER]), keys or [ROW_NUMBER])
            diffs.append(TableDiff(table, a.height, "row order" if keys is None else ", ".join(keys), tuple(problems)))
    return sorted(diffs, key=lambda d: d.table)


def _large_keyed_tables(reference: Path, candidate: Path, schemas: tuple[str, ...]) -> dict[str, int]:
    """Keyed tables in both warehouses with more than ``SQL_COMPARE_ROWS`` rows in the reference."""
    with duckdb.connect(str(candidate), read_only=True) as con:
        present = set(warehouse_tables(con, schemas))
    with duckdb.connect(str(reference), read_only=True) as con:
        sizes = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in warehouse_tables(con, schemas) if t in WAREHOUSE_KEYS and t in present}
    return {t: n for t, n in sizes.items() if n > SQL_COMPARE_ROWS}


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _one_unit_apart(a: str, b: str) -> bool:
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    pairs = zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True)
    for x, y in pairs:
        decimals = len(x.split(".")[1]) if "." in x else 0
        if abs(float(x.replace(",", "")) - float(y.replace(",", ""))) > 10.0**-decimals * (1 + 1e-9):
            return False
    return True


def reason_texts_match(a: pl.Series, b: pl.Series) -> pl.Series:
    """Per row: the two reason texts are equal, or equal but for numbers one shown unit apart (only
    the rows that differ are parsed)."""
    same = a.eq_missing(b)
    differing = (~same).arg_true().to_list()
    matched = same.to_list()
    for i in differing:  # the few rows whose texts differ, not every row
        matched[i] = a[i] is not None and b[i] is not None and _one_unit_apart(a[i], b[i])
    return pl.Series(a.name, matched, dtype=pl.Boolean)


def _rounded_reasons_aligned(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``b`` with each reason text that ``reason_texts_match`` ``a``'s taken from ``a`` (rows matched on ``keys``)."""
    texts = [c for c in a.columns if re.match(REASON_TEXT, c) and c in b.columns and a.schema[c] == pl.String]
    if not texts or a.height != b.height or a.select(keys).is_duplicated().any():
        return a, b
    a, b = a.sort(keys), b.sort(keys)
    if not a.select(keys).equals(b.select(keys)):
        return a, b
    return a, b.with_columns(
        pl.when(reason_texts_match(a[c], b[c])).then(a[c]).otherwise(b[c]).alias(c) for c in texts)
