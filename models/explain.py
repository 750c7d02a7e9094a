"""Reason codes: per-row TreeSHAP contributions turned into plain words, and global importance.

TreeSHAP costs grow with rows x trees x leaves, so it is computed for the rows people read (the
intake list, or a member on request) and for a sample when summarising the model globally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import lightgbm as lgb
import numpy as np
import polars as pl

from features.dictionary import FEATURE_DICTIONARY, FeatureSpec

GLOBAL_SAMPLE_ROWS = 2000


def shap_contributions(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """(n, n_features) SHAP values (log-odds) from LightGBM's TreeSHAP (``pred_contrib``), bias column dropped."""
    contrib = booster.predict(np.asarray(x, dtype=float), pred_contrib=True, num_threads=2)
    return np.asarray(contrib)[:, :-1]


def _specs(names: Sequence[str], dictionary: Mapping[str, FeatureSpec] | None) -> list[FeatureSpec]:
    dictionary = FEATURE_DICTIONARY if dictionary is None else dictionary
    if missing := [n for n in names if n not in dictionary]:
        raise ValueError(f"features {missing} have no entry in the feature dictionary, so no plain-word reason")
    return [dictionary[n] for n in names]


def reason_order(shap: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of ``k`` features: those raising risk by descending SHAP, then (when
    fewer than ``k`` raise it) those lowering it by descending |SHAP|. Zero contributions come last."""
    direction = np.where(shap > 0, 0, np.where(shap < 0, 1, 2))
    # lexsort's last key is the primary one: direction, then larger |SHAP| first
    order = np.lexsort((-np.abs(shap), direction), axis=-1)
    return order[:, :k]


def top_reasons(
    booster: lgb.Booster, features: pl.DataFrame, feature_names: Sequence[str], k: int = 3,
    dictionary: Mapping[str, FeatureSpec] | None = None, shap: np.ndarray | None = None,
) -> pl.DataFrame:
    """Top ``k`` reasons per row in plain words, with direction.

    Features raising risk come first (largest SHAP first), each as "raises risk: <reason>"; when
    fewer than ``k`` features raise the risk, the features lowering it most follow as
    "lowers risk: <reason>". Returns ``reason_i``, ``reason_feature_i`` and ``reason_shap_i``
    (log-odds contribution) for i in 1..k; a reason is null only when its SHAP value is 0.
    """
    names = list(feature_names)
    specs = _specs(names, dictionary)
    x = features.select(names).cast(pl.Float64).to_numpy()
    shap = shap_contributions(booster, x) if shap is None else shap
    k = min(k, len(names))
    order = reason_order(shap, k)
    top_shap = np.take_along_axis(shap, order, axis=1)
    top_val = np.take_along_axis(x, order, axis=1)
    columns: dict[str, list] = {}
    for i in range(k):
        feat_idx, vals, sv = order[:, i], top_val[:, i], top_shap[:, i]
        columns[f"reason_{i + 1}"] = [
            None if s == 0 else
            f"{'raises' if s > 0 else 'lowers'} risk: {specs[f].reason(None if np.isnan(v) else float(v))}"
            for f, v, s in zip(feat_idx, vals, sv, strict=True)
        ]
        columns[f"reason_feature_{i + 1}"] = [None if s == 0 else names[f] for f, s in zip(feat_idx, sv, strict=True)]
        columns[f"reason_shap_{i + 1}"] = np.where(sv == 0, np.nan, sv)
    frame = pl.DataFrame(columns, schema={
        **{f"reason_{i + 1}": pl.String for i in range(k)},
        **{f"reason_feature_{i + 1}": pl.String for i in range(k)},
        **{f"reason_shap_{i + 1}": pl.Float64 for i in range(k)},
    })
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def global_importance(
    booster: lgb.Booster, features: pl.DataFrame, feature_names: Sequence[str],
    sample_rows: int = GLOBAL_SAMPLE_ROWS, seed: int = 7, dictionary: Mapping[str, FeatureSpec] | None = None,
) -> list[dict]:
    """Mean |SHAP| per feature on a seeded sample of rows (largest first), with the share of rows
    where the feature raises risk and its definition from the feature dictionary."""
    names = list(feature_names)
    specs = _specs(names, dictionary)
    sample = features.sample(n=min(sample_rows, features.height), seed=seed) if features.height > sample_rows else features
    shap = shap_contributions(booster, sample.select(names).cast(pl.Float64).to_numpy())
    mean_abs = np.abs(shap).mean(axis=0)
    raises = (shap > 0).mean(axis=0)
    rows = [
        {"feature": n, "mean_abs_shap": float(m), "share_raising": float(r), "definition": s.definition}
        for n, m, r, s in zip(names, mean_abs, raises, specs, strict=True)
    ]
    return sorted(rows, key=lambda r: -r["mean_abs_shap"])
