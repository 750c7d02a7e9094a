from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from models.score import score_frame
from models.store import load_model, save_model
from models.workflow import finish_model, merge_metrics, metrics_entry


def test_roundtrip_gives_identical_scores_and_a_card(trained, synthetic_frame, tmp_path):
    path = save_model(trained, tmp_path)
    assert path.name.startswith("readmission_")
    files = sorted(p.name for p in path.iterdir())
    assert files == ["booster.txt", "card.json"]
    card = json.loads((path / "card.json").read_text())
    assert [f["name"] for f in card["features"]] == trained.feature_names
    assert len(card["schema_hash"]) == 64 and card["split"] == trained.split
    assert {"lightgbm", "scikit-learn"} <= set(card["library_versions"])
    assert card["task_key"] == "readmission" and card["label"] == "readmit_30d" and card["code_commit"]
    assert card["metrics"]["test"]["auroc"] == trained.metrics["test"]["auroc"]
    loaded = load_model(path)
    frame = synthetic_frame.head(300)
    a, b = score_frame(trained, frame), score_frame(loaded, frame)
    np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy())
    assert a["reason_1"].to_list() == b["reason_1"].to_list()
    assert a.columns[:5] == ["person_id", "stay_id", "discharge_date", "score", "score_raw"]
    assert a["score"].is_between(0, 1).all()


def test_score_refuses_mismatched_schema(trained, synthetic_frame):
    frame = synthetic_frame.head(10)
    with pytest.raises(ValueError, match=r"missing columns \['svi_overall'\]"):
        score_frame(trained, frame.drop("svi_overall"))
    with pytest.raises(ValueError, match=r"extra columns \['new_feature'\]"):
        score_frame(trained, frame.with_columns(pl.lit(1.0).alias("new_feature")))
    with pytest.raises(ValueError, match=r"wrong dtypes \['dual_flag \(Int64"):
        score_frame(trained, frame.with_columns(pl.col("dual_flag").cast(pl.Int64)))
    with pytest.raises(ValueError, match=r"retrain the model"):
        score_frame(trained, frame, current_features=[*trained.feature_names, "new_feature"])
    # subgroup and HOSPITAL columns ride along without being features
    assert score_frame(trained, frame).height == 10


def test_finish_writes_card_plots_and_metrics(trained, synthetic_frame, tmp_path):
    test_rows = synthetic_frame.filter(pl.col("stay_id").is_in(trained.test_predictions["stay_id"].implode()))
    folder = finish_model(trained, test_rows, tmp_path / "models", capacity=40, window_column="discharge_date", oracle=None)
    assert {"booster.txt", "card.json", "model_card.md", "calibration.png", "importance.png"} <= {p.name for p in folder.iterdir()}
    md = (folder / "model_card.md").read_text()
    assert "| LightGBM |" in md and "| lace |" in md and "## Fairness" in md and "calibration.png" in md
    entry = metrics_entry(trained, folder, "synthetic")
    for r in [entry["test"], *entry["baselines"].values()]:
        assert {"auroc", "auroc_ci", "auprc", "brier", "calibration_slope", "calibration_intercept", "n", "events"} <= set(r)
        assert r["capacity"]["k"] == 40
    assert {"sex", "age_band", "svi_quartile", "race"} <= set(entry["fairness"]["groups"])
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"high_need": {"keep": 1}}))
    merge_metrics(path, "readmission", entry)
    merged = json.loads(path.read_text())
    assert merged["high_need"] == {"keep": 1} and merged["readmission"]["test"]["n"] == trained.metrics["test"]["n"]
