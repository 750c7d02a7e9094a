"""Ranking without a trained model, for sources too small to train one.

The Synthea and MIMIC-IV demo sets hold tens of labelled stays, too few for a temporal
split. Rather than list nobody, the pipeline then ranks by a published score and says so
in every output: LACE points for readmission (van Walraven 2010), prior-year allowed cost
for high need. Reasons are the score's own largest parts, in the feature dictionary's words.
Scores from here are ranks, not probabilities: the LACE path writes no ``score`` at all (null) and
ranks by ``score_raw`` (LACE points), so nothing downstream (expected readmissions, O/E, the list's
calibration) can read LACE / 19 as a chance of readmission; ``score_basis`` says what the rank is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from features.dictionary import FeatureSpec

LACE_COMPONENTS = ("lace_l", "lace_a", "lace_c", "lace_e")
HIGH_NEED_COMPONENTS = ("ip_admissions_365d", "ed_visits_365d", "allowed_amount_365d", "hcc_score_v28", "charlson_index")
READMISSION_BASELINE = "lace (no model: too few labelled stays to train one)"
LACE_BASIS = "LACE points 0-19 (no model: a rank, not a probability)"
PRIOR_COST_BASIS = "prior-year cost percentile (no model: a rank, not a probability)"
HIGH_NEED_BASELINE = "prior_cost (no model: too little history to train one)"


def _reasons(
    frame: pl.DataFrame, components: Sequence[str], strength: np.ndarray, dictionary: Mapping[str, FeatureSpec], k: int
) -> pl.DataFrame:
    """The k strongest components per row (strength = rows x components), worded by the dictionary."""
    order = np.argsort(-np.nan_to_num(strength, nan=-np.inf), axis=1, kind="stable")[:, :k]
    values = frame.select(components).cast(pl.Float64).to_numpy()
    columns: dict[str, list] = {}
    for rank in range(k):
        picked = order[:, rank]
        names = [components[j] for j in picked]
        picked_values = values[np.arange(len(picked)), picked]
        # one formatted sentence per listed row and reason (the rows people read); a part that is
        # zero or missing raises nothing, so it gives no reason
        columns[f"reason_{rank + 1}"] = [
            None if np.isnan(v) or v == 0 else "raises risk: " + dictionary[n].reason(float(v))
            for n, v in zip(names, picked_values)
        ]
        columns[f"reason_feature_{rank + 1}"] = [
            None if np.isnan(v) or v == 0 else n for n, v in zip(names, picked_values)
        ]
    return pl.DataFrame(columns)


def lace_scores(frame: pl.DataFrame, dictionary: Mapping[str, FeatureSpec], k: int = 3) -> pl.DataFrame:
    """person_id, stay_id, discharge_date, score (null: LACE is no probability), score_raw (LACE
    points, the rank), score_basis, reasons."""
    ids = frame.select([c for c in ("person_id", "stay_id", "discharge_date") if c in frame.columns])
    points = frame.select(LACE_COMPONENTS).cast(pl.Float64).to_numpy()
    lace = frame["lace_score"].cast(pl.Float64).fill_null(0.0)
    return pl.concat(
        [ids.with_columns(pl.lit(None, dtype=pl.Float64).alias("score"), lace.alias("score_raw"),
                          pl.lit(LACE_BASIS).alias("score_basis")),
         _reasons(frame, LACE_COMPONENTS, points, dictionary, k)],
        how="horizontal",
    )


def prior_cost_scores(
    frame: pl.DataFrame, dictionary: Mapping[str, FeatureSpec], k: int = 3, explain_top: int = 5_000
) -> pl.DataFrame:
    """person_id, as_of_date, score (cost percentile), score_raw (prior-year cost), score_basis;
    reasons for the top rows."""
    keys = [c for c in ("person_id", "as_of_date") if c in frame.columns]
    cost = pl.col("prior_cost_12m").cast(pl.Float64).fill_null(0.0)
    components = [c for c in HIGH_NEED_COMPONENTS if c in frame.columns]
    # strength of each part = its percentile among all members, so unlike units compare
    ranked = frame.with_columns(
        cost.alias("score_raw"),
        (cost.rank("average") / max(frame.height, 1)).alias("score"),
        *[(pl.col(c).cast(pl.Float64).rank("average") / max(frame.height, 1)).alias(f"_pct_{c}") for c in components],
    ).sort("score_raw", descending=True)
    head = ranked.head(explain_top)
    strength = head.select([f"_pct_{c}" for c in components]).to_numpy()
    explained = pl.concat([head.select(keys), _reasons(head, components, strength, dictionary, k)], how="horizontal")
    return (ranked.select(*keys, "score", "score_raw", pl.lit(PRIOR_COST_BASIS).alias("score_basis"))
            .join(explained, on=keys, how="left", maintain_order="left"))
