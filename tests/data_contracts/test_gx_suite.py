"""The great-expectations suite built from a contract passes clean rows and catches broken ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from data_contracts.gx_suite import validate_frame
from data_contracts.ingest import ingest_extract
from data_contracts.spec import load_contract

CSV = """person_id,birth_date,death_date,gender,race,ethnicity,zip_code,county_fips,state,dual_status_code,payer_type,enrollment_start_date,enrollment_end_date,outreach_opt_out_flag
P1,1950-01-01,,female,white,not_hispanic,02134,25025,MA,00,medicare,2023-01-01,2026-12-31,0
P2,1960-05-01,,male,black,hispanic,,,,01,medicaid,2023-01-01,2024-06-30,1
"""


def test_suite_passes_loaded_rows_and_flags_a_broken_copy(tmp_path: Path) -> None:
    path = tmp_path / "eligibility.csv"
    path.write_text(CSV)
    con = duckdb.connect()
    contract = load_contract("eligibility")
    ingest_extract(con, contract, path, date(2025, 12, 31))
    frame = con.execute("SELECT * FROM raw.eligibility").df()
    clean = validate_frame(contract, frame, date(2025, 12, 31))
    assert clean.success and clean.rows_validated == 2 and len(clean.outcomes) > 10

    broken = frame.copy()
    broken.loc[0, "gender"] = "x"
    broken.loc[1, "person_id"] = "P1"
    outcome = validate_frame(contract, broken, date(2025, 12, 31))
    failed = {(o.expectation, o.column) for o in outcome.failed}
    assert ("expect_column_values_to_be_in_set", "gender") in failed
    assert ("expect_compound_columns_to_be_unique", "person_id,enrollment_start_date") in failed
