"""How many events each intake ranking averts at the program's capacity, judged by the demo
generator's counterfactuals (``_oracle/cm_benefit.csv``; evaluation only, never features or
training).

For each ranking of the same candidate pool (the members eligible for the readmission list on the
as-of date), the events averted by filling ``capacity`` slots from the top is the sum over those
members of the oracle's true benefit, ``p_if_not_enrolled - p_if_enrolled``. Beside the pipeline's
rankings (risk, benefit, blend) stand the best any ranking could do (by true benefit) and a random
ranking (its expectation: capacity x the pool's mean true benefit). The Qini (uplift) curve is the
same sum as the share of the pool enrolled grows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from models.oracle import oracle_dir

BENEFIT_ORACLE_FILE = "cm_benefit.csv"
RANKINGS: dict[str, tuple[str, ...]] = {
    # ranking -> sort keys (descending; ties by risk, then person_id ascending)
    "risk": ("score",),
    "benefit": ("benefit", "score"),
    "blend": ("averted", "score"),
}
QINI_SHARES = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))


def benefit_oracle(landing: Path, as_of: dt.date, outcome: str) -> pl.DataFrame | None:
    """person_id and true_benefit (p_if_not_enrolled - p_if_enrolled) of ``outcome`` on ``as_of``
    from ``_oracle/cm_benefit.csv``; None when the file (or that date) is absent."""
    d = oracle_dir(landing)
    if d is None or not (d / BENEFIT_ORACLE_FILE).exists():
        return None
    frame = (
        pl.scan_csv(d / BENEFIT_ORACLE_FILE, schema_overrides={"person_id": pl.String, "as_of_date": pl.String,
                                                              "outcome": pl.String})
        .filter((pl.col("as_of_date") == as_of.isoformat()) & (pl.col("outcome") == outcome))
        .select("person_id", (pl.col("p_if_not_enrolled") - pl.col("p_if_enrolled")).alias("true_benefit"),
                pl.col("p_if_not_enrolled").alias("true_risk"))
        .unique("person_id", keep="first")
        .collect()
    )
    return frame if frame.height else None


def _ordered(pool: pl.DataFrame, ranking: str, seed: int) -> pl.DataFrame:
    if ranking == "oracle":
        return pool.sort(["true_benefit", "person_id"], descending=[True, False])
    if ranking == "random":
        return pool.sample(fraction=1.0, shuffle=True, seed=seed)
    keys = list(RANKINGS[ranking])
    return pool.sort([*keys, "person_id"], descending=[True] * len(keys) + [False], nulls_last=True)


def compare_rankings(pool: pl.DataFrame, oracle: pl.DataFrame, capacity: int, seed: int = 7) -> tuple[list[dict], pl.DataFrame]:
    """Events averted at ``capacity`` per ranking (risk, benefit, blend, oracle best, random) and the
    Qini curves. ``pool``: person_id, score (risk), benefit, relative_reduction, one row per
    eligible member; members without an oracle row are left out (and counted). Random is the
    expectation, not one draw."""
    joined = pool.join(oracle, on="person_id", how="inner").with_columns(
        (pl.col("score") * pl.col("relative_reduction")).alias("averted"))
    k = int(min(capacity, joined.height))
    mean_benefit = float(joined["true_benefit"].mean()) if joined.height else float("nan")
    rows, curves = [], []
    n = joined.height
    cut = [int(round(s * n)) for s in QINI_SHARES]
    for ranking in (*RANKINGS, "oracle"):
        ordered = _ordered(joined, ranking, seed)
        gain = ordered["true_benefit"].to_numpy()
        cum = np.concatenate([[0.0], np.cumsum(gain)])
        rows.append({"ranking": ranking, "capacity": k, "pool": n, "pool_without_oracle": pool.height - n,
                     "events_averted": float(cum[k]),
                     "mean_true_risk_listed": float(ordered["true_risk"][:k].mean()) if k else None})
        curves.append(pl.DataFrame({"ranking": [ranking] * len(cut), "share": list(QINI_SHARES),
                                    "events_averted": [float(cum[c]) for c in cut]}))
    rows.append({"ranking": "random", "capacity": k, "pool": n, "pool_without_oracle": pool.height - n,
                 "events_averted": k * mean_benefit, "mean_true_risk_listed": float(joined["true_risk"].mean()) if n else None})
    curves.append(pl.DataFrame({"ranking": ["random"] * len(cut), "share": list(QINI_SHARES),
                                "events_averted": [c * mean_benefit for c in cut]}))
    best = next(r["events_averted"] for r in rows if r["ranking"] == "oracle")
    for r in rows:
        r["share_of_best"] = r["events_averted"] / best if best > 0 else None
    return rows, pl.concat(curves)
