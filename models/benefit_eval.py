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


# ---- the randomised check on a run's own lottery --------------------------------------------
LOTTERY_CHECK_SQL = """
SELECT a.assignment_date, a.person_id, a.offered_flag, a.benefit,
       CAST(EXISTS (SELECT 1 FROM core.inpatient_stay AS s
                    WHERE s.person_id = a.person_id AND s.planned_flag = 0
                      AND s.admission_date > a.assignment_date
                      AND s.admission_date <= a.assignment_date + $window) AS INTEGER) AS admitted
FROM marts.intake_assignment AS a
WHERE a.lottery_band_flag = 1 AND a.score_name = 'readmission' AND a.benefit IS NOT NULL
  AND a.assignment_date + $window < $as_of
"""
MIN_PER_CELL = 30  # band members per (half, arm) before a half's randomised effect is printed


def lottery_benefit_check(con, as_of: dt.date, window_days: int = 30) -> dict:
    """Does the estimated benefit pick the members the program helps? On the run's own evaluation
    lotteries (marts.intake_assignment, readmission list, outcome windows closed by ``as_of``): the
    randomised effect of the offer on an unplanned admission within ``window_days`` of the list date
    (offered minus not offered, Newcombe interval), in the band's half with the higher estimated
    benefit and in the other half, and their difference (Wald). A benefit ranking that works shows
    a larger reduction in the upper half. Returns ``{"status", "sentence", "rows"}``."""
    from models.causal_att import naive_difference

    band = con.execute(LOTTERY_CHECK_SQL, {"as_of": as_of, "window": window_days}).pl()
    if band.height == 0:
        return {"status": "no_band", "rows": [],
                "sentence": "No evaluation-lottery band of the readmission list has a closed outcome window yet."}
    if band["benefit"].n_unique() == 1:
        return {"status": "no_spread", "rows": [],
                "sentence": (f"{band.height} band members have closed outcome windows, but every one got the same "
                             "estimated benefit (the learner found no differences between members), so there is no "
                             "benefit ranking to check yet.")}
    upper = band["benefit"] > band["benefit"].median()
    rows = []
    for name, mask in (("higher estimated benefit", upper), ("lower estimated benefit", ~upper)):
        part = band.filter(mask)
        offered = part["offered_flag"].to_numpy() == 1
        n1, n0 = int(offered.sum()), int((~offered).sum())
        row = {"half": name, "offered": n1, "not_offered": n0, "estimate": None, "ci_low": None, "ci_high": None}
        if min(n1, n0) >= MIN_PER_CELL:
            r = naive_difference(part["admitted"].to_numpy(), offered, part["person_id"].to_numpy(), binary=True)
            row |= {"estimate": -r.estimate, "ci_low": -r.ci_high, "ci_high": -r.ci_low}
        rows.append(row)
    if any(r["estimate"] is None for r in rows):
        counts = ", ".join(f"{r['offered']} offered and {r['not_offered']} not in the {r['half']} half" for r in rows)
        return {"status": "too_few", "rows": rows,
                "sentence": (f"Too few band members yet to check the benefit ranking ({counts}; at least "
                             f"{MIN_PER_CELL} per arm in each half are needed).")}
    hi, lo = rows
    diff = hi["estimate"] - lo["estimate"]
    half_width = 1.959964 * float(np.sqrt(((hi["ci_high"] - hi["ci_low"]) / 3.92) ** 2
                                          + ((lo["ci_high"] - lo["ci_low"]) / 3.92) ** 2))
    verdict = ("the members the model expected to benefit more did benefit more" if diff - half_width > 0 else
               "the randomised halves do not show the expected difference")
    return {"status": "checked", "rows": rows, "difference": diff,
            "difference_ci": [diff - half_width, diff + half_width],
            "sentence": (f"Randomised check on {band.height} band members: the offer lowered the {window_days}-day "
                         f"admission risk by {100 * hi['estimate']:.1f} points in the half with the higher estimated "
                         f"benefit and by {100 * lo['estimate']:.1f} in the other (difference {100 * diff:.1f}, 95% CI "
                         f"{100 * (diff - half_width):.1f} to {100 * (diff + half_width):.1f}): {verdict}.")}
