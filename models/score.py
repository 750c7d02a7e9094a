"""Scoring with a schema check against the model card, and reasons for the rows people read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from data_contracts.errors import RiskstratDataError
from features.dictionary import FeatureSpec
from models.explain import top_reasons
from models.training import SUBGROUP_COLUMNS, TrainedModel

# Columns of the feature tables that are never model features: keys, dates, labels, baselines,
# subgroups and the HOSPITAL score parts (a feature only when the model card lists it).
NON_FEATURE_COLUMNS = frozenset({
    "stay_id", "person_id", "admission_date", "discharge_date", "as_of_date", "readmit_30d",
    "high_need_cost_12m", "high_need_utilization_12m", "allowed_amount_next_12m", "prior_cost_12m",
    "unplanned_admissions_next_12m", "ed_visits_next_12m",
    *SUBGROUP_COLUMNS, "hospital_low_hemoglobin", "hospital_oncology_discharge", "hospital_low_sodium",
    "hospital_procedure", "hospital_urgent_admission", "hospital_prior_admissions_12m", "hospital_los_5plus",
    "hospital_score", "hospital_claims_only_flag",
})


def check_schema(model: TrainedModel, frame: pl.DataFrame, current_features: Sequence[str] | None = None) -> None:
    """Raise ValueError naming missing, extra and wrongly typed feature columns.

    ``current_features``: the feature list the code builds today; a model trained on another list
    is refused (retrain it) even when the frame happens to carry its columns.
    """
    expected = model.feature_dtypes
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected and c not in NON_FEATURE_COLUMNS]
    wrong = [f"{c} ({frame.schema[c]} != {expected[c]})" for c in expected
             if c in frame.columns and str(frame.schema[c]) != expected[c]]
    stale = []
    if current_features is not None and list(current_features) != list(expected):
        added = [c for c in current_features if c not in expected]
        dropped = [c for c in expected if c not in current_features]
        stale = [f"the model card lists {len(expected)} features, the feature code {len(current_features)} "
                 f"(new {added}, gone {dropped}, or a different order): retrain the model"]
    if missing or extra or wrong or stale:
        raise ValueError(
            f"feature schema does not match the model card ({model.task_key}): "
            f"missing columns {missing}; extra columns {extra}; wrong dtypes {wrong}" + (f"; {stale[0]}" if stale else "")
        )


def explain_rows_mask(raw: np.ndarray, explain_top: int | None) -> np.ndarray:
    """Rows to explain: all, or the ``explain_top`` highest raw scores."""
    if explain_top is None or explain_top >= len(raw):
        return np.ones(len(raw), dtype=bool)
    mask = np.zeros(len(raw), dtype=bool)
    mask[np.argsort(-raw, kind="stable")[: max(explain_top, 0)]] = True
    return mask


def score_frame(
    model: TrainedModel, frame: pl.DataFrame, k: int = 3, id_columns: Sequence[str] = ("person_id", "stay_id", "discharge_date"),
    explain_top: int | None = None, current_features: Sequence[str] | None = None,
    dictionary: Mapping[str, FeatureSpec] | None = None,
) -> pl.DataFrame:
    """Calibrated probability (``score``), raw LightGBM probability (``score_raw``, rank by it: the
    isotonic map has ties) and top-k reasons for each row of ``frame``.

    Refuses a frame whose feature columns or dtypes differ from the card. Reasons (TreeSHAP) are
    computed for every row, or only for the ``explain_top`` highest-scoring rows (the rows people
    read); the other rows get null reasons. Returns the id columns, score, score_raw,
    reason_1..k, reason_feature_1..k, reason_shap_1..k.
    """
    check_schema(model, frame, current_features)
    raw = raw_scores(model, frame)
    return scored_rows(model, frame, raw, explain_rows_mask(raw, explain_top), k=k, id_columns=id_columns,
                       dictionary=dictionary)


def raw_scores(model: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    """The raw LightGBM probability of each row of ``frame`` (its columns in the card's order)."""
    return model.predict_raw(frame.select(model.feature_names).to_numpy())


def scored_rows(
    model: TrainedModel, frame: pl.DataFrame, raw: np.ndarray, explain: np.ndarray, k: int = 3,
    id_columns: Sequence[str] = ("person_id", "stay_id", "discharge_date"),
    dictionary: Mapping[str, FeatureSpec] | None = None,
) -> pl.DataFrame:
    """``score_frame``'s output for rows whose raw scores are known: the id columns, the calibrated
    ``score``, ``score_raw`` and top-k TreeSHAP reasons for the rows where ``explain`` is true (null
    reasons elsewhere). Split out so a caller that chooses the explained rows over more than one
    frame (``models.spark_score``: the top rows of all partitions) runs the same code per part."""
    ids = [c for c in id_columns if c in frame.columns]
    # no row to explain: top_reasons on no rows (LightGBM's pred_contrib refuses an empty matrix)
    none = None if explain.any() else np.empty((0, len(model.feature_names)))
    explained = top_reasons(model.booster, frame.filter(pl.Series(explain)), model.feature_names, k=k,
                            dictionary=dictionary, shap=none)
    reasons = explained
    if not explain.all():
        positions = pl.Series("_row", np.flatnonzero(explain))
        reasons = (
            pl.DataFrame({"_row": np.arange(len(raw))})
            .join(explained.with_columns(positions), on="_row", how="left")
            .drop("_row")
        )
    return pl.concat(
        [
            frame.select(ids).with_columns(
                pl.Series("score", model.calibrator.apply(raw), dtype=pl.Float64),
                pl.Series("score_raw", raw, dtype=pl.Float64),
            ),
            reasons,
        ],
        how="horizontal",
    )


def explain_members(
    model: TrainedModel, frame: pl.DataFrame, person_ids: Sequence[str], k: int = 3,
    id_columns: Sequence[str] = ("person_id", "stay_id", "discharge_date", "as_of_date"),
    dictionary: Mapping[str, FeatureSpec] | None = None,
) -> pl.DataFrame:
    """On request: scores and TreeSHAP reasons for the named members only (any member, on or off the
    list); raises when none of them is in ``frame``."""
    rows = frame.filter(pl.col("person_id").is_in(list(person_ids)))
    if rows.height == 0:
        raise RiskstratDataError(f"none of the {len(person_ids)} requested members is in the scoring frame; check the "
                                 "member identifiers and the as-of date")
    return score_frame(model, rows, k=k, id_columns=id_columns, dictionary=dictionary)
