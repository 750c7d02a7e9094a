"""Sparse histories: many small month files load in one batch with the same result, month by month, as one at a time."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from data_contracts import ingest
from data_contracts.ingest import ExtractFileError, ingest_extract, ingest_months
from data_contracts.spec import load_contract

THROUGH = date(2200, 12, 31)
HEADER = "claim_id,claim_line_number,claim_type,person_id,claim_start_date,claim_end_date,diagnosis_code_type,diagnosis_code_1,paid_amount,allowed_amount"
CONTRACT = load_contract("medical_claim")
# decades apart, as MIMIC-IV's shifted years or a lifelong Synthea history
MONTHS = ["1991-03", "1991-04", "2004-11", "2150-01", "2150-02", "2187-12"]


def _line(claim: str, day: str, paid: float = 10.0) -> str:
    return f"{claim},1,professional,P1,{day},{day},icd-10-cm,E119,{paid},{paid}"


def _landing(folder: Path) -> dict[str, Path]:
    """Month files with clean rows, a malformed line, a row from another month and a key sent twice."""
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "1991-03": [_line("A", "1991-03-05"), _line("B", "1991-03-09")],
        "1991-04": [_line("C", "1991-04-01"), "C9,1,professional", _line("D", "1991-04-30")],
        "2004-11": [_line("A", "2004-11-02"), _line("E", "2004-11-03")],  # A again: a duplicate key
        "2150-01": [],  # an empty month: header only
        "2150-02": [_line("F", "2150-03-01"), _line("G", "2150-02-28")],  # F is dated outside its month
        "2187-12": [_line("H", "2187-12-31", 5.0)],
    }
    files = {}
    for month, lines in body.items():
        path = folder / f"{month}.csv"
        path.write_text("\n".join([HEADER, *lines]) + "\n")
        files[month] = path
    return files


def _state(con: duckdb.DuckDBPyConnection) -> tuple:
    raw = con.execute("SELECT * FROM raw.medical_claim ORDER BY ALL").fetchall()
    quarantine = con.execute(
        "SELECT _partition, _source_file, _source_line, _rule, claim_id FROM quarantine.medical_claim ORDER BY ALL").fetchall()
    log = con.execute(
        "SELECT partition, source_file, rows_read, rows_loaded, rows_quarantined, status FROM audit.ingest_log ORDER BY ALL"
    ).fetchall()
    return raw, quarantine, log


def test_one_batch_gives_the_same_tables_as_month_by_month(tmp_path: Path) -> None:
    files = _landing(tmp_path / "medical_claim")
    one_by_one = duckdb.connect()
    for month, path in files.items():
        ingest_extract(one_by_one, CONTRACT, path, THROUGH, partition=month, breach_threshold=1.0)
    batched = duckdb.connect()
    outcome = ingest_months(batched, CONTRACT, files, THROUGH, breach_threshold=1.0)
    assert outcome.batches == 1 and not outcome.failures
    assert [r.partition for r in outcome.results] == MONTHS
    assert _state(batched) == _state(one_by_one)
    raw, quarantine, log = _state(batched)
    assert {(m, rule) for m, _, _, rule, _ in quarantine} == {
        ("1991-04", "malformed_row"), ("2004-11", "duplicate_key"), ("2150-02", "partition_month:claim_start_date")}
    assert ("2150-01", "2150-01.csv", 0, 0, 0, "loaded") in log
    # the malformed line is line 3 of its file, the later copy of A line 2 of 2004-11.csv
    assert ("1991-04", "1991-04.csv", 3, "malformed_row", None) in quarantine
    assert ("2004-11", "2004-11.csv", 2, "duplicate_key", "A") in quarantine


def test_a_resent_month_in_a_batch_replaces_only_that_month_and_the_same_files_change_nothing(tmp_path: Path) -> None:
    files = _landing(tmp_path / "first")
    con = duckdb.connect()
    ingest_months(con, CONTRACT, files, THROUGH, breach_threshold=1.0)
    before = _state(con)
    again = ingest_months(con, CONTRACT, files, THROUGH, breach_threshold=1.0)
    assert all(r.unchanged for r in again.results) and again.batches == 0
    assert _state(con) == before

    resent = tmp_path / "second"
    resent.mkdir()
    (resent / "2187-12.csv").write_text("\n".join([HEADER, _line("H", "2187-12-31", 99.0)]) + "\n")
    outcome = ingest_months(con, CONTRACT, {**files, "2187-12": resent / "2187-12.csv"}, THROUGH, breach_threshold=1.0)
    assert [r.partition for r in outcome.results if not r.unchanged] == ["2187-12"]
    rows = con.execute("SELECT _partition, claim_id, paid_amount FROM raw.medical_claim ORDER BY ALL").fetchall()
    assert ("2187-12", "H", 99.0) in rows and ("2187-12", "H", 5.0) not in rows
    # every other month is as it was
    assert sorted((p, c) for p, c, _ in rows) == sorted((r[-1], r[0]) for r in before[0])


def test_a_file_that_fails_fails_only_its_month(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _landing(tmp_path / "medical_claim")
    real = ingest._load_batch

    def unreadable_2004(con, contract, batch, *args):
        if any(i.month == "2004-11" for i in batch):
            raise ExtractFileError("2004-11.csv: could not be parsed as medical_claim (IOException); nothing was loaded")
        return real(con, contract, batch, *args)

    monkeypatch.setattr(ingest, "_load_batch", unreadable_2004)
    con = duckdb.connect()
    outcome = ingest_months(con, CONTRACT, files, THROUGH, breach_threshold=1.0)
    assert [m for m, _ in outcome.failures] == ["2004-11"]
    assert [r.partition for r in outcome.results] == [m for m in MONTHS if m != "2004-11"]
    loaded = {m for (m,) in con.execute("SELECT DISTINCT partition FROM audit.ingest_log").fetchall()}
    assert loaded == set(MONTHS) - {"2004-11"}


def test_batches_respect_the_file_and_byte_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _landing(tmp_path / "medical_claim")
    monkeypatch.setattr(ingest, "MAX_BATCH_FILES", 4)
    outcome = ingest_months(duckdb.connect(), CONTRACT, files, THROUGH, breach_threshold=1.0)
    assert outcome.batches == 2 and len(outcome.results) == len(MONTHS)
