"""Monthly files: a month reloads alone, the same file twice changes nothing, nothing double-counts."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import duckdb
import pytest

from data_contracts.ingest import ExtractFileError, ingest_extract
from data_contracts.spec import load_contract

THROUGH = date(2025, 12, 31)
HEADER = "claim_id,claim_line_number,claim_type,person_id,claim_start_date,claim_end_date,diagnosis_code_type,diagnosis_code_1,paid_amount,allowed_amount"
CONTRACT = load_contract("medical_claim")


def _line(claim: str, day: str, paid: float = 10.0) -> str:
    return f"{claim},1,professional,P1,{day},{day},icd-10-cm,E119,{paid},{paid}"


def _month_file(folder: Path, month: str, lines: list[str]) -> Path:
    path = folder / f"{month}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def _state(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT _partition, claim_id, paid_amount FROM raw.medical_claim ORDER BY ALL").fetchall()


def test_corrected_month_replaces_only_that_month(tmp_path: Path) -> None:
    con = duckdb.connect()
    ingest_extract(con, CONTRACT, _month_file(tmp_path, "2024-01", [_line("A", "2024-01-05"), _line("B", "2024-01-09")]), THROUGH, partition="2024-01")
    ingest_extract(con, CONTRACT, _month_file(tmp_path, "2024-02", [_line("C", "2024-02-05")]), THROUGH, partition="2024-02")
    corrected = tmp_path / "fix"
    corrected.mkdir()
    ingest_extract(con, CONTRACT, _month_file(corrected, "2024-01", [_line("A", "2024-01-05", 99.0)]), THROUGH, partition="2024-01")
    assert _state(con) == [("2024-01", "A", 99.0), ("2024-02", "C", 10.0)]


def test_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    con = duckdb.connect()
    path = _month_file(tmp_path, "2024-01", [_line("A", "2024-01-05")])
    first = ingest_extract(con, CONTRACT, path, THROUGH, run_id="r1", partition="2024-01")
    before = (_state(con), con.execute("SELECT count(*) FROM quarantine.medical_claim").fetchone())
    second = ingest_extract(con, CONTRACT, path, THROUGH, run_id="r2", partition="2024-01")
    assert not first.unchanged and second.unchanged
    assert (_state(con), con.execute("SELECT count(*) FROM quarantine.medical_claim").fetchone()) == before
    assert con.execute("SELECT count(*) FROM audit.ingest_log WHERE status = 'loaded'").fetchone()[0] == 1


def test_rows_outside_the_month_and_keys_from_other_months_are_quarantined(tmp_path: Path) -> None:
    con = duckdb.connect()
    ingest_extract(con, CONTRACT, _month_file(tmp_path, "2024-01", [_line("A", "2024-01-05")]), THROUGH, partition="2024-01")
    result = ingest_extract(
        con, CONTRACT, _month_file(tmp_path, "2024-02", [_line("A", "2024-02-03"), _line("D", "2024-03-01"), _line("E", "2024-02-10")]),
        THROUGH, partition="2024-02", breach_threshold=1.0,
    )
    assert result.quarantined_by_rule == {"duplicate_key": 1, "partition_month:claim_start_date": 1}
    assert _state(con) == [("2024-01", "A", 10.0), ("2024-02", "E", 10.0)]


def test_truncated_gzip_fails_its_month_with_a_clear_message_and_leaves_others(tmp_path: Path) -> None:
    con = duckdb.connect()
    ingest_extract(con, CONTRACT, _month_file(tmp_path, "2024-01", [_line("A", "2024-01-05")]), THROUGH, partition="2024-01")
    payload = gzip.compress(("\n".join([HEADER, *[_line(f"X{i}", "2024-02-02") for i in range(2000)]]) + "\n").encode())
    broken = tmp_path / "2024-02.csv.gz"
    broken.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ExtractFileError, match=r"2024-02.csv.gz: the file is truncated or corrupt"):
        ingest_extract(con, CONTRACT, broken, THROUGH, partition="2024-02")
    assert _state(con) == [("2024-01", "A", 10.0)]


def test_monthly_extract_needs_its_partition(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="arrives per month"):
        ingest_extract(duckdb.connect(), CONTRACT, _month_file(tmp_path, "2024-01", [_line("A", "2024-01-05")]), THROUGH)


def test_writing_an_empty_monthly_frame_writes_nothing_and_says_zero(tmp_path) -> None:
    import polars as pl

    from data_contracts.landing import write_landing_extract
    from data_contracts.spec import load_contract

    contract = load_contract("medical_claim")
    empty = pl.DataFrame(schema={c: pl.String for c in contract.required_columns})
    assert write_landing_extract(empty, "medical_claim", tmp_path) == 0
    assert not list((tmp_path / "medical_claim").glob("*.csv"))
