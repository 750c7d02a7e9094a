"""The landing sensor starts work only for new or changed files; jobs and schedules resolve."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines.automation import landing_sensor, plan_landing_runs
from pipelines.resources import RiskstratSettings

HEADER = "claim_id,claim_line_number,claim_type,person_id,claim_start_date,claim_end_date,diagnosis_code_type,diagnosis_code_1,paid_amount,allowed_amount"


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    (landing / "medical_claim").mkdir(parents=True)
    for month in ("2024-01", "2024-02"):
        (landing / "medical_claim" / f"{month}.csv").write_text(
            f"{HEADER}\nC{month},1,professional,P1,{month}-03,{month}-03,icd-10-cm,E119,5,5\n"
        )
    (landing / "eligibility.csv").write_text("person_id\nP1\n")
    return landing


def test_same_files_twice_plan_nothing_and_a_changed_month_plans_only_itself(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    first, cursor = plan_landing_runs(landing, {})
    assert [(m, e) for m, e, _ in first] == [(None, ["eligibility"]), ("2024-01", ["medical_claim"]), ("2024-02", ["medical_claim"])]
    again, cursor_again = plan_landing_runs(landing, cursor)
    assert again == [] and cursor_again == cursor

    # the same bytes copied in again (new mtime) start nothing; new content starts its month only
    shutil.copy(landing / "medical_claim" / "2024-01.csv", tmp_path / "copy.csv")
    shutil.copy(tmp_path / "copy.csv", landing / "medical_claim" / "2024-01.csv")
    assert plan_landing_runs(landing, cursor)[0] == []
    (landing / "medical_claim" / "2024-02.csv").write_text(f"{HEADER}\nCX,1,professional,P1,2024-02-04,2024-02-04,icd-10-cm,E119,7,7\n")
    changed, _ = plan_landing_runs(landing, cursor)
    assert [(m, e) for m, e, _ in changed] == [("2024-02", ["medical_claim"])]


def test_sensor_adds_months_as_partitions_and_is_quiet_on_a_second_tick(tmp_path: Path) -> None:
    landing = _landing(tmp_path)
    settings = RiskstratSettings(home=str(tmp_path / "home"), landing=str(landing))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"settings": settings})
        result = landing_sensor(context)
        assert len(result.run_requests) == 3
        assert {r.partition_key for r in result.run_requests} == {None, "2024-01", "2024-02"}
        assert result.dynamic_partitions_requests[0].partition_keys == ["2024-01", "2024-02"]
        second = landing_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor, resources={"settings": settings}))
        assert second.run_requests == [] and json.loads(second.cursor) == json.loads(result.cursor)


@pytest.mark.parametrize("job", ["riskstrat_all", "ingest_monthly_files", "ingest_whole_files", "daily_scoring", "monthly_retraining"])
def test_jobs_resolve(job: str) -> None:
    from pipelines.definitions import defs

    assert defs.resolve_job_def(job).name == job


def test_schedules_target_scoring_and_retraining() -> None:
    from pipelines.definitions import defs

    schedules = {s.name: s for s in defs.schedules}
    assert schedules["daily_scoring_schedule"].cron_schedule == "0 6 * * *"
    assert schedules["monthly_retraining_schedule"].cron_schedule == "0 3 1 * *"
