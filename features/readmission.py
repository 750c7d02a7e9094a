"""Index stays, the 30-day readmission label and point-in-time features.

``build_readmission_dataset`` writes ``features.readmission_stay``; the cohort and label
rule is ``features/sql/features__readmission_label.sql`` (shared with the KPI mart) and the
features are ``features/sql/features__readmission_stay.sql``.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from features.dictionary import MODEL_FEATURES, READMISSION_SUBGROUP_COLUMNS
from features.sqlfiles import define_macros, ensure_schema, materialise_select, naming, script_part, sql_statements

READMISSION_TABLE = "features.readmission_stay"
LABEL = "readmit_30d"
ID_COLUMNS: tuple[str, ...] = ("stay_id", "person_id", "admission_date", "discharge_date")
LABEL_WINDOW_DAYS = 30
REQUIRED_RAW_TABLES: tuple[str, ...] = (
    "eligibility", "medical_claim", "pharmacy_claim", "encounter", "lab_result", "area_sdoh_county", "cm_case",
)
LABEL_TEMP_TABLE = "_readmission_label"
VARIANTS: tuple[str, ...] = ("cms_hwr", "hedis_pcr")
EXCLUSION_REASONS: tuple[str, ...] = (
    "died", "ama", "transfer", "age_under_18", "pregnancy_perinatal", "not_enrolled_30d", "not_enrolled_prior_365d",
)


def materialise_labels(con: duckdb.DuckDBPyConnection, as_of: dt.date, variant: str = "cms_hwr") -> None:
    """Build the temp table ``_readmission_label`` (every stay discharged before ``as_of``).

    ``variant``: ``"cms_hwr"`` (CMS hospital-wide readmission logic) or ``"hedis_pcr"`` (HEDIS Plan
    All-Cause Readmissions: adds the age 18+, pregnancy/perinatal and prior-enrolment exclusions).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown readmission variant {variant!r}; choose one of {VARIANTS}")
    materialise_select(con, "features__readmission_label", LABEL_TEMP_TABLE, {"as_of": as_of, "variant": variant})


def write_readmission_features(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace ``features.readmission_stay`` from ``_readmission_label``: the script
    ``features__readmission_stay.sql``, one statement per feature group into a temp table
    ``_rs_<group>``, then the table (the file's ``-- memory:`` rule); the temp tables are dropped."""
    ensure_schema(con, "features")
    define_macros(con)
    *groups, rows = sql_statements("features__readmission_stay")
    for statement in groups:
        with naming("features__readmission_stay", script_part(statement)):
            con.execute(statement)
    with naming("features__readmission_stay", "final fold"):
        con.execute(f"CREATE OR REPLACE TABLE {READMISSION_TABLE} AS\n{rows}")
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '_rs_')"
    ).fetchall():
        con.execute(f"DROP TABLE temp.main.{name}")  # names from the script's own CREATE statements


def label_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Cohort, label and per-reason exclusion counts of the current ``_readmission_label``."""
    row = con.execute(
        f"""
        SELECT
            count(*),
            count(*) FILTER (WHERE exclusion_reason IS NULL),
            count(*) FILTER (WHERE exclusion_reason IS NULL AND readmit_30d IS NOT NULL),
            count(*) FILTER (WHERE exclusion_reason IS NULL AND readmit_30d IS NULL),
            coalesce(sum(readmit_30d), 0),
            coalesce(sum(planned_readmission_flag), 0),
            count(*) FILTER (WHERE exclusion_reason IS NULL AND no_enrolment_record_flag = 1),
            {", ".join(f"count(*) FILTER (WHERE exclusion_reason = '{r}')" for r in EXCLUSION_REASONS)}
        FROM {LABEL_TEMP_TABLE}
        """
    ).fetchone()
    keys = ("stays_discharged", "index_stays", "labelled", "unobservable", "readmissions",
            "planned_readmissions_only", "no_enrolment_record", *(f"excluded_{r}" for r in EXCLUSION_REASONS))
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def build_readmission_dataset(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, variant: str = "cms_hwr"
) -> dict[str, int]:
    """Create or replace ``features.readmission_stay`` for stays discharged before ``as_of``.

    Cohort and label: ``features/sql/features__readmission_label.sql`` for ``variant``
    (``"cms_hwr"`` default, ``"hedis_pcr"``); planned readmissions are excluded with the CMS Planned
    Readmission Algorithm v4.0 (``core.inpatient_stay.planned_flag``). Needs ``core.inpatient_stay``
    (``features.stays.build_inpatient_stays``) and the raw tables in ``REQUIRED_RAW_TABLES``. Returns
    ``stays_discharged`` (before as_of), ``index_stays``, ``labelled``, ``unobservable``,
    ``readmissions``, ``planned_readmissions_only`` (index stays whose window held only planned
    readmissions), ``no_enrolment_record`` (index stays of members with no eligibility row: EHR-only
    substitute), and ``excluded_<reason>`` for every reason in ``EXCLUSION_REASONS``.
    """
    materialise_labels(con, as_of, variant)
    write_readmission_features(con)
    return readmission_dataset_counts(con)


def readmission_dataset_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The counts ``build_readmission_dataset`` returns, from ``_readmission_label`` and
    ``features.readmission_stay`` (whichever engine built them), after checking the table against the
    cohort and the feature dictionary."""
    counts = label_counts(con)
    written = con.execute(f"SELECT count(*) FROM {READMISSION_TABLE}").fetchone()[0]
    if written != counts["index_stays"]:
        raise RuntimeError(
            f"{READMISSION_TABLE} has {written} rows but the cohort has {counts['index_stays']} index stays"
        )
    columns = [r[0] for r in con.execute(f"DESCRIBE {READMISSION_TABLE}").fetchall()]
    expected = [*ID_COLUMNS, LABEL, *READMISSION_SUBGROUP_COLUMNS, *MODEL_FEATURES]
    if columns != expected:
        raise RuntimeError(f"{READMISSION_TABLE} columns {columns} differ from the feature dictionary {expected}")
    return counts


def readmission_null_rates(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Share of NULL values per model feature of ``features.readmission_stay``."""
    select = ", ".join(f'avg(CAST("{c}" IS NULL AS DOUBLE))' for c in MODEL_FEATURES)
    row = con.execute(f"SELECT {select} FROM {READMISSION_TABLE}").fetchone()
    return {c: (float(v) if v is not None else 0.0) for c, v in zip(MODEL_FEATURES, row, strict=True)}


def lace_diagnosis_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, float | int | None]:
    """Coverage of the LACE/Charlson grouper: medical-claim diagnosis rows per code system and the
    share it reads (it reads ICD-10-CM claim diagnoses only; other systems are counted, not used)."""
    rows = con.execute(
        """
        SELECT diagnosis_code_type, count(*) FROM (
            SELECT diagnosis_code_type, diagnosis_code_1 AS code FROM raw.medical_claim
            UNION ALL SELECT diagnosis_code_type, diagnosis_code_2 FROM raw.medical_claim
            UNION ALL SELECT diagnosis_code_type, diagnosis_code_3 FROM raw.medical_claim
        ) WHERE code IS NOT NULL GROUP BY 1
        """
    ).fetchall()
    total = sum(n for _, n in rows)
    out: dict[str, float | int | None] = {f"lace_dx_rows_{s.replace('-', '_')}": int(n) for s, n in rows}
    used = sum(n for s, n in rows if s == "icd-10-cm")
    out["lace_dx_coverage"] = round(used / total, 6) if total else None
    return out
