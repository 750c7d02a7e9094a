"""Session fixtures: a synthetic frame and one trained model."""

from __future__ import annotations

import polars as pl
import pytest
from synthetic import AS_OF, make_frame

from models.readmission import train_readmission_model


@pytest.fixture(scope="session")
def synthetic_frame() -> pl.DataFrame:
    return make_frame()


@pytest.fixture(scope="session")
def trained(synthetic_frame):
    return train_readmission_model(synthetic_frame, AS_OF, seed=7)
