"""Small in-memory DuckDB fixtures typed by the data contracts."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pytest

from features.rawschema import create_raw_tables, insert_rows
from features.readmission import REQUIRED_RAW_TABLES


@pytest.fixture
def raw_db() -> Callable[..., duckdb.DuckDBPyConnection]:
    """Factory: ``raw_db(medical_claim=[...], eligibility=[...], ...)`` -> connection."""
    cons: list[duckdb.DuckDBPyConnection] = []

    def make(**tables: list[dict]) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        cons.append(con)
        create_raw_tables(con, sorted(set(REQUIRED_RAW_TABLES) | {"cm_roster", "cm_contact", "condition", "area_sdoh_zip", "sdoh_screening"}))
        for name, rows in tables.items():
            insert_rows(con, name, rows)
        return con

    yield make
    for con in cons:
        con.close()
