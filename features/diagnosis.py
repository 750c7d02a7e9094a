"""The unified diagnosis table ``core.diagnosis`` with code systems and an ICD-10-CM mapping.

The rule is ``features/sql/core__diagnosis.sql``; the code lists are in ``features.codelists``.
"""

from __future__ import annotations

import duckdb

from features.codelists import load_code_lists
from features.sqlfiles import run_sql

DIAGNOSIS_TABLE = "core.diagnosis"
CODE_SYSTEMS: tuple[str, ...] = ("icd-10-cm", "icd-9-cm", "snomed-ct", "unknown")


def mapping_coverage(con: duckdb.DuckDBPyConnection, where_sql: str = "") -> dict[str, float | int]:
    """Rows and share mapped to ICD-10-CM per code system of ``core.diagnosis``.

    Keys: ``rows_<system>``, ``mapped_<system>``, ``coverage_<system>`` (None when no rows) and the
    same for ``all``. ``where_sql`` is a fixed filter chosen by the calling module, never user input.
    """
    rows = con.execute(
        f"""
        SELECT code_system, count(*), count(icd10cm_code)
        FROM {DIAGNOSIS_TABLE} {where_sql}
        GROUP BY code_system
        """
    ).fetchall()
    out: dict[str, float | int] = {}
    total = mapped_total = 0
    for system, n, mapped in rows:
        key = system.replace("-", "_")
        out[f"rows_{key}"] = int(n)
        out[f"mapped_{key}"] = int(mapped)
        out[f"coverage_{key}"] = round(mapped / n, 6) if n else None
        total += n
        mapped_total += mapped
    out["rows_all"] = int(total)
    out["mapped_all"] = int(mapped_total)
    out["coverage_all"] = round(mapped_total / total, 6) if total else None
    return out


def build_diagnosis(con: duckdb.DuckDBPyConnection) -> dict[str, float | int]:
    """Create or replace ``core.diagnosis`` from ``raw.medical_claim``, ``raw.condition`` and
    ``raw.encounter``; returns row counts and ICD-10-CM mapping coverage per code system."""
    load_code_lists(con, gem=True)
    run_sql(con, "core__diagnosis")
    return mapping_coverage(con)
