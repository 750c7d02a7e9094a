"""Reason codes: per-row SHAP contributions turned into plain words."""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import polars as pl

from features.dictionary import FEATURE_DICTIONARY


def shap_contributions(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """(n, n_features) SHAP values from LightGBM's TreeSHAP (``pred_contrib``), bias column dropped."""
    contrib = booster.predict(x, pred_contrib=True, num_threads=2)
    return np.asarray(contrib)[:, :-1]


def top_reasons(
    booster: lgb.Booster, features: pl.DataFrame, feature_names: Sequence[str], k: int = 3
) -> pl.DataFrame:
    """Top ``k`` features by positive SHAP contribution (log-odds) per row, in plain words.

    Returns one row per input row with ``reason_i`` (text, "raises risk: ..."), ``reason_feature_i``
    and ``reason_shap_i`` for i in 1..k; null where fewer than i features push risk up.
    """
    names = list(feature_names)
    x = features.select(names).cast(pl.Float64).to_numpy()
    shap = shap_contributions(booster, x)
    k = min(k, len(names))
    order = np.argsort(-shap, axis=1, kind="stable")[:, :k]
    top_shap = np.take_along_axis(shap, order, axis=1)
    top_val = np.take_along_axis(x, order, axis=1)
    positive = top_shap > 0
    specs = [FEATURE_DICTIONARY[n] for n in names]
    columns: dict[str, list] = {}
    for i in range(k):
        feat_idx, vals, pos = order[:, i], top_val[:, i], positive[:, i]
        columns[f"reason_{i + 1}"] = [
            f"raises risk: {specs[f].reason(None if np.isnan(v) else float(v))}" if p else None
            for f, v, p in zip(feat_idx, vals, pos, strict=True)
        ]
        columns[f"reason_feature_{i + 1}"] = [names[f] if p else None for f, p in zip(feat_idx, pos, strict=True)]
        columns[f"reason_shap_{i + 1}"] = np.where(pos, top_shap[:, i], np.nan)
    frame = pl.DataFrame(columns, schema={
        **{f"reason_{i + 1}": pl.String for i in range(k)},
        **{f"reason_feature_{i + 1}": pl.String for i in range(k)},
        **{f"reason_shap_{i + 1}": pl.Float64 for i in range(k)},
    })
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))
