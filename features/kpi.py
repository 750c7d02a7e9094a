"""Program KPI marts."""

from __future__ import annotations

import datetime as dt

import duckdb

from features.readmission import materialise_labels
from features.sqlfiles import run_sql

KPI_READMISSION_TABLE = "marts.kpi_readmission_monthly"


def build_kpi_readmission_monthly(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, int | float | None]:
    """Create or replace ``marts.kpi_readmission_monthly``.

    Grain: discharge month x in_case_management_flag (case open at discharge).
    Denominator: observable index stays (acute stays discharged before ``as_of``, alive, not AMA,
    not transferred, with discharge_date + 30 < as_of). Numerator: those with an unplanned
    (admit type <> '3') acute admission 1-30 days after discharge. Rate = numerator /
    denominator. Exclusions (died, AMA, transfer) are counted in their own columns.
    Needs ``core.inpatient_stay`` and ``raw.cm_case``. Returns row count and overall totals.
    """
    materialise_labels(con, as_of)
    run_sql(con, "marts__kpi_readmission_monthly", {"as_of": as_of})
    rows, denominator, numerator = con.execute(
        "SELECT count(*), coalesce(sum(observable_index_stays), 0), coalesce(sum(readmissions), 0) "
        "FROM marts.kpi_readmission_monthly"
    ).fetchone()
    return {
        "rows": int(rows),
        "observable_index_stays": int(denominator),
        "readmissions": int(numerator),
        "overall_rate": (float(numerator) / denominator) if denominator else None,
    }
