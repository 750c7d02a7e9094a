"""Month coverage and the default as-of on generated landing files (DuckDB views, no warehouse)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data_contracts.errors import RiskstratDataError
from features.coverage import (
    CLAIM_COLUMNS,
    cached_month_coverage,
    decide_as_of,
    default_as_of,
    month_coverage,
    warehouse_month_coverage,
)
from features.member import no_enrolled_member_error
from synth.generator import generate


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8,000 members (about 6,600 member-months a month: judged by lines), 2023-01..2025-01."""
    root = tmp_path_factory.mktemp("coverage")
    generate(out_dir=root, members=8_000, seed=17, start="2023-01", months=25)
    return root


def _con(landing: Path, claims_sql: str = "SELECT * FROM c", eligibility_sql: str = "SELECT * FROM e") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW c AS SELECT * FROM read_csv('{landing}/medical_claim/*.csv', union_by_name = true)")
    con.execute(f"CREATE VIEW e AS SELECT * FROM read_csv('{landing}/eligibility.csv')")
    con.execute(f"CREATE VIEW eligibility AS {eligibility_sql}")
    con.execute(f"CREATE VIEW claims AS {claims_sql}")
    return con


def test_complete_months_give_the_day_after_the_last_month(landing: Path) -> None:
    coverage = month_coverage(_con(landing), "claims", "eligibility", **CLAIM_COLUMNS)
    assert coverage["month"].max() == dt.date(2025, 1, 1)
    assert coverage.tail(6)["month_status"].cast(pl.String).to_list() == ["complete"] * 6
    assert default_as_of(coverage) == dt.date(2025, 2, 1)


def test_thinned_last_months_are_running_out_and_left_out(landing: Path) -> None:
    # keep 40% of January's lines and 75% of December's: a run-out tail
    thinned = ("SELECT * FROM c WHERE NOT ((claim_start_date >= DATE '2025-01-01' AND hash(claim_id) % 100 >= 40) "
               "OR (claim_start_date >= DATE '2024-12-01' AND claim_start_date < DATE '2025-01-01' "
               "AND hash(claim_id) % 100 >= 75))")
    coverage = month_coverage(_con(landing, thinned), "claims", "eligibility", **CLAIM_COLUMNS)
    status = dict(zip(coverage["month"].to_list(), coverage["month_status"].cast(pl.String).to_list(), strict=True))
    assert status[dt.date(2025, 1, 1)] == "running_out" and status[dt.date(2024, 12, 1)] == "running_out"
    assert status[dt.date(2024, 11, 1)] == "complete"
    decision = decide_as_of(coverage)
    assert decision.as_of == dt.date(2024, 12, 1)
    assert [m for m, _ in decision.incomplete_months] == [dt.date(2024, 12, 1), dt.date(2025, 1, 1)]


def test_claims_past_the_last_eligibility_month_never_move_the_as_of_past_enrolment(landing: Path) -> None:
    # the Tuva report: eligibility ends 2024-12, claims run to 2025-01
    capped = ("SELECT * REPLACE (least(enrollment_end_date, DATE '2024-12-31') AS enrollment_end_date) FROM e "
              "WHERE enrollment_start_date <= DATE '2024-12-31'")
    con = _con(landing, eligibility_sql=capped)
    coverage = month_coverage(con, "claims", "eligibility", **CLAIM_COLUMNS)
    as_of = default_as_of(coverage)
    assert as_of is not None and as_of <= dt.date(2025, 1, 1)
    enrolled = con.execute("SELECT count(*) FROM eligibility WHERE enrollment_start_date <= ? AND enrollment_end_date >= ?",
                           [as_of, as_of]).fetchone()[0]
    assert enrolled > 5_000
    assert "held to" in decide_as_of(coverage).sentence()


def test_sources_without_paid_amounts_are_judged_by_lines(landing: Path) -> None:
    con = _con(landing, "SELECT * REPLACE (0.0 AS paid_amount) FROM c")
    coverage = month_coverage(con, "claims", "eligibility", **CLAIM_COLUMNS)
    assert coverage["paid_ratio"].is_null().all()
    assert default_as_of(coverage) == dt.date(2025, 2, 1)


def test_a_small_source_is_not_judged_and_falls_back_to_the_latest_service_date(landing: Path) -> None:
    small = "SELECT * FROM e WHERE person_id IN (SELECT DISTINCT person_id FROM e ORDER BY person_id LIMIT 40)"
    claims = "SELECT * FROM c WHERE person_id IN (SELECT person_id FROM eligibility)"
    con = _con(landing, claims, small)
    coverage = month_coverage(con, "claims", "eligibility", **CLAIM_COLUMNS)
    assert set(coverage["month_status"].cast(pl.String).to_list()) <= {"not_judged", "not_enrolled"}
    latest = con.execute("SELECT max(claim_end_date) FROM claims").fetchone()[0]
    decision = decide_as_of(coverage)
    assert decision.rule == "latest_service_date" and decision.as_of == latest + dt.timedelta(days=1)


