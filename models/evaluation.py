"""Use-oriented evaluation on a trained model's test rows: PPV, sensitivity and lift at the
program's capacity and at the top 5%, the calibration curve, and the fairness table.

Capacity ``k`` is the number of free case-manager slots (sum over active raw.cm_roster of
capacity minus open cases). For readmission the list is rebuilt every intake window, so the top
``k`` are taken within each calendar month of discharge; for high need the top ``k`` of the test
snapshot are taken once.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.fairness import FairnessConfig, fairness_table, subgroup_frame
from models.metrics import calibration_curve, selection_metrics, top_k_selection
from models.training import TrainedModel

TOP_SHARE = 0.05


def _windows(test: pl.DataFrame, window_column: str | None) -> np.ndarray | None:
    if window_column is None:
        return None
    return test[window_column].dt.strftime("%Y-%m").to_numpy()


def evaluate_use(
    model: TrainedModel, capacity: int, window_column: str | None = None,
    fairness_config: FairnessConfig = FairnessConfig(),
) -> dict:
    """Adds ``capacity``, ``top_5pct``, ``calibration_curve`` and ``fairness`` to ``model.metrics``
    (and capacity/top-5% figures for each baseline); returns the metrics."""
    test = model.test_predictions
    if test is None:
        raise ValueError("model has no test predictions (a model loaded from the store cannot be re-evaluated here)")
    y = test[model.label].to_numpy()
    windows = _windows(test, window_column)
    n_windows = 1 if windows is None else len(np.unique(windows))
    top_n = max(1, int(round(TOP_SHARE * len(y))))
    capacity = int(capacity)

    def use(rank_score: np.ndarray) -> tuple[dict, dict, np.ndarray]:
        at_k = top_k_selection(rank_score, capacity, windows)
        top = top_k_selection(rank_score, top_n)
        return (selection_metrics(y, at_k) | {"k": capacity, "windows": n_windows},
                selection_metrics(y, top) | {"share": TOP_SHARE}, at_k)

    metrics = model.metrics
    cap, top, selected = use(test["score_raw"].to_numpy())
    metrics["test"]["capacity"], metrics["test"]["top_5pct"] = cap, top
    metrics["test"]["calibration_curve"] = calibration_curve(y, test["score"].to_numpy())
    for name, base in metrics["baselines"].items():
        column = "logistic_score" if name == "logistic" else f"{name}_score"
        base["capacity"], base["top_5pct"], _ = use(test[column].to_numpy())
    groups = subgroup_frame(test)
    metrics["fairness"] = fairness_table(
        y, test["score"].to_numpy(), test["score_raw"].to_numpy(), selected, groups, fairness_config
    )
    return metrics
