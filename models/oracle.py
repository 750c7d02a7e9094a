"""The demo generator's answer key (``<landing>/_oracle/``), read by evaluation only.

Features and training never call this module; evaluation joins the true probabilities to the
test rows to report the AUROC ceiling on those same rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from sklearn.metrics import roc_auc_score

ORACLE_DIR = "_oracle"


def oracle_dir(landing: Path) -> Path | None:
    path = Path(landing) / ORACLE_DIR
    return path if path.is_dir() else None


# A discharge-time score cannot know whether the 7-day follow-up visit will happen; the
# generator's at-discharge probability averages over it and is the ceiling such a score can reach.
# Older oracle folders only carry the probability given the follow-up that happened.
READMISSION_ORACLE_COLUMNS = ("p_readmit_30d_at_discharge", "p_readmit_30d")
# The pipeline's need label (2+ unplanned admissions or 4+ ED visits) has its own true probability;
# p_high_need (1+ unplanned admission) is the older, looser definition.
NEED_LABEL = "high_need_utilization_12m"
NEED_ORACLE_COLUMN = "p_high_need_utilization"


def readmission_oracle(landing: Path, columns: tuple[str, ...] = READMISSION_ORACLE_COLUMNS) -> pl.DataFrame | None:
    """person_id, discharge_date, oracle_p from ``_oracle/index_stays.csv`` (the first of ``columns``
    the file has), or None when absent."""
    d = oracle_dir(landing)
    if d is None or not (d / "index_stays.csv").exists():
        return None
    frame = pl.read_csv(d / "index_stays.csv", schema_overrides={"person_id": pl.String, "claim_id": pl.String})
    column = next((c for c in columns if c in frame.columns), None)
    if column is None:
        return None
    return (
        frame.select(pl.col("person_id"), pl.col("discharge_date").str.to_date(), pl.col(column).alias("oracle_p"))
        .unique(["person_id", "discharge_date"], keep="first")
    )


def high_need_oracle(landing: Path, label: str = NEED_LABEL) -> tuple[pl.DataFrame, bool] | None:
    """person_id, oracle_as_of (the first day the oracle's label window covers), oracle_p from
    ``_oracle/members.csv``, and whether oracle_p is the probability of ``label`` itself (the need
    label in a current folder) rather than of the looser 1+ admission; None when absent."""
    d = oracle_dir(landing)
    if d is None or not (d / "members.csv").exists():
        return None
    frame = pl.read_csv(d / "members.csv", schema_overrides={"person_id": pl.String})
    aligned = label == NEED_LABEL and NEED_ORACLE_COLUMN in frame.columns
    return frame.select(
        pl.col("person_id"),
        (pl.col("as_of_date").cast(pl.String).str.to_date() + pl.duration(days=1)).alias("oracle_as_of"),
        pl.col(NEED_ORACLE_COLUMN if aligned else "p_high_need").alias("oracle_p"),
    ), aligned


def oracle_auroc(test: pl.DataFrame, oracle: pl.DataFrame, on: list[str], label: str, score: str = "score_raw") -> dict:
    """AUROC of the true probability and of the model on the test rows matched to the oracle."""
    joined = test.join(oracle, on=on, how="inner")
    y = joined[label].cast(pl.Int64).to_numpy()
    if joined.height == 0 or y.sum() in (0, len(y)):
        raise ValueError(f"oracle matched {joined.height} of {test.height} test rows with {int(y.sum())} events: cannot compute AUROC")
    return {
        "oracle_auroc": float(roc_auc_score(y, joined["oracle_p"].to_numpy())),
        "model_auroc_on_matched": float(roc_auc_score(y, joined[score].to_numpy())),
        "matched_rows": joined.height,
        "test_rows": test.height,
    }


def readmission_oracle_auroc(test: pl.DataFrame, landing: Path, label: str) -> dict | None:
    """The ceiling at discharge (``p_readmit_30d_at_discharge``: the 7-day follow-up, which a
    discharge-time score cannot know, averaged out) as ``oracle_at_discharge_auroc``, and the full
    true probability (``p_readmit_30d``) as ``oracle_auroc``; an older folder with one column gives it for both."""
    at_discharge = readmission_oracle(landing)
    if at_discharge is None:
        return None
    on = ["person_id", "discharge_date"]
    out = oracle_auroc(test, at_discharge, on, label)
    out["oracle_at_discharge_auroc"] = out["oracle_auroc"]
    full = readmission_oracle(landing, ("p_readmit_30d",))
    if full is not None:
        out["oracle_auroc"] = oracle_auroc(test, full, on, label)["oracle_auroc"]
    out["note"] = ("oracle_auroc: the generator's true probability, knowing the 7-day follow-up after discharge; "
                   "oracle_at_discharge_auroc: the same with that follow-up averaged out (what is knowable at discharge)")
    return out


def high_need_oracle_auroc(test: pl.DataFrame, landing: Path, label: str, test_as_of: dt.date) -> dict | None:
    """The oracle covers one period; it is comparable only when its as-of is the test as-of.

    For the need label the oracle's probability of that same label is the ceiling; for any other
    label (cost), or an older oracle folder, the looser 1+ admission probability is used with a note,
    and both are also scored on that looser definition."""
    found = high_need_oracle(landing, label)
    if found is None:
        return None
    oracle, aligned = found
    oracle_as_of = oracle["oracle_as_of"].unique().to_list()
    if oracle_as_of != [test_as_of]:
        return {"note": f"oracle period starts {[d.isoformat() for d in oracle_as_of]}, test snapshot {test_as_of.isoformat()}: not comparable"}
    oracle = oracle.drop("oracle_as_of")
    out = oracle_auroc(test, oracle, ["person_id"], label) | {
        "label": label,
        # a member snapshot has no discharge: the as-of date is when the score is used, and the
        # oracle's probability already uses only rates as of that date
        "oracle_at_discharge_auroc": None,
        "note": "the oracle's probability of this same label (2+ unplanned admissions or 4+ ED visits in the "
                "12 months) from the member's true yearly rates" if aligned else
                "the oracle's p_high_need is the probability of 1+ unplanned admission in the period, not of this label",
    }
    if not aligned and "oracle_definition_label" in test.columns:
        same = oracle_auroc(test, oracle, ["person_id"], "oracle_definition_label")
        out["on_oracle_definition"] = same | {"label": "1+ unplanned admission in [as_of, as_of + 12 months)"}
    return out
