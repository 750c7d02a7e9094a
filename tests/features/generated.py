"""A small generated population loaded into DuckDB, shared by the leakage and oracle tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from data_contracts.spec import load_contract
from features.diagnosis import build_diagnosis
from features.rawschema import load_extract_files
from features.stays import build_inpatient_stays

EXTRACTS: tuple[str, ...] = (
    "area_sdoh_county", "area_sdoh_zip", "cm_case", "cm_contact", "cm_goal", "cm_roster", "condition",
    "eligibility", "encounter", "lab_result", "medical_claim", "medication", "pharmacy_claim", "sdoh_screening",
)
# (table, event date column, id columns made unique when rows are copied forward)
EVENT_TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("medical_claim", "claim_start_date", ("claim_id",)),
    ("pharmacy_claim", "dispensing_date", ("claim_id",)),
    ("lab_result", "result_date", ("lab_result_id",)),
    ("encounter", "encounter_start_date", ("encounter_id",)),
    ("condition", "recorded_date", ("condition_id",)),
    ("sdoh_screening", "screening_date", ("screening_id",)),
    ("cm_contact", "contact_date", ("contact_id",)),
)


def generate_population(out: Path, members: int, seed: int) -> Path:
    from synth.generator import generate

    if not (out / "_oracle" / "index_stays.csv").is_file():
        generate(out, members=members, seed=seed, file_format="parquet")
    return out


def load_population(folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_extract_files(con, folder, EXTRACTS)
    return con


def build_core(con: duckdb.DuckDBPyConnection) -> None:
    build_inpatient_stays(con)
    build_diagnosis(con)


def alter_future(con: duckdb.DuckDBPyConnection, cut: dt.date) -> dict[str, int]:
    """Change only events dated on or after ``cut``: drop them, then copy the year before the cut
    forward by 365 days (new ids, tripled amounts, a metastatic-cancer diagnosis), drop cases
    referred on or after the cut and reopen cases that closed on or after it, and drop enrolment
    spans that start on or after it. Returns rows changed per table."""
    changed: dict[str, int] = {}
    for table, date_col, ids in EVENT_TABLES:
        contract = load_contract(table)  # fixed list; names are never user input
        n = con.execute(f"SELECT count(*) FROM raw.{contract.extract} WHERE {date_col} >= ?", [cut]).fetchone()[0]
        con.execute(f"DELETE FROM raw.{contract.extract} WHERE {date_col} >= ?", [cut])
        cols = []
        for c in contract.columns:
            if c.name in ids:
                cols.append(f"'F' || {c.name} AS {c.name}")
            elif c.type == "date":
                cols.append(f"CAST({c.name} + 365 AS DATE) AS {c.name}")
            elif c.name in ("allowed_amount", "paid_amount"):
                cols.append(f"{c.name} * 3 AS {c.name}")
            elif c.name == "diagnosis_code_2" and table == "medical_claim":
                cols.append(f"'C787' AS {c.name}")
            else:
                cols.append(c.name)
        con.execute(
            f"INSERT INTO raw.{contract.extract} SELECT {', '.join(cols)} FROM raw.{contract.extract} "
            f"WHERE {date_col} >= CAST(? AS DATE) - 365 AND {date_col} < ?",
            [cut, cut],
        )
        changed[table] = int(n)
    changed["cm_case"] = int(con.execute("SELECT count(*) FROM raw.cm_case WHERE referral_date >= ?", [cut]).fetchone()[0])
    con.execute("DELETE FROM raw.cm_case WHERE referral_date >= ?", [cut])
    con.execute("UPDATE raw.cm_case SET close_date = NULL, close_reason = NULL WHERE close_date >= ?", [cut])
    con.execute("DELETE FROM raw.eligibility WHERE enrollment_start_date >= ?", [cut])
    return changed


def stand_in_inputs(con: duckdb.DuckDBPyConnection, list_dates):
    """The Python-side inputs of the KPIs, as the assets would write them, without a model: a
    stand-in expected risk per index stay and two earlier lists in marts.intake_list_history (written
    to DuckDB here), and the frames Spark gets (features.spark_engine.PythonInputs)."""
    import polars as pl

    from features.kpi import record_history
    from features.readmission import READMISSION_TABLE
    from features.spark_engine import PythonInputs

    stays = con.execute(f"SELECT stay_id FROM {READMISSION_TABLE}").pl()
    expected = stays.with_columns((pl.col("stay_id").str.len_bytes() % 7 / 20 + 0.01).alias("expected_p"))
    members = con.execute("SELECT DISTINCT person_id FROM raw.eligibility ORDER BY 1").pl()
    for k, day in enumerate(list_dates):
        listed = (members.slice(k * 40, 60).with_row_index("rank", 1)
                  .with_columns(pl.col("rank").cast(pl.Int64), (1.0 / pl.col("rank")).alias("score")))
        record_history(con, "readmission", day, listed, listed)
    history = con.execute("SELECT * FROM marts.intake_list_history").pl()
    return PythonInputs(member_hcc=con.execute("SELECT * FROM _member_hcc").pl(), expected=expected,
                        list_history=history)

