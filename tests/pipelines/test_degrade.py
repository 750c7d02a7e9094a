"""Real in-process runs: the default as-of on an extract whose claims outrun its eligibility, and
one score path stopping while the other still lists, reports and writes KPIs."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.cli import run_pipeline
from synth.generator import generate

MEMBERS = 3_000


@pytest.fixture(scope="module")
def tuva_like(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(landing, home) of a run on claims through 2025-01 with eligibility ending 2024-12-31."""
    root = tmp_path_factory.mktemp("degrade")
    landing = root / "landing"
    generate(out_dir=landing, members=MEMBERS, seed=23, start="2023-01", months=25)
    path = landing / "eligibility.csv"
    cut = dt.date(2024, 12, 31)
    spans = pl.read_csv(path, infer_schema_length=0)
    spans = (spans.filter(pl.col("enrollment_start_date").str.to_date() <= cut)
             .with_columns(pl.when(pl.col("enrollment_end_date").str.to_date() > cut).then(pl.lit(cut.isoformat()))
                           .otherwise(pl.col("enrollment_end_date")).alias("enrollment_end_date")))
    spans.write_csv(path)
    assert run_pipeline(root / "home", landing), "the run on claims past the last eligibility month failed"
    return landing, root / "home"


def _one(home: Path, sql: str):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchone()


@pytest.mark.slow
def test_default_as_of_stays_within_enrolment_and_both_paths_score(tuva_like) -> None:
    _, home = tuva_like
    as_of = _one(home, "SELECT max(as_of_date) FROM audit.month_coverage")[0]
    assert as_of <= dt.date(2025, 1, 1)
    assert _one(home, "SELECT count(*) FROM ml.high_need_score")[0] > 0
    assert _one(home, "SELECT count(*) FROM audit.score_path WHERE status = 'scored'")[0] == 2
    # the readmission list is short here: stays need 30 enrolled days after discharge to count
    assert (home / "outputs" / "intake_list.csv").exists()


@pytest.mark.slow
def test_high_need_stopping_leaves_the_readmission_list_kpis_and_report(tmp_path: Path, monkeypatch) -> None:
    landing, home = tmp_path / "landing", tmp_path / "home"
    generate(out_dir=landing, members=MEMBERS, seed=5)
    # the member snapshot comes back empty, as in the reported run
    import pipelines.defs.modeling.assets as modeling

    monkeypatch.setattr(modeling, "MEMBER_SNAPSHOT_SQL", f"SELECT * FROM {modeling.HIGH_NEED_TABLE} WHERE as_of_date = $as_of AND false")
    assert not run_pipeline(home, landing), "the high-need score step should have stopped"
    status, detail = _one(home, "SELECT status, detail FROM audit.score_path WHERE path = 'high_need'")
    assert status == "failed" and "--as-of" in detail
    assert _one(home, "SELECT status FROM audit.score_path WHERE path = 'readmission'")[0] == "scored"
    with open(home / "outputs" / "intake_list.csv", newline="") as handle:
        assert list(csv.DictReader(handle)), "the readmission intake list is empty"
    assert (home / "outputs" / "kpi_transition_monthly.csv").exists()
    assert (home / "outputs" / "kpi_readmission_monthly.csv").exists()
    report = (home / "outputs" / "program_report.html").read_text()
    assert "Missing this run: High need" in report
