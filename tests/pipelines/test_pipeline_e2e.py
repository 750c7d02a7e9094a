"""A full materialisation on a small generated population, with injected defects."""

from __future__ import annotations

import csv
import shutil
import json
from pathlib import Path

import duckdb
import pytest

from data_contracts.spec import EXTRACTS
from pipelines.cli import run_pipeline

# How each defect class the generator injects must show up in quarantine (_rule prefix).
EXPECTED_RULE_PREFIXES = {
    "malformed_row": ("malformed_row",),
    "wrong_type": ("type:",),
    "duplicate_key": ("duplicate_key",),
    "impossible_date": ("date_order:", "range_min:", "range_max:", "type:"),
    "future_date": ("future_date:",),
    "unknown_code": ("allowed_values:", "pattern:"),
    "negative_amount": ("range_min:",),
}


@pytest.fixture(scope="module")
def pipeline_run(generated_run) -> tuple[Path, Path]:
    """The shared run (tests/conftest.py), which itself asserts that the run succeeded."""
    return generated_run


def _rows(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_run_succeeds_and_writes_raw_tables_and_outputs(pipeline_run) -> None:
    landing, home = pipeline_run
    tables = {r[0] for r in _rows(home, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'")}
    assert tables == set(EXTRACTS)
    assert (home / "outputs" / "intake_list.csv").exists()
    assert (home / "outputs" / "kpi_readmission_monthly.csv").exists()


def test_every_row_read_is_loaded_or_quarantined(pipeline_run) -> None:
    _, home = pipeline_run
    for extract in EXTRACTS:
        read, loaded, quarantined = _rows(
            home,
            f"""SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined) FROM (
                SELECT *, row_number() OVER (PARTITION BY partition ORDER BY logged_at DESC) AS latest
                FROM audit.ingest_log WHERE extract = '{extract}' AND status = 'loaded') WHERE latest = 1""",
        )[0]
        in_raw = _rows(home, f"SELECT count(*) FROM raw.{extract}")[0][0]
        if read is None:  # an extract the landing does not send (cm_intake_assignment) is an empty table
            assert in_raw == 0, extract
            continue
        in_quarantine = _rows(home, f"SELECT count(*) FROM quarantine.{extract}")[0][0]
        assert read == loaded + quarantined == in_raw + in_quarantine, extract


def test_every_injected_defect_is_quarantined_with_a_matching_rule(pipeline_run) -> None:
    landing, home = pipeline_run
    manifest = json.loads((landing / "_manifest.json").read_text())
    defects = manifest["defects"] if isinstance(manifest, dict) else manifest
    assert defects, "the generator injected nothing at dirty_rate 0.01"
    missed = []
    for defect in defects:
        if defect["defect"] == "missing_column":
            logged = _rows(
                home,
                f"SELECT count(*) FROM audit.ingest_log WHERE extract = '{defect['extract']}' "
                f"AND list_contains(string_split(missing_optional_columns, ','), '{defect['column']}')",
            )[0][0]
            if not logged:
                missed.append(defect)
            continue
        rules = _rows(
            home,
            f"SELECT _rule FROM quarantine.{defect['extract']} "
            f"WHERE _source_line = {int(defect['line'])} AND _source_file = '{Path(defect['file']).name}'",
        )
        if not rules or not rules[0][0].startswith(EXPECTED_RULE_PREFIXES[defect["defect"]]):
            missed.append({**defect, "found": rules})
    assert not missed, f"{len(missed)} of {len(defects)} injected defects not quarantined as expected: {missed[:5]}"
    quarantined = sum(_rows(home, f"SELECT count(*) FROM quarantine.{e}")[0][0] for e in EXTRACTS)
    assert quarantined == sum(1 for d in defects if d["defect"] != "missing_column")


def test_intake_list_rows_are_within_capacity_and_carry_reasons(pipeline_run) -> None:
    _, home = pipeline_run
    with open(home / "outputs" / "intake_list.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the intake list is empty"
    capacity = _rows(
        home,
        """SELECT sum(greatest(r.capacity - coalesce(a.active, 0), 0)) FROM raw.cm_roster r
           LEFT JOIN (SELECT case_manager_id, count(*) AS active FROM raw.cm_case
                      WHERE open_date IS NOT NULL AND close_date IS NULL GROUP BY 1) a USING (case_manager_id)
           WHERE r.active_flag = 1""",
    )[0][0]
    assert len(rows) <= capacity
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        assert row["reason_1"] and row["reason_2"] and row["reason_3"]
        assert row["suggested_case_manager_id"]
        # why the member is expected to benefit, beside why they are at risk
        assert row["benefit_reason_1"] and row["rank_basis"] == "ranked by risk"
    listed = {r["person_id"] for r in rows}
    estimated = _rows(home, "SELECT status FROM ml.benefit_model WHERE outcome = 'readmit_30d'")[0][0]
    if estimated == "estimated":
        with_figure = {r["person_id"] for r in rows if r["benefit"]}
        assert with_figure == listed, "every listed discharge carries its estimated benefit"


def test_metrics_name_their_test_rows_and_baselines(pipeline_run) -> None:
    _, home = pipeline_run
    metrics = json.loads((home / "outputs" / "metrics.json").read_text())["readmission"]
    assert 0.5 < metrics["test"]["auroc"] <= 1.0
    assert metrics["test"]["n"] > 0 and metrics["test"]["events"] > 0
    assert set(metrics["baselines"]) >= {"lace", "logistic"}
    assert metrics["split"]["test_start"] > metrics["split"]["calibration_start"]


def test_rerun_leaves_raw_tables_identical(pipeline_run, tmp_path: Path) -> None:
    landing, shared_home = pipeline_run
    home = tmp_path / "home"
    shutil.copytree(shared_home, home)
    before = {e: _rows(home, f"SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM raw.{e} t")[0][0] for e in EXTRACTS}
    assert run_pipeline(home, landing)
    after = {e: _rows(home, f"SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) FROM raw.{e} t")[0][0] for e in EXTRACTS}
    assert before == after
