"""Jobs, schedules and the landing-folder sensor.

- ``landing_sensor`` starts ingestion for new or changed landing files. It remembers each
  file's SHA-256 in its cursor (re-hashing only when size or mtime moved), so the same
  file dropped twice starts nothing; a new month becomes a new dynamic partition.
- ``daily_scoring`` rescoring, the intake list and KPIs every morning.
- ``monthly_retraining`` retrains the models on the first of the month; the model assets
  promote a new model only when its test metrics are no worse than the current one's.
- ``EXTRACT_FRESHNESS``: a ``FreshnessPolicy`` on every ``raw.<extract>`` asset; the UI marks
  an extract not refreshed in 45 days as failing its policy (evaluated by the daemon's freshness
  loop, on by default in this Dagster; no check or sensor to define).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg

from data_contracts.landing import find_extract_file, month_files
from data_contracts.spec import EXTRACTS, load_contract
from pipelines.partitions import landing_month_partitions
from pipelines.resources import RiskstratSettings

INGEST_GROUP = "ingest"


@dataclass(frozen=True)
class LandingFile:
    extract: str
    month: str | None
    path: Path


def landing_files(landing: Path) -> list[LandingFile]:
    """Every file the pipeline would read from a landing folder."""
    found: list[LandingFile] = []
    for extract in EXTRACTS:
        if load_contract(extract).partition_by is None:
            path = find_extract_file(landing, extract)
            if path is not None:
                found.append(LandingFile(extract, None, path))
        else:
            found.extend(LandingFile(extract, month, path) for month, path in month_files(landing, extract).items())
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def plan_landing_runs(landing: Path, cursor: dict) -> tuple[list[tuple[str | None, list[str], str]], dict]:
    """Runs to start for files that are new or whose content changed since ``cursor``.

    Returns ``[(month or None, extracts, run_key)]`` and the new cursor
    (``{relative path: [size, mtime_ns, sha256]}``). Pure apart from reading the folder.
    """
    new_cursor: dict[str, list] = {}
    changed: dict[str | None, dict[str, str]] = {}
    for item in landing_files(landing):
        rel = item.path.relative_to(landing).as_posix()
        stat = item.path.stat()
        seen = cursor.get(rel)
        sha = seen[2] if seen and seen[0] == stat.st_size and seen[1] == stat.st_mtime_ns else _sha256(item.path)
        new_cursor[rel] = [stat.st_size, stat.st_mtime_ns, sha]
        if not seen or seen[2] != sha:
            changed.setdefault(item.month, {})[item.extract] = sha
    runs = []
    for month, extracts in sorted(changed.items(), key=lambda kv: kv[0] or ""):
        run_key = (month or "whole") + ":" + hashlib.sha256(json.dumps(extracts, sort_keys=True).encode()).hexdigest()[:16]
        runs.append((month, sorted(extracts), run_key))
    return runs, new_cursor


def _ingest_keys(extracts: list[str]) -> list[dg.AssetKey]:
    return [dg.AssetKey([schema, e]) for e in extracts for schema in ("raw", "quarantine")]


ingest_monthly_job = dg.define_asset_job(
    "ingest_monthly_files",
    selection=dg.AssetSelection.groups(INGEST_GROUP) & dg.AssetSelection.assets(
        *_ingest_keys([e for e in EXTRACTS if load_contract(e).partition_by])
    ),
    description="Load landing files of the claims and EHR extracts for one or more months.",
)
ingest_whole_job = dg.define_asset_job(
    "ingest_whole_files",
    selection=dg.AssetSelection.assets(*_ingest_keys([e for e in EXTRACTS if not load_contract(e).partition_by])),
    description="Load the whole-file extracts (eligibility, SDOH, case management).",
)
scoring_job = dg.define_asset_job(
    "daily_scoring",
    selection=dg.AssetSelection.groups("modeling").downstream() - dg.AssetSelection.key_substring("_model"),
    description="Rescore members and refresh the intake list and KPI tables with the current models.",
)
retraining_job = dg.define_asset_job(
    "monthly_retraining",
    selection=dg.AssetSelection.groups("core", "features").downstream(),
    description="Rebuild features, retrain (promoting only models no worse than the current ones), rescore.",
)

daily_scoring_schedule = dg.ScheduleDefinition(
    name="daily_scoring_schedule", job=scoring_job, cron_schedule="0 6 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
monthly_retraining_schedule = dg.ScheduleDefinition(
    name="monthly_retraining_schedule", job=retraining_job, cron_schedule="0 3 1 * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


# Extracts arrive monthly; one that has not been refreshed in 45 days is late. This policy
# supersedes the freshness checks and their sensor (build_last_update_freshness_checks /
# build_sensor_for_freshness_checks), which warned on every load of the definitions.
EXTRACT_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=45))
RAW_EXTRACT_KEYS = frozenset(dg.AssetKey(["raw", e]) for e in EXTRACTS)


def with_extract_freshness(assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """``assets`` with ``EXTRACT_FRESHNESS`` attached to each ``raw.<extract>`` spec."""

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        return dg.apply_freshness_policy(spec, EXTRACT_FRESHNESS) if spec.key in RAW_EXTRACT_KEYS else spec

    return list(dg.map_asset_specs(attach, assets))


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=60,
    jobs=[ingest_monthly_job, ingest_whole_job],
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts ingestion for new or changed landing files (by content hash; the same file twice does nothing).",
)
def landing_sensor(context: dg.SensorEvaluationContext, settings: RiskstratSettings) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    runs, new_cursor = plan_landing_runs(settings.landing_path, cursor)
    months = sorted({m for m, _, _ in runs if m is not None})
    known = set(context.instance.get_dynamic_partitions(landing_month_partitions.name)) if months else set()
    requests = [
        dg.RunRequest(
            run_key=run_key,
            job_name=(ingest_monthly_job.name if month else ingest_whole_job.name),
            partition_key=month,
            asset_selection=_ingest_keys(extracts),
            tags={"riskstrat/trigger": "landing_sensor"},
        )
        for month, extracts, run_key in runs
    ]
    new_months = [m for m in months if m not in known]
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(new_cursor, sort_keys=True),
        dynamic_partitions_requests=[landing_month_partitions.build_add_request(new_months)] if new_months else [],
    )
