"""marts.program_effect materialised by Dagster: on the shared small generated landing (tiny: every
cell is suppressed, nothing crashes) and on the same warehouse with its case-management cases
removed (every cell is not estimable, with the reason)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from models.program_effect import BALANCE_SCHEMA, EFFECT_SCHEMA, OUTCOMES, OVERLAP_SCHEMA, STATUSES
from pipelines.cli import run_pipeline
from pipelines.defs.outputs.program_effect import PROGRAM_EFFECT_CSV, marts_program_effect
from pipelines.resources import RiskstratSettings


@pytest.fixture(scope="module")
def small_home(small_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("program_effect") / "home"
    assert run_pipeline(home, small_landing), "the pipeline run on the small landing failed"
    return home


def _frame(home: Path, table: str):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table}").pl()


def test_the_run_writes_the_three_tables_and_the_csv_with_their_columns(small_home: Path) -> None:
    effects = _frame(small_home, "marts.program_effect")
    assert effects.columns == list(EFFECT_SCHEMA)
    assert _frame(small_home, "marts.program_effect_balance").columns == list(BALANCE_SCHEMA)
    assert _frame(small_home, "marts.program_effect_overlap").columns == list(OVERLAP_SCHEMA)
    with open(small_home / "outputs" / PROGRAM_EFFECT_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == effects.height and list(rows[0]) == list(EFFECT_SCHEMA)
    overall = effects.filter(effects["program"] == "all")
    for outcome in OUTCOMES:
        assert set(overall.filter(overall["outcome"] == outcome)["method"]) >= {"aipw", "naive"}, outcome
    assert set(effects["status"]) <= set(STATUSES)
    labels = dict(zip(effects["method"], effects["label"], strict=True))
    assert labels["aipw"] == "adjusted effect" and labels["naive"] == "descriptive, not an effect"
    # 300 members: too few enrolled stays anywhere, so no figure is printed and every row says why
    printed = effects.filter(effects["estimate"].is_not_null())
    assert printed.filter(printed["status"] != "reported").height == 0
    assert effects.filter((effects["status"] != "reported") & effects["note"].is_null()).height == 0


def test_without_case_management_cases_the_asset_says_not_estimable(small_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_home, home)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("DELETE FROM raw.cm_case")
    settings = RiskstratSettings(home=str(home), landing=str(tmp_path / "no-landing"))
    result = dg.materialize([marts_program_effect], resources={"settings": settings})
    assert result.success
    effects = _frame(home, "marts.program_effect")
    assert set(effects["status"]) == {"not_estimable"}
    assert all("no enrolled group" in note for note in effects["note"])
    metadata = result.asset_materializations_for_node("marts__program_effect")[0].metadata
    assert metadata["readmit_30d_status"].value == "not_estimable" and metadata["enrolled_stays"].value == 0
