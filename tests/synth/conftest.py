from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synth.generator import generate  # noqa: E402


@pytest.fixture(scope="session")
def clean_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean_small")
    return generate(out, members=3000, seed=11)


@pytest.fixture(scope="session")
def calibration_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibration")
    return generate(out, members=20000, seed=2024)


@pytest.fixture(scope="session")
def dirty_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty_small")
    return generate(out, members=3000, seed=12, dirty_rate=0.02)


@pytest.fixture(scope="session")
def dirty_chunked(tmp_path_factory):
    """Three member chunks of 2,000 appended to the same files, with defects."""
    out = tmp_path_factory.mktemp("dirty_chunked")
    return generate(out, members=6000, seed=12, dirty_rate=0.02, chunk_members=2000)
