"""Extracts a new user brings, built from the real samples in ../shared/data: a Synthea export in the
older 2.x layout and a Tuva input layer with only the columns a claims warehouse fills, its claims
running out past the last eligibility month. Shared by the adapter and end-to-end tests."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import polars as pl

from adapters.columns import SPECS

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SYNTHEA = SHARED / "synthea" / "ma105"
TUVA = SHARED / "tuva-input-layer"

# The Tuva claims columns without which no claim line can be placed or no stay built: dates, the
# diagnosis, the bill type and the inpatient dates and disposition. Everything else is left out.
TUVA_CLAIM_CORE = ("claim_type", "claim_end_date", "admission_date", "discharge_date", "discharge_disposition_code",
                   "bill_type_code", "diagnosis_code_type", "diagnosis_code_1", "paid_amount")
# Claims run out past eligibility: every enrolment span is cut to end on this day, while claims run to 2018-12.
TUVA_ELIGIBILITY_END = date(2018, 11, 30)


def read_text(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def write_text(frame: pl.DataFrame, path: Path, separator: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = frame.write_csv(separator=separator).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def synthea_2x(folder: Path) -> Path:
    """ma105 in the older layout a user brought: START_YEAR/END_YEAR holding years, no claims.csv,
    and every other inpatient encounter without a REASONCODE."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("patients", "conditions", "medications", "payers"):
        shutil.copy(SYNTHEA / f"{name}.csv.gz", folder / f"{name}.csv.gz")
    spans = read_text(SYNTHEA / "payer_transitions.csv.gz")
    write_text(spans.select(
        "PATIENT", "MEMBERID",
        pl.col("START_DATE").str.slice(0, 4).alias("START_YEAR"), pl.col("END_DATE").str.slice(0, 4).alias("END_YEAR"),
        "PAYER", "SECONDARY_PAYER", pl.col("PLAN_OWNERSHIP").alias("OWNERSHIP"),
    ), folder / "payer_transitions.csv.gz")
    enc = read_text(SYNTHEA / "encounters.csv.gz").with_row_index("_i")
    blank = (pl.col("ENCOUNTERCLASS") == "inpatient") & (pl.col("_i") % 2 == 0)
    write_text(enc.with_columns(pl.when(blank).then(None).otherwise(pl.col("REASONCODE")).alias("REASONCODE")).drop("_i"),
               folder / "encounters.csv.gz")
    return folder


def tuva_warehouse(folder: Path) -> Path:
    """The Tuva seeds cut to the columns riskstrat declares required (adapters.columns) plus the claims
    core above, under an older release's person column name, with eligibility ending before claims do."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, spec in SPECS["tuva"].items():
        source = TUVA / f"{table}_seed.csv.gz"
        if not source.exists():
            continue
        frame = read_text(source)
        keep = [c for c in frame.columns if c in spec.required or (table == "medical_claim" and c in TUVA_CLAIM_CORE)]
        frame = frame.select(keep)
        if table == "eligibility":
            end = TUVA_ELIGIBILITY_END.isoformat()
            frame = frame.filter(pl.col("enrollment_start_date") <= end).with_columns(
                pl.min_horizontal(pl.col("enrollment_end_date"), pl.lit(end)).alias("enrollment_end_date"))
        write_text(frame.rename({"person_id": "patient_id"}), folder / f"{table}.csv")
    return folder
