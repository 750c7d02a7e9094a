"""Check results kept in the warehouse, so each run's checks can be queried afterwards."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg

from pipelines.resources import RiskstratSettings

CHECK_RESULT_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.check_result (
    run_id VARCHAR,
    asset_key VARCHAR,
    check_name VARCHAR,
    passed BOOLEAN,
    metadata_json VARCHAR,
    checked_at TIMESTAMP
);
"""


def _plain(value: object) -> object:
    inner = getattr(value, "value", value)
    return inner if isinstance(inner, (int, float, str, bool, list, dict, type(None))) else str(inner)


def recorded(
    context: dg.AssetCheckExecutionContext, settings: RiskstratSettings, result: dg.AssetCheckResult
) -> dg.AssetCheckResult:
    """Write ``result`` to ``audit.check_result`` (counts and rule names only) and return it."""
    spec = context.check_specs[0]
    metadata = {k: _plain(v) for k, v in (result.metadata or {}).items()}
    with settings.connect() as con:
        con.execute(CHECK_RESULT_DDL)
        con.execute(
            "INSERT INTO audit.check_result VALUES ($run, $asset, $check, $passed, $meta, $at)",
            {
                "run": context.run.run_id,
                "asset": spec.asset_key.to_user_string(),
                "check": spec.name,
                "passed": bool(result.passed),
                "meta": json.dumps(metadata, default=str),
                "at": datetime.now(timezone.utc).replace(tzinfo=None),
            },
        )
    return result
