from __future__ import annotations

import numpy as np
import polars as pl

from models.intake import expected_readmission_risk


class _Model:
    """Stands in for a TrainedModel: probability = 0.1 + 0.5 * open_cm_case_flag."""

    feature_names = ["age", "open_cm_case_flag"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 0.1 + 0.5 * x[:, 1]


def test_expected_risk_is_computed_as_if_not_in_case_management():
    frame = pl.DataFrame({"stay_id": ["a", "b"], "age": [70.0, 80.0], "open_cm_case_flag": [1.0, 0.0]})
    out = expected_readmission_risk(_Model(), frame)
    assert out["stay_id"].to_list() == ["a", "b"]
    assert out["expected_p"].to_list() == [0.1, 0.1]
    assert expected_readmission_risk(_Model(), frame, neutralise=())["expected_p"].to_list() == [0.6, 0.1]
