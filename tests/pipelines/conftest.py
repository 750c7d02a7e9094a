"""Fixtures of the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from landing_copies import make_small_landing


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small generated landing folder (300 members, 24 months) shared by the CLI and check tests."""
    return make_small_landing(tmp_path_factory.mktemp("small") / "landing")
