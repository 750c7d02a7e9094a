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


def compare_warehouses(reference: Path, candidate: Path, schemas: tuple[str, ...] = COMPARED_SCHEMAS) -> list[TableDiff]:
    """Every table of ``schemas`` in either warehouse, compared (a table in one only is a problem)."""
    with duckdb.connect(str(reference), read_only=True) as ref, duckdb.connect(str(candidate), read_only=True) as cand:
        left, right = warehouse_tables(ref, schemas), warehouse_tables(cand, schemas)
        diffs: list[TableDiff] = []
        for table in sorted(set(left) | set(right)):
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
    return diffs


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
