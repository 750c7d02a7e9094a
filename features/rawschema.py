"""Create ``raw.<extract>`` tables typed exactly as the data contracts say.

For tests and demos that build small in-memory databases; production ingestion lives in
``data_contracts``/``pipelines``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import polars as pl

from data_contracts.ingest import create_empty_raw_table
from data_contracts.spec import load_contract

_POLARS_TYPES = {"string": pl.String, "integer": pl.Int64, "double": pl.Float64, "date": pl.Date}


def create_raw_tables(con: duckdb.DuckDBPyConnection, extracts: Iterable[str]) -> None:
    """Create empty ``raw.<extract>`` tables (replacing existing ones) from the contracts."""
    for extract in extracts:
        # load_contract raises on an unknown name, so table names come from a fixed list
        create_empty_raw_table(con, load_contract(extract))


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


def load_extract_files(con: duckdb.DuckDBPyConnection, folder: Any, extracts: Iterable[str]) -> dict[str, int]:
    """Load ``<folder>/<extract>.parquet|.csv`` or ``<folder>/<extract>/*.parquet|*.csv`` (monthly
    partitions) straight into typed ``raw.<extract>`` tables.

    For tests and benchmarks on clean generated data only: no contract checks, no quarantine
    (production ingestion is ``data_contracts.ingest``). Returns rows loaded per extract.
    """
    from pathlib import Path

    create_raw_tables(con, extracts)
    counts: dict[str, int] = {}
    for extract in extracts:
        contract = load_contract(extract)
        base = Path(folder) / extract
        candidates = [base.with_suffix(".parquet"), base.with_suffix(".csv"), base.with_suffix(".csv.gz")]
        files = [p for p in candidates if p.is_file()] or sorted(base.glob("*.parquet")) or sorted(base.glob("*.csv*"))
        if not files:
            raise FileNotFoundError(f"no file for extract {extract} under {folder}")
        cols = ", ".join(f'CAST("{c.name}" AS {c.duckdb_type})' for c in contract.columns)
        parquet = files[0].suffix == ".parquet"
        reader = "read_parquet(?)" if parquet else "read_csv(?, all_varchar = true)"
        con.execute(f"INSERT INTO raw.{contract.extract} SELECT {cols} FROM {reader}", [[str(p) for p in files]])
        counts[extract] = table_rows(con, extract)
    return counts


def table_rows(con: duckdb.DuckDBPyConnection, extract: str) -> int:
    contract = load_contract(extract)
    return int(con.execute(f"SELECT count(*) FROM raw.{contract.extract}").fetchone()[0])
