"""A pipeline run computes the warehouse's month coverage once, not once per asset that resolves the
as-of date (features.coverage.cached_month_coverage)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import features.coverage
from pipelines.cli import run_pipeline


def test_a_run_computes_the_month_coverage_once_and_a_rerun_on_the_same_data_not_at_all(
    small_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed = []
    compute = features.coverage.warehouse_month_coverage

    def counting(con):
        computed.append(1)
        return compute(con)

    monkeypatch.setattr(features.coverage, "warehouse_month_coverage", counting)
    home = tmp_path / "home"
    assert run_pipeline(home, small_landing)
    # about a dozen assets and checks resolve the as-of; the raw tables change only during ingestion
    assert len(computed) == 1
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        recorded = con.execute("SELECT count(*), count(DISTINCT as_of_date) FROM audit.month_coverage").fetchone()
    assert recorded[0] > 0 and recorded[1] == 1
    computed.clear()
    # the same files again: ingestion skips unchanged files, the raw tables keep their fingerprint
    assert run_pipeline(home, small_landing)
    assert computed == []
