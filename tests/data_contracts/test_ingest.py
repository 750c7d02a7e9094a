"""Contract-checked ingestion: every defect class is quarantined with its rule, nothing is lost."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from data_contracts.ingest import ContractBreach, ExtractFileError, create_empty_quarantine_table, ingest_extract
from data_contracts.spec import all_contracts, load_contract

THROUGH = date(2025, 12, 31)
MONTH = "2024-01"
HEADER = (
    "claim_id,claim_line_number,claim_type,person_id,claim_start_date,claim_end_date,admission_date,"
    "discharge_date,discharge_disposition_code,diagnosis_code_type,diagnosis_code_1,paid_amount,allowed_amount"
)
GOOD = "C{n},1,institutional,P{n},2024-01-01,2024-01-03,2024-01-01,2024-01-03,01,icd-10-cm,I5022,100.5,120"

# (line text, the rule ingestion must report for it)
DEFECTS = [
    ("C90,1,institutional,P90,2024-01-01,2024-01-03,2024-01-01,2024-01-03,01,icd-10-cm,I5022,abc,120", "type:paid_amount"),
    ("C91,1.5,professional,P91,2024-01-01,2024-01-01,,,,icd-10-cm,E119,5,5", "type:claim_line_number"),
    ("C92,1,institutional,P92,2024-01-01,2024-01-03,2024-01-05,2024-01-03,01,icd-10-cm,I5022,1,1", "date_order:admission_date<=discharge_date"),
    ("C93,1,professional,P93,2031-02-01,2031-02-01,,,,icd-10-cm,E119,5,5", "future_date:claim_start_date"),
    ("C94,1,professional,P94,2024-01-15,2024-01-15,,,,icd-10-cm,XYZ,5,5", "pattern:diagnosis_code_1"),
    ("C95,1,institutional,P95,2024-01-01,2024-01-03,2024-01-01,2024-01-03,99,icd-10-cm,I5022,1,1", "allowed_values:discharge_disposition_code"),
    ("C96,1,professional,P96,2024-01-15,2024-01-15,,,,icd-10-cm,E119,-5,5", "range_min:paid_amount"),
    ("C97,1,professional,,2024-01-15,2024-01-15,,,,icd-10-cm,E119,5,5", "not_null:person_id"),
    ("C98,1,professional,P98,2024-01-32,2024-01-15,,,,icd-10-cm,E119,5,5", "type:claim_start_date"),
    ("C0,1,institutional,P0,2024-01-01,2024-01-03,2024-01-01,2024-01-03,01,icd-10-cm,I5022,100.5,120", "duplicate_key"),
    ("C99,1,professional,P99,2024-01-15", "malformed_row"),
    ("C99,1,professional,P99,2024-01-15,2024-01-15,,,,icd-10-cm,E119,5,5,surplus", "malformed_row"),
]


def _write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "medical_claim.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.fixture()
def dirty_file(tmp_path: Path) -> Path:
    good = [GOOD.format(n=n) for n in range(20)]
    # interleave defects among good lines so line numbers are exercised
    lines = good[:5] + [d for d, _ in DEFECTS[:6]] + good[5:] + [d for d, _ in DEFECTS[6:]]
    return _write(tmp_path, lines)


def test_each_defect_class_is_quarantined_with_its_rule_and_line(dirty_file: Path) -> None:
    con = duckdb.connect()
    result = ingest_extract(con, load_contract("medical_claim"), dirty_file, THROUGH, breach_threshold=1.0, partition=MONTH)
    lines = dirty_file.read_text().splitlines()
    quarantined = con.execute("SELECT _source_line, _rule FROM quarantine.medical_claim ORDER BY _source_line").fetchall()
    expected = sorted((lines.index(text) + 1, rule) for text, rule in DEFECTS if rule != "malformed_row")
    expected += [(i + 1, "malformed_row") for i, text in enumerate(lines) if text in {d for d, r in DEFECTS if r == "malformed_row"}]
    # the duplicate's first copy (C0) stays loaded; only the later copy is quarantined
    expected = [(line, rule) for line, rule in expected if not (rule == "duplicate_key" and line == lines.index(GOOD.format(n=0)) + 1)]
    dup_line = len(lines) - lines[::-1].index(DEFECTS[9][0])
    expected = sorted({*expected, (dup_line, "duplicate_key")})
    assert sorted(quarantined) == expected
    assert result.rows_loaded == 20
    assert result.rows_read == 20 + len(DEFECTS)
    assert result.rows_quarantined == len(DEFECTS)


def test_conservation_and_types(dirty_file: Path) -> None:
    con = duckdb.connect()
    result = ingest_extract(con, load_contract("medical_claim"), dirty_file, THROUGH, breach_threshold=1.0, partition=MONTH)
    loaded = con.execute("SELECT count(*) FROM raw.medical_claim").fetchone()[0]
    quarantined = con.execute("SELECT count(*) FROM quarantine.medical_claim").fetchone()[0]
    assert loaded + quarantined == result.rows_read
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'medical_claim' AND table_schema = 'raw'").fetchall())
    assert types["paid_amount"] == "DOUBLE" and types["claim_start_date"] == "DATE" and types["claim_line_number"] == "BIGINT"


def test_missing_optional_column_is_filled_and_reported(dirty_file: Path) -> None:
    con = duckdb.connect()
    result = ingest_extract(con, load_contract("medical_claim"), dirty_file, THROUGH, breach_threshold=1.0, partition=MONTH)
    assert "drg_code" in result.missing_optional_columns
    assert con.execute("SELECT count(drg_code) FROM raw.medical_claim").fetchone()[0] == 0


def test_missing_required_column_fails_with_clear_message(tmp_path: Path) -> None:
    header = HEADER.replace(",paid_amount", "")
    path = _write(tmp_path, [GOOD.format(n=1).replace(",100.5", "")], header=header)
    with pytest.raises(ExtractFileError, match=r"medical_claim.csv: required column\(s\) \['paid_amount'\]"):
        ingest_extract(duckdb.connect(), load_contract("medical_claim"), path, THROUGH, partition=MONTH)


def test_breach_stops_with_file_rule_and_count_and_no_row_content(tmp_path: Path) -> None:
    secret_person = "PSECRET123"
    lines = [GOOD.format(n=1), *[GOOD.format(n=n).replace("I5022", "XYZ").replace(f"P{n},", f"{secret_person}{n},") for n in range(2, 8)]]
    con = duckdb.connect()
    ingest_extract(con, load_contract("medical_claim"), _write(tmp_path, [GOOD.format(n=7)]), THROUGH, partition=MONTH)
    before = con.execute("SELECT * FROM raw.medical_claim").fetchall()
    path = _write(tmp_path, lines)
    with pytest.raises(ContractBreach) as info:
        ingest_extract(con, load_contract("medical_claim"), path, THROUGH, partition=MONTH)
    message = str(info.value)
    assert "medical_claim.csv" in message and "pattern:diagnosis_code_1" in message and "6 of 7 rows" in message
    assert secret_person not in message
    # raw keeps its previous content; the bad row is still kept in quarantine
    assert con.execute("SELECT * FROM raw.medical_claim").fetchall() == before
    assert con.execute("SELECT count(*) FROM quarantine.medical_claim").fetchone()[0] == 6


def test_rerun_on_same_file_leaves_identical_tables(dirty_file: Path) -> None:
    con = duckdb.connect()
    contract = load_contract("medical_claim")
    ingest_extract(con, contract, dirty_file, THROUGH, breach_threshold=1.0, partition=MONTH)
    first_raw = con.execute("SELECT * FROM raw.medical_claim ORDER BY ALL").fetchall()
    first_q = con.execute("SELECT * EXCLUDE (_run_id, _loaded_at) FROM quarantine.medical_claim ORDER BY ALL").fetchall()
    ingest_extract(con, contract, dirty_file, THROUGH, breach_threshold=1.0, partition=MONTH)
    assert con.execute("SELECT * FROM raw.medical_claim ORDER BY ALL").fetchall() == first_raw
    assert con.execute("SELECT * EXCLUDE (_run_id, _loaded_at) FROM quarantine.medical_claim ORDER BY ALL").fetchall() == first_q


def test_every_contract_is_well_formed() -> None:
    contracts = all_contracts()
    assert len(contracts) == 15
    for contract in contracts.values():
        assert contract.primary_key and contract.columns


def test_empty_quarantine_table_has_the_columns_of_a_loaded_one(dirty_file: Path) -> None:
    """An absent extract's empty quarantine table is declared by hand beside the loading SQL; a column
    added to one and not the other would break readers that union or compare them."""
    contract = load_contract("medical_claim")
    loaded = duckdb.connect()
    ingest_extract(loaded, contract, dirty_file, THROUGH, breach_threshold=1.0, partition=MONTH)
    empty = duckdb.connect()
    create_empty_quarantine_table(empty, contract)
    describe = "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'quarantine' ORDER BY ordinal_position"
    assert empty.execute(describe).fetchall() == loaded.execute(describe).fetchall()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_last_line_is_located_whatever_the_line_endings(tmp_path: Path, newline: str, trailing: bool) -> None:
    """The file is read once for its hash and its line count; a quarantined last line still gets its line."""
    lines = [GOOD.format(n=n) for n in range(3)] + [DEFECTS[0][0]]
    path = tmp_path / "medical_claim.csv"
    path.write_bytes((newline.join([HEADER, *lines]) + (newline if trailing else "")).encode())
    con = duckdb.connect()
    result = ingest_extract(con, load_contract("medical_claim"), path, THROUGH, breach_threshold=1.0, partition=MONTH)
    assert result.source_lines_exact and result.rows_read == 4
    assert con.execute("SELECT _source_line, _rule FROM quarantine.medical_claim").fetchall() == [(5, "type:paid_amount")]
