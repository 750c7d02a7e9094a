"""Subgroup performance on the test rows: discrimination, calibration, selection at capacity,
false negative rate, and each group's share of the selected list next to its share of true
positives; a flag where a gap passes a configurable threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from models.training import SUBGROUP_COLUMNS


@dataclass(frozen=True)
class FairnessConfig:
    """Gaps that raise a flag. A group is judged only with ``min_n`` rows and ``min_events`` events
    (smaller groups are reported with ``judged: false``, never flagged on noise)."""

    auroc_gap: float = 0.05        # overall AUROC minus group AUROC
    fnr_gap: float = 0.10          # group FNR minus overall FNR at capacity
    oe_low: float = 0.80           # observed/expected outside [oe_low, oe_high]: miscalibrated for the group
    oe_high: float = 1.25
    share_ratio: float = 0.80      # share of the selected list / share of true positives below this
    min_n: int = 100
    min_events: int = 20


def subgroup_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The subgroup columns as strings; derives sex, age band, dual and SVI quartile from the
    readmission features when the frame predates the subgroup columns."""
    exprs = []
    cols = frame.columns
    if "sex" not in cols and "female_flag" in cols:
        exprs.append(pl.col("female_flag").replace_strict({1.0: "female", 0.0: "male"}, default="unknown",
                                                          return_dtype=pl.String).alias("sex"))
    if "age_band" not in cols and "age_at_discharge" in cols:
        age = pl.col("age_at_discharge")
        exprs.append(pl.when(age < 18).then(pl.lit("0-17")).when(age < 45).then(pl.lit("18-44"))
                     .when(age < 65).then(pl.lit("45-64")).when(age < 75).then(pl.lit("65-74"))
                     .when(age.is_not_null()).then(pl.lit("75+")).otherwise(pl.lit("unknown")).alias("age_band"))
    if "svi_quartile" not in cols and "svi_overall" in cols:
        svi = pl.col("svi_overall")
        exprs.append(pl.when(svi.is_null()).then(pl.lit("unknown")).when(svi < 0.25).then(pl.lit("Q1"))
                     .when(svi < 0.5).then(pl.lit("Q2")).when(svi < 0.75).then(pl.lit("Q3"))
                     .otherwise(pl.lit("Q4")).alias("svi_quartile"))
    out = frame.with_columns(exprs) if exprs else frame
    present = [c for c in SUBGROUP_COLUMNS if c in out.columns]
    return out.with_columns([
        (pl.col(c).cast(pl.Int64) if out.schema[c].is_numeric() else pl.col(c)).cast(pl.String).fill_null("unknown")
        for c in present
    ])


def _rate(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def fairness_table(
    y: np.ndarray, prob: np.ndarray, rank_score: np.ndarray, selected: np.ndarray, groups: pl.DataFrame,
    config: FairnessConfig = FairnessConfig(), columns: Sequence[str] = SUBGROUP_COLUMNS,
) -> dict:
    """Per subgroup column and level: n, events, auroc, mean_predicted, observed_rate,
    observed_expected, selection_rate, fnr, share_selected, share_positives, share_ratio, flags.

    ``selected`` marks the rows on the list at the program's capacity. Returns
    ``{"config": ..., "overall": ..., "groups": {column: {level: {...}}}, "flags": [text, ...]}``.
    """
    y = np.asarray(y, dtype=int)
    prob, rank_score = np.asarray(prob, dtype=float), np.asarray(rank_score, dtype=float)
    selected = np.asarray(selected, dtype=bool)
    overall_auroc = float(roc_auc_score(y, rank_score))
    positives = int(y.sum())
    overall_fnr = 1 - y[selected].sum() / positives if positives else float("nan")
    out: dict = {
        "config": asdict(config),
        "overall": {"n": int(len(y)), "events": positives, "auroc": overall_auroc, "fnr": float(overall_fnr),
                    "selection_rate": float(selected.mean())},
        "groups": {},
        "flags": [],
    }
    for column in columns:
        if column not in groups.columns:
            continue
        levels = groups[column].to_numpy()
        table: dict[str, dict] = {}
        for level in sorted(set(levels.tolist())):
            m = levels == level
            n, ev = int(m.sum()), int(y[m].sum())
            judged = n >= config.min_n and ev >= config.min_events and n - ev >= config.min_events
            auc = float(roc_auc_score(y[m], rank_score[m])) if 0 < ev < n else None
            mean_pred = float(prob[m].mean())
            row = {
                "n": n, "events": ev, "judged": judged, "auroc": auc,
                "mean_predicted": mean_pred, "observed_rate": float(y[m].mean()),
                "observed_expected": _rate(y[m].mean(), mean_pred),
                "selection_rate": float(selected[m].mean()),
                "fnr": _rate(ev - int(y[m & selected].sum()), ev),
                "share_selected": _rate(int(selected[m].sum()), int(selected.sum())),
                "share_positives": _rate(ev, positives),
            }
            row["share_ratio"] = (_rate(row["share_selected"], row["share_positives"])
                                  if row["share_selected"] is not None and row["share_positives"] else None)
            flags = []
            if judged:
                if auc is not None and overall_auroc - auc > config.auroc_gap:
                    flags.append(f"AUROC {auc:.3f} is {overall_auroc - auc:.3f} below overall {overall_auroc:.3f}")
                oe = row["observed_expected"]
                if oe is not None and not config.oe_low <= oe <= config.oe_high:
                    flags.append(f"observed/expected {oe:.2f} outside [{config.oe_low}, {config.oe_high}]")
                if row["fnr"] is not None and row["fnr"] - overall_fnr > config.fnr_gap:
                    flags.append(f"false negative rate {row['fnr']:.2f} vs overall {overall_fnr:.2f} at capacity")
                if row["share_ratio"] is not None and row["share_ratio"] < config.share_ratio:
                    flags.append(
                        f"{row['share_selected']:.1%} of the list but {row['share_positives']:.1%} of true positives"
                    )
            row["flags"] = flags
            out["flags"].extend(f"{column}={level}: {f}" for f in flags)
            table[str(level)] = row
        out["groups"][column] = table
    return out


def fairness_rows(report: dict) -> pl.DataFrame:
    """The fairness report as one row per (subgroup, level), for tables and the model card."""
    rows = []
    for column, levels in report["groups"].items():
        for level, r in levels.items():
            rows.append({"subgroup": column, "level": level, **{k: v for k, v in r.items() if k != "flags"},
                         "flags": "; ".join(r["flags"])})
    return pl.DataFrame(rows, infer_schema_length=None)
