"""What an ingestion wrote, reduced to digests that two implementations can be compared by.

``raw`` tables are compared in stored order (the stages after ingestion read them in it);
``quarantine`` tables and ``audit.ingest_log`` as sets of rows, since nothing reads them in order.
Run ids and load timestamps differ between any two runs and are left out.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from data_contracts.ingest import ingest_extract, ingest_months
from data_contracts.landing import find_extract_file, month_files
from data_contracts.spec import EXTRACTS, load_contract



def ingest_landing(con: duckdb.DuckDBPyConnection, landing: Path, through: date) -> list[tuple[str, str, Exception]]:
    """Every extract of a generated landing folder, as the ingest assets load it (all months in one call).

    Returns the months that failed, as ``(extract, month, error)``: a breached month is recorded and
    left out, as the monthly asset does; a whole file is loaded whatever its share of bad rows."""
    failures: list[tuple[str, str, Exception]] = []
    for name in EXTRACTS:
        contract = load_contract(name)
        if contract.partition_by:
            outcome = ingest_months(con, contract, month_files(landing, name), through, run_id="digest")
            failures += [(name, month, exc) for month, exc in outcome.failures]
        elif (path := find_extract_file(landing, name)) is not None:
            ingest_extract(con, contract, path, through, run_id="digest", breach_threshold=1.0)
    return failures


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = $s AND table_name = $t "
        "AND column_name NOT IN ('_run_id', '_loaded_at') ORDER BY ordinal_position", {"s": schema, "t": table}).fetchall()]


def table_digests(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """``{schema.table: [rows, md5]}`` for every raw and quarantine table and the ingest log."""
    out: dict[str, list] = {}
    for (schema, table) in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw', 'quarantine') ORDER BY 1, 2").fetchall():
        cols = ", ".join(f'"{c}"' for c in _columns(con, schema, table))
        row = f"row({cols})::VARCHAR"
        # raw: stored order (rowid); quarantine: as a set
        order = "rowid" if schema == "raw" else "1"
        n, digest = con.execute(
            f'SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY {order}), \'\')) '
            f'FROM (SELECT rowid, {row} AS r FROM {schema}."{table}")'
        ).fetchone() if schema == "raw" else con.execute(
            f'SELECT count(*), md5(coalesce(string_agg(r, chr(10) ORDER BY r), \'\')) '
            f'FROM (SELECT {row} AS r FROM {schema}."{table}")'
        ).fetchone()
        out[f"{schema}.{table}"] = [n, digest]
    n, digest = con.execute(
        "SELECT count(*), md5(string_agg(r, chr(10) ORDER BY r)) FROM (SELECT row(extract, partition, source_file, "
        "file_sha256, rows_read, rows_loaded, rows_quarantined, status, missing_optional_columns)::VARCHAR AS r "
        "FROM audit.ingest_log)").fetchone()
    out["audit.ingest_log"] = [n, digest]
    return out
