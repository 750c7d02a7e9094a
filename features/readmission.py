"""Index stays, the 30-day readmission label and point-in-time features.

``build_readmission_dataset`` writes ``features.readmission_stay``; the cohort and label
rule is ``features/sql/features__readmission_label.sql`` (shared with the KPI mart) and the
features are ``features/sql/features__readmission_stay.sql``.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from features.dictionary import MODEL_FEATURES
from features.sqlfiles import materialise_select, run_sql

READMISSION_TABLE = "features.readmission_stay"
LABEL = "readmit_30d"
ID_COLUMNS: tuple[str, ...] = ("stay_id", "person_id", "admission_date", "discharge_date")
LABEL_WINDOW_DAYS = 30
REQUIRED_RAW_TABLES: tuple[str, ...] = (
    "eligibility", "medical_claim", "pharmacy_claim", "encounter", "lab_result", "area_sdoh_county", "cm_case",
)
LABEL_TEMP_TABLE = "_readmission_label"


def materialise_labels(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    """Build the temp table ``_readmission_label`` (every stay discharged before ``as_of``)."""
    materialise_select(con, "features__readmission_label", LABEL_TEMP_TABLE, {"as_of": as_of})


def build_readmission_dataset(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, int]:
    """Create or replace ``features.readmission_stay`` for stays discharged before ``as_of``.

    Needs ``core.inpatient_stay`` (``features.stays.build_inpatient_stays``) and the raw tables
    in ``REQUIRED_RAW_TABLES``. Returns ``stays_discharged`` (before as_of), ``index_stays``,
    ``labelled``, ``unobservable``, ``readmissions``, ``excluded_died``, ``excluded_ama``,
    ``excluded_transfer``.
    """
    materialise_labels(con, as_of)
    run_sql(con, "features__readmission_stay")
    row = con.execute(
        f"""
        SELECT
            count(*),
            count(*) FILTER (WHERE exclusion_reason IS NULL),
            count(*) FILTER (WHERE exclusion_reason IS NULL AND readmit_30d IS NOT NULL),
            count(*) FILTER (WHERE exclusion_reason IS NULL AND readmit_30d IS NULL),
            coalesce(sum(readmit_30d), 0),
            count(*) FILTER (WHERE exclusion_reason = 'died'),
            count(*) FILTER (WHERE exclusion_reason = 'ama'),
            count(*) FILTER (WHERE exclusion_reason = 'transfer')
        FROM {LABEL_TEMP_TABLE}
        """
    ).fetchone()
    keys = ("stays_discharged", "index_stays", "labelled", "unobservable", "readmissions",
            "excluded_died", "excluded_ama", "excluded_transfer")
    counts = {k: int(v) for k, v in zip(keys, row, strict=True)}
    written = con.execute(f"SELECT count(*) FROM {READMISSION_TABLE}").fetchone()[0]
    if written != counts["index_stays"]:
        raise RuntimeError(
            f"{READMISSION_TABLE} has {written} rows but the cohort has {counts['index_stays']} index stays"
        )
    columns = [r[0] for r in con.execute(f"DESCRIBE {READMISSION_TABLE}").fetchall()]
    expected = [*ID_COLUMNS, LABEL, *MODEL_FEATURES]
    if columns != expected:
        raise RuntimeError(f"{READMISSION_TABLE} columns {columns} differ from the feature dictionary {expected}")
    return counts
