"""The intake asset runs the evaluation lottery from the run's setting (``riskstrat run
--evaluation-lottery``) or its own config, and appends each round to marts.intake_assignment."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from features.rawschema import create_raw_tables, insert_rows
from models.paths import record_path
from pipelines.cli import build_parser
from pipelines.defs.outputs.assets import intake_list_asset
from pipelines.resources import RiskstratSettings

D = dt.date
MARCH, APRIL = D(2024, 3, 15), D(2024, 4, 15)
MEMBERS = 60


def _warehouse(home: Path) -> None:
    """Raw tables, stays and scores for 60 members discharged before each as-of; 20 open slots."""
    home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        create_raw_tables(con, ["eligibility", "cm_roster", "cm_case", "encounter"])
        insert_rows(con, "eligibility", [
            {"person_id": f"p{i:02d}", "birth_date": D(1950, 1, 1), "gender": "female", "payer_type": "medicare",
             "enrollment_start_date": D(2020, 1, 1), "enrollment_end_date": D(2030, 12, 31),
             "outreach_opt_out_flag": 0} for i in range(MEMBERS)])
        insert_rows(con, "cm_roster", [
            {"case_manager_id": "cmA", "team": "t", "program": "care_transitions", "setting": "acute",
             "capacity": 20, "active_flag": 1}])
        con.execute("CREATE SCHEMA core")
        con.execute("CREATE TABLE core.inpatient_stay (stay_id VARCHAR, person_id VARCHAR, admission_date DATE, "
                    "discharge_date DATE, admit_type_code VARCHAR, discharge_disposition_code VARCHAR, "
                    "principal_icd10cm_code VARCHAR, planned_flag INTEGER)")
        scores = pl.DataFrame({
            "person_id": [f"p{i:02d}" for i in range(MEMBERS)] * 2,
            "stay_id": [f"s{i:02d}{m}" for m in "ma" for i in range(MEMBERS)],
            "discharge_date": [D(2024, 3, 10)] * MEMBERS + [D(2024, 4, 10)] * MEMBERS,
            "score": [0.9 - i * 0.01 for i in range(MEMBERS)] * 2,
            "score_raw": [0.9 - i * 0.01 for i in range(MEMBERS)] * 2,
            "reason_1": ["raises risk"] * 2 * MEMBERS, "reason_2": [None] * 2 * MEMBERS,
            "reason_3": [None] * 2 * MEMBERS,
        }, schema_overrides={"reason_2": pl.String, "reason_3": pl.String})
        con.execute("CREATE SCHEMA ml")
        con.execute("CREATE TABLE ml.readmission_score AS SELECT * FROM scores")


def _materialise(home: Path, as_of: dt.date, setting: float = 0.0, config: dict | None = None) -> dg.ExecuteInProcessResult:
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        record_path(con, "readmission", as_of, "scored", rows=2 * MEMBERS, scored_by="test")
    settings = RiskstratSettings(home=str(home), as_of=as_of.isoformat(), evaluation_lottery=setting)
    run_config = {"ops": {"marts__intake_list": {"config": config}}} if config else None
    return dg.materialize([intake_list_asset()], resources={"settings": settings}, run_config=run_config)


def test_lottery_from_the_run_setting_and_from_config_appends_one_round_per_as_of(tmp_path):
    home = tmp_path / "home"
    _warehouse(home)
    result = _materialise(home, MARCH, setting=0.5)
    assert result.success
    meta = result.asset_materializations_for_node("marts__intake_list")[0].metadata
    assert meta["lottery_offered"].value == 5 and meta["lottery_seed"].value == 20240315
    with open(home / "outputs" / "intake_list.csv", newline="") as handle:
        listed = {row["person_id"] for row in csv.DictReader(handle)}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        band = con.execute("SELECT person_id, offered_flag FROM marts.intake_assignment").pl()
    assert band.height == 10 and len(listed) == 20
    assert set(band.filter(pl.col("offered_flag") == 1)["person_id"]) <= listed
    assert not set(band.filter(pl.col("offered_flag") == 0)["person_id"]) & listed  # not-offered half unlisted

    # the asset's config overrides the setting; a second as-of is a second round
    assert _materialise(home, APRIL, config={"evaluation_lottery": 0.3, "lottery_seed": 9}).success
    assert _materialise(home, APRIL, config={"evaluation_lottery": 0.3, "lottery_seed": 9}).success  # re-run
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rounds = con.execute("SELECT assignment_date, min(lottery_seed), count(*), sum(offered_flag) "
                             "FROM marts.intake_assignment GROUP BY 1 ORDER BY 1").fetchall()
    assert rounds == [(MARCH, 20240315, 10, 5), (APRIL, 9, 6, 3)]


def test_run_command_takes_the_lottery_fraction():
    args = build_parser().parse_args(["run", "--landing", "x", "--evaluation-lottery", "0.2"])
    assert args.evaluation_lottery == 0.2
    assert build_parser().parse_args(["run", "--landing", "x"]).evaluation_lottery == 0.0
