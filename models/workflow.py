"""One call per task for the Dagster assets: evaluate a trained model for use, add the oracle
ceiling when the demo answer key is present, explain globally, save, and write the model card."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from features.dictionary import FeatureSpec

from models.evaluation import evaluate_use
from models.explain import global_importance, shap_contributions
from models.fairness import FairnessConfig
from models.report import write_model_card
from models.store import model_card, save_model
from models.training import TrainedModel

METRIC_FIELDS = ("auroc", "auroc_ci", "auprc", "auprc_ci", "brier", "calibration_slope", "calibration_intercept",
                 "observed_expected_ratio", "n", "events", "capacity", "top_5pct", "vs_lightgbm",
                 "oe", "oe_ci", "calibration_slope_ci", "calibration_intercept_ci", "calibration_regime", "ci_method")


def finish_model(
    model: TrainedModel, test_frame: pl.DataFrame, models_dir: Path, capacity: int, window_column: str | None,
    oracle: dict | None, fairness_config: FairnessConfig = FairnessConfig(),
    dictionary: Mapping[str, FeatureSpec] | None = None,
) -> Path:
    """Evaluate at capacity and by subgroup, record the oracle ceiling and TreeSHAP cost, save the
    model (text + JSON card) and its markdown card with plots; returns the model folder."""
    evaluate_use(model, capacity, window_column, fairness_config)
    if oracle is not None:
        model.metrics["oracle"] = oracle
    importance = global_importance(model.booster, test_frame, model.feature_names, dictionary=dictionary)
    sample = test_frame.head(min(1000, test_frame.height)).select(model.feature_names).cast(pl.Float64).to_numpy()
    started = time.perf_counter()
    shap_contributions(model.booster, sample)
    model.metrics["explain_cost"] = {
        "rows": len(sample), "seconds": round(time.perf_counter() - started, 4),
        "trees": model.params.get("num_boost_round"), "leaves": model.params.get("num_leaves"),
    }
    model.metrics["global_importance"] = importance
    folder = save_model(model, models_dir)
    write_model_card(model_card(model) | {"split": model.split}, folder, importance)
    return folder


def metrics_entry(model: TrainedModel, model_dir: Path, data: str) -> dict:
    """The task's object in HOME/outputs/metrics.json."""
    m = model.metrics

    def pick(r: dict) -> dict:
        return {k: r[k] for k in METRIC_FIELDS if k in r} | ({"label": r["label"]} if "label" in r else {})

    entry = {
        "data": data,
        "label": model.label,
        "split": model.split,
        "test": pick(m["test"]),
        "baselines": {name: pick(r) for name, r in m["baselines"].items()},
        "vs_logistic": m.get("vs_logistic"),
        "regime": m.get("regime"),
        "sampling": m.get("sampling"),
        "calibration": m.get("calibration"),
        "recalibration": m.get("recalibration"),
        "fairness": m.get("fairness"),
        "model_dir": str(model_dir),
        "model_card": str(Path(model_dir) / "model_card.md"),
    }
    if m.get("oracle") and "oracle_auroc" in m["oracle"]:
        entry["oracle_auroc"] = m["oracle"]["oracle_auroc"]
        entry["oracle_at_discharge_auroc"] = m["oracle"].get("oracle_at_discharge_auroc")
        entry["oracle"] = m["oracle"]
    if m.get("other_labels"):
        entry["other_labels"] = m["other_labels"]
    return entry


def merge_metrics(path: Path, task: str, entry: dict) -> None:
    """Replace one task's object in metrics.json, keeping the others."""
    path = Path(path)
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics[task] = entry
    path.write_text(json.dumps(metrics, indent=2, default=str))