def test_relation_names_are_identifiers_only(landing: Path) -> None:
    with pytest.raises(ValueError):
        month_coverage(_con(landing), "claims; DROP TABLE e", "eligibility")


def test_no_enrolled_member_error_names_the_last_enrolment_month_and_a_working_as_of() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.eligibility AS SELECT *, CAST(NULL AS DATE) AS death_date FROM (VALUES "
                "('P1', DATE '2024-01-01', DATE '2024-12-31'), ('P2', DATE '2024-06-01', DATE '2024-11-30')) "
                "t(person_id, enrollment_start_date, enrollment_end_date)")
    error = no_enrolled_member_error(con, dt.date(2025, 1, 17))
    assert isinstance(error, RiskstratDataError)
    assert "2024-12" in str(error) and "--as-of 2024-12-31" in str(error)


def test_enrolment_ends_at_death_so_the_as_of_is_a_day_a_living_member_is_enrolled() -> None:
    con = duckdb.connect()
    # MIMIC-IV's derived spans run 30 days past the last discharge, a death in hospital included
    con.execute("CREATE TABLE elig AS SELECT * FROM (VALUES "
                "('P1', DATE '2024-01-01', DATE '2024-12-31', DATE '2024-06-15'), "
                "('P2', DATE '2024-01-01', DATE '2024-03-31', NULL)) "
                "t(person_id, enrollment_start_date, enrollment_end_date, death_date)")
    con.execute("CREATE TABLE claims AS SELECT 'P1' AS person_id, d AS claim_start_date, d AS claim_end_date, "
                "10.0 AS paid_amount FROM range(DATE '2024-01-05', DATE '2024-12-20', INTERVAL 7 DAY) r(d)")
    decision = decide_as_of(month_coverage(con, "claims", "elig"))
    assert decision.as_of == dt.date(2024, 6, 15) and decision.held_to_enrolment


def _warehouse(landing: Path, path: Path) -> duckdb.DuckDBPyConnection:
    """raw.medical_claim and raw.eligibility loaded from the generated landing files, in a DuckDB file."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw")
    con.execute(f"CREATE TABLE raw.medical_claim AS SELECT * FROM read_csv('{landing}/medical_claim/*.csv', union_by_name = true)")
    con.execute(f"CREATE TABLE raw.eligibility AS SELECT * FROM read_csv('{landing}/eligibility.csv')")
    return con


def _tamper_last_month(con: duckdb.DuckDBPyConnection) -> None:
    """Mark the stored coverage's last month as running out: only a caller that reads the store sees it."""
    con.execute("UPDATE audit.month_coverage_cache SET month_status = 'running_out', month_complete_flag = 0 "
                "WHERE month = (SELECT max(month) FROM audit.month_coverage_cache)")


def _default_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    return decide_as_of(cached_month_coverage(con)).as_of


def test_the_stored_coverage_is_reused_while_the_raw_tables_are_unchanged(landing: Path, tmp_path: Path) -> None:
    con = _warehouse(landing, tmp_path / "warehouse.duckdb")
    # the first call computes and stores the same coverage (paid sums to float rounding: DuckDB adds in parallel)
    assert_frame_equal(cached_month_coverage(con), warehouse_month_coverage(con), rtol=1e-9)
    assert _default_as_of(con) == dt.date(2025, 2, 1)
    _tamper_last_month(con)
    # nothing loaded since: callers get the stored coverage, so the tampered month holds the as-of back
    assert _default_as_of(con) == dt.date(2025, 1, 1)
    con.close()
    # a read-only connection (asset checks, reports) reads the store too, and writes nothing
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as reader:
        assert _default_as_of(reader) == dt.date(2025, 1, 1)


def test_new_raw_data_recomputes_the_coverage(landing: Path, tmp_path: Path) -> None:
    con = _warehouse(landing, tmp_path / "warehouse.duckdb")
    assert _default_as_of(con) == dt.date(2025, 2, 1)
    _tamper_last_month(con)
    # a month of claims lands (January's lines again, dated February): recomputed, February is counted
    con.execute("INSERT INTO raw.medical_claim SELECT * REPLACE (claim_start_date + INTERVAL 1 MONTH AS claim_start_date, "
                "claim_end_date + INTERVAL 1 MONTH AS claim_end_date) FROM raw.medical_claim "
                "WHERE claim_start_date >= DATE '2025-01-01'")
    coverage = cached_month_coverage(con)
    assert coverage["month"].max() == dt.date(2025, 2, 1)
    assert coverage.filter(pl.col("month") == dt.date(2025, 1, 1))["month_status"].to_list() == ["complete"]
    # a reload through ingestion that moves no count or date still logs a row in audit.ingest_log: recomputed
    _tamper_last_month(con)
    assert cached_month_coverage(con)["month_status"].to_list()[-1] == "running_out"
    con.execute("CREATE TABLE audit.ingest_log (extract VARCHAR, logged_at TIMESTAMP)")
    con.execute("INSERT INTO audit.ingest_log VALUES ('medical_claim', TIMESTAMP '2026-01-05 10:00:00')")
    assert cached_month_coverage(con)["month_status"].to_list()[-1] != "running_out"
