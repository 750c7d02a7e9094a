"""Create ``raw.<extract>`` tables typed exactly as the data contracts say.

For tests and demos that build small in-memory databases; production ingestion lives in
``data_contracts``/``pipelines``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import polars as pl

from data_contracts.spec import load_contract

_POLARS_TYPES = {"string": pl.String, "integer": pl.Int64, "double": pl.Float64, "date": pl.Date}


def create_raw_tables(con: duckdb.DuckDBPyConnection, extracts: Iterable[str]) -> None:
    """Create empty ``raw.<extract>`` tables (replacing existing ones) from the contracts."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for extract in extracts:
        contract = load_contract(extract)  # raises on an unknown name, so the name is from a fixed list
        cols = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in contract.columns)
        con.execute(f"CREATE OR REPLACE TABLE raw.{contract.extract} ({cols})")


def insert_rows(con: duckdb.DuckDBPyConnection, extract: str, rows: list[Mapping[str, Any]]) -> None:
    """Append rows (dicts; absent columns become NULL) to ``raw.<extract>``."""
    if not rows:
        return
    contract = load_contract(extract)
    unknown = {k for r in rows for k in r} - set(contract.column_names)
    if unknown:
        raise ValueError(f"raw.{extract} has no columns {sorted(unknown)}")
    frame = pl.DataFrame(
        {c.name: [r.get(c.name) for r in rows] for c in contract.columns},
        schema={c.name: _POLARS_TYPES[c.type] for c in contract.columns},
    )
    con.register("_rows_to_insert", frame.to_arrow())
    try:
        con.execute(f"INSERT INTO raw.{contract.extract} SELECT * FROM _rows_to_insert")
    finally:
        con.unregister("_rows_to_insert")
