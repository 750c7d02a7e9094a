"""Fixtures shared across test packages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Large enough for the temporal split's calibration slice (>= 50 labelled stays).
GENERATED_MEMBERS = 8_000


@pytest.fixture(scope="session")
def generated_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(landing, home) of one full pipeline run on generated data with injected defects.

    Shared by every test that needs a whole run, so the suite pays for it once.
    RISKSTRAT_TEST_HOME reuses an existing run's home (its landing must sit in HOME/landing).
    """
    if os.environ.get("RISKSTRAT_TEST_HOME"):
        home = Path(os.environ["RISKSTRAT_TEST_HOME"])
        return home / "landing", home
    from pipelines.cli import run_pipeline
    from synth.generator import generate

    root = tmp_path_factory.mktemp("generated_run")
    generate(out_dir=root / "landing", members=GENERATED_MEMBERS, seed=5, dirty_rate=0.01)
    assert run_pipeline(root / "home", root / "landing"), "the pipeline run on generated data failed"
    return root / "landing", root / "home"
