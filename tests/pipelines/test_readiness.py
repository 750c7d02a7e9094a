"""``riskstrat check``: the verdict on generated, bundled and broken landing folders, and its exit status."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main
from pipelines.readiness import CANNOT, GAPS, READY, check_source
from landing_copies import SMALL_LANDING_MONTHS, copy_landing

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared extracts not found at {SHARED} (../shared is absent)")


@pytest.fixture(scope="module")
def landing(small_landing: Path) -> Path:
    return small_landing


def _copy(landing: Path, tmp_path: Path) -> Path:
    return copy_landing(landing, tmp_path)


def test_generated_landing_is_ready_and_names_its_as_of(landing: Path) -> None:
    result = check_source(landing)
    assert result.verdict in (READY, GAPS), result.summary()
    assert result.exit_status == 0
    claims = result.extracts["medical_claim"]
    assert claims.files == SMALL_LANDING_MONTHS and claims.rows > 0 and not claims.missing_required
    # 300 members are too few to judge a month complete: the as-of is the day after the latest
    # service date, inside the claims' span, never after the data
    assert result.as_of is not None and "latest service date" in result.as_of_rule
    assert claims.first_date < result.as_of <= claims.last_date + pytest.importorskip("datetime").timedelta(days=1)
    assert result.enrolled_at_as_of > 0
    assert "icd-10-cm" in result.code_systems and result.code_systems["icd-10-cm"][1] > 0
    assert {m.task for m in result.models} == {"readmission", "high_need"}
    assert "verdict: " + result.verdict in result.summary()


def test_removed_required_column_cannot_run_and_names_it(landing: Path, tmp_path: Path) -> None:
    broken = _copy(landing, tmp_path)
    elig = pl.read_csv(broken / "eligibility.csv", infer_schema=False)
    elig.drop("birth_date").write_csv(broken / "eligibility.csv")
    result = check_source(broken)
    assert result.verdict == CANNOT and result.exit_status == 2
    assert result.blockers[0].startswith("eligibility.csv: required column(s) birth_date missing"), result.blockers


def test_empty_eligibility_cannot_run(landing: Path, tmp_path: Path) -> None:
    broken = _copy(landing, tmp_path)
    header = (broken / "eligibility.csv").read_text().splitlines()[0]
    (broken / "eligibility.csv").write_text(header + "\n")
    result = check_source(broken)
    assert result.verdict == CANNOT
    assert any(b.startswith("eligibility has no rows") for b in result.blockers), result.blockers


def test_absent_optional_columns_and_extracts_are_gaps_not_blockers(landing: Path, tmp_path: Path) -> None:
    partial = _copy(landing, tmp_path)
    shutil.rmtree(partial / "lab_result")
    elig = pl.read_csv(partial / "eligibility.csv", infer_schema=False)
    elig.drop("ethnicity").with_columns(pl.lit("x").alias("warehouse_load_id")).write_csv(partial / "eligibility.csv")
    result = check_source(partial)
    assert result.verdict == GAPS, result.summary()
    facts = result.extracts["eligibility"]
    assert "ethnicity" in facts.absent_filled_with_nulls and "ethnicity" not in facts.columns_used
    assert facts.ignored == ["warehouse_load_id"]
    assert any(g.startswith("lab_result absent") for g in result.gaps)
    assert {"last_hemoglobin", "last_sodium"} <= set(result.empty_features)


def test_folder_of_another_format_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text("order_id,amount\n1,2.5\n")
    result = check_source(tmp_path)
    assert result.verdict == CANNOT and "cannot tell the source format" in result.blockers[0]


def test_cli_check_exit_status_follows_the_verdict(landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check", "--landing", str(landing)]) == 0
    assert "verdict: " in capsys.readouterr().out
    broken = _copy(landing, tmp_path)
    (broken / "eligibility.csv").write_text("")
    assert main(["check", "--landing", str(broken)]) == 2
    captured = capsys.readouterr()
    assert "verdict: cannot run" in captured.out and "Traceback" not in captured.err


@needs_shared
@pytest.mark.parametrize("folder", ["synthea/ma105", "synthea/ma27_complete", "mimic-iv-demo", "tuva-input-layer", "cms-synpuf"])
def test_each_bundled_sample_runs_with_gaps(folder: str) -> None:
    result = check_source(SHARED / folder, sdoh=SHARED / "sdoh")
    # small samples: they run, but with gaps (too few stays to train, absent extracts, ...)
    assert result.verdict == GAPS, result.summary()
    assert result.as_of is not None and result.enrolled_at_as_of > 0
    assert result.adapter_summary.startswith("format ")


def test_unreadable_month_file_is_a_gap_naming_it(landing: Path, tmp_path: Path) -> None:
    broken_copy = _copy(landing, tmp_path)
    month = sorted((broken_copy / "medical_claim").glob("*.csv"))[4]
    month.write_bytes(b"\x00\xff" * 10 + month.read_bytes()[:50])
    result = check_source(broken_copy)
    assert result.verdict == GAPS and result.extracts["medical_claim"].unreadable == [month.name]
    assert any(g.startswith(f"{month.name}: cannot be read") and "others load" in g for g in result.gaps)


@needs_shared
def test_a_folder_checked_as_another_format_cannot_run_and_names_the_table() -> None:
    result = check_source(SHARED / "tuva-input-layer", fmt="synthea")
    assert result.verdict == CANNOT and "synthea" in result.blockers[0] and "patients" in result.blockers[0]


@needs_shared
def test_mimic_without_enrolment_says_the_enrolment_was_assumed() -> None:
    result = check_source(SHARED / "mimic-iv-demo")
    assert result.gaps[0].startswith("no usable enrolment in the source")
