from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from models.score import score_frame
from models.store import load_model, save_model


def test_roundtrip_gives_identical_scores_and_a_card(trained, synthetic_frame, tmp_path):
    path = save_model(trained, tmp_path)
    files = sorted(p.name for p in path.iterdir())
    assert files == ["booster.txt", "card.json"]
    card = json.loads((path / "card.json").read_text())
    assert [f["name"] for f in card["features"]] == trained.feature_names
    assert len(card["schema_hash"]) == 64 and card["split"] == trained.split
    assert {"lightgbm", "scikit-learn"} <= set(card["library_versions"])
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
