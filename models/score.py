"""Scoring with a schema check against the model card."""

from __future__ import annotations

import polars as pl

from models.explain import top_reasons
from models.readmission import TrainedModel

NON_FEATURE_COLUMNS = frozenset({"stay_id", "person_id", "admission_date", "discharge_date", "readmit_30d"})


def check_schema(model: TrainedModel, frame: pl.DataFrame) -> None:
    """Raise ValueError naming missing, extra and wrongly typed feature columns."""
    expected = model.feature_dtypes
    present = [c for c in frame.columns if c not in NON_FEATURE_COLUMNS]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in present if c not in expected]
    wrong = [f"{c} ({frame.schema[c]} != {expected[c]})" for c in expected
             if c in frame.columns and str(frame.schema[c]) != expected[c]]
    if missing or extra or wrong:
        raise ValueError(
            "feature schema does not match the model card: "
            f"missing columns {missing}; extra columns {extra}; wrong dtypes {wrong}"
        )


def score_frame(model: TrainedModel, frame: pl.DataFrame, k: int = 3) -> pl.DataFrame:
    """Calibrated 30-day readmission probability and top-k reasons for each row of
    ``features.readmission_stay``-shaped ``frame``. Refuses a frame whose feature columns or dtypes
    differ from the card. Returns person_id, stay_id, discharge_date, score, score_raw, reason_1..k
    (and reason_feature_i / reason_shap_i)."""
    check_schema(model, frame)
    x = frame.select(model.feature_names).to_numpy()
    raw = model.predict_raw(x)
    ids = [c for c in ("person_id", "stay_id", "discharge_date") if c in frame.columns]
    return pl.concat(
        [
            frame.select(ids).with_columns(
                pl.Series("score", model.calibrator.apply(raw), dtype=pl.Float64),
                pl.Series("score_raw", raw, dtype=pl.Float64),
            ),
            top_reasons(model.booster, frame, model.feature_names, k=k),
        ],
        how="horizontal",
    )
