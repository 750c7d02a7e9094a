"""A stay is a stay: only an institutional inpatient claim may leave its diagnosis blank, and a code needs its system."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from data_contracts.gx_suite import validate_frame
from data_contracts.ingest import ingest_extract
from data_contracts.spec import load_contract

THROUGH = date(2025, 12, 31)
CONTRACT = load_contract("medical_claim")
HEADER = ("claim_id,claim_line_number,claim_type,person_id,claim_start_date,claim_end_date,admission_date,discharge_date,"
          "bill_type_code,diagnosis_code_type,diagnosis_code_1,diagnosis_code_2,paid_amount,allowed_amount")
LINES = {
    # institutional inpatient, no diagnosis at all: loaded, principal diagnosis unknown
    "IP1": "IP1,1,institutional,P1,2024-01-02,2024-01-05,2024-01-02,2024-01-05,0111,,,,10,10",
    "IP2": "IP2,1,institutional,P2,2024-01-02,2024-01-05,2024-01-02,2024-01-05,011,,,,10,10",
    # every other claim still needs a diagnosis
    "OP": "OP,1,institutional,P3,2024-01-02,2024-01-02,,,0131,,,,10,10",
    "PR": "PR,1,professional,P4,2024-01-02,2024-01-02,,,,,,,10,10",
    # a code without its code system, in any position
    "NT1": "NT1,1,institutional,P5,2024-01-02,2024-01-05,2024-01-02,2024-01-05,0111,,I509,,10,10",
    "NT2": "NT2,1,institutional,P6,2024-01-02,2024-01-05,2024-01-02,2024-01-05,0111,,,E119,10,10",
    "OK": "OK,1,professional,P7,2024-01-02,2024-01-02,,,,icd-10-cm,E119,,10,10",
}


def test_only_inpatient_claims_may_leave_the_diagnosis_blank(tmp_path: Path) -> None:
    path = tmp_path / "2024-01.csv"
    path.write_text("\n".join([HEADER, *LINES.values()]) + "\n")
    con = duckdb.connect()
    result = ingest_extract(con, CONTRACT, path, THROUGH, breach_threshold=1.0, partition="2024-01")
    loaded = {c for (c,) in con.execute("SELECT claim_id FROM raw.medical_claim").fetchall()}
    rules = dict(con.execute("SELECT claim_id, _rule FROM quarantine.medical_claim").fetchall())
    assert loaded == {"IP1", "IP2", "OK"}
    assert rules == {"OP": "not_null:diagnosis_code_1", "PR": "not_null:diagnosis_code_1",
                     "NT1": "required_with:diagnosis_code_type", "NT2": "required_with:diagnosis_code_type"}
    assert result.rows_loaded + result.rows_quarantined == result.rows_read == len(LINES)


def test_great_expectations_suite_applies_the_same_conditions() -> None:
    base = {c: None for c in CONTRACT.column_names}
    row = {**base, "claim_id": "X", "claim_line_number": 1, "person_id": "P", "claim_start_date": date(2024, 1, 2),
           "claim_end_date": date(2024, 1, 2), "paid_amount": 1.0, "allowed_amount": 1.0}
    inpatient = {**row, "claim_type": "institutional", "bill_type_code": "0111"}
    ok = pd.DataFrame([inpatient, {**row, "claim_id": "Y", "claim_type": "professional",
                                   "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "E119"}])
    assert validate_frame(CONTRACT, ok, THROUGH).success
    bad = pd.DataFrame([inpatient, {**row, "claim_id": "Y", "claim_type": "professional"},
                        {**inpatient, "claim_id": "Z", "diagnosis_code_1": "I509"}])
    failed = {(o.expectation, o.column, o.unexpected_count) for o in validate_frame(CONTRACT, bad, THROUGH).failed}
    assert failed == {("expect_column_values_to_not_be_null", "diagnosis_code_1", 1),
                      ("expect_column_values_to_not_be_null", "diagnosis_code_type", 1)}
