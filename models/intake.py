"""The ranked, explained intake list for case management."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from features.sqlfiles import load_sql

LOOKBACK_DAYS = 30
CONTACT_BUSINESS_DAYS = 2
TIERS = ((95.0, "very_high"), (80.0, "high"), (50.0, "moderate"))
OUTPUT_COLUMNS = (
    "rank", "person_id", "stay_id", "score", "score_percentile", "risk_tier", "reason_1", "reason_2", "reason_3",
    "latest_discharge_date", "days_since_discharge", "contact_by_date", "suggested_case_manager_id",
    "suggested_program", "suggested_team",
)


def open_capacity(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    """Active case managers with their open cases and free slots on ``as_of``."""
    return con.execute(load_sql("ml__case_manager_open_capacity"), {"as_of": as_of}).pl()


def eligible_members(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    return con.execute(load_sql("ml__intake_eligible_member"), {"as_of": as_of}).pl()


def _tier(pct: pl.Expr) -> pl.Expr:
    expr = pl.lit("low")
    for threshold, name in reversed(TIERS):
        expr = pl.when(pct >= threshold).then(pl.lit(name)).otherwise(expr)
    return expr


def build_intake_list(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Rank eligible recently discharged members and cut the list at the team's open capacity.

    ``scores``: person_id, stay_id, discharge_date, score, reason_1..3. Stays discharged in
    [as_of - 30 days, as_of) are used; one row per eligible person (their highest-scoring stay);
    ranked by score; cut at sum(free slots) of active case managers; each row gets a suggested
    manager, filling the manager with the most free slots first (ties by id), decrementing as
    assigned. score_percentile is among eligible scored members before the cut.
    """
    need = {"person_id", "stay_id", "discharge_date", "score", "reason_1", "reason_2", "reason_3"}
    if missing := sorted(need - set(scores.columns)):
        raise ValueError(f"scores frame lacks columns {missing}")
    eligible = eligible_members(con, as_of).lazy()
    managers = open_capacity(con, as_of)
    total_free = int(managers["free_slots"].sum()) if managers.height else 0

    people = (
        scores.lazy()
        .filter(pl.col("discharge_date").is_between(as_of - dt.timedelta(days=LOOKBACK_DAYS), as_of, closed="left"))
        .join(eligible, on="person_id", how="semi")
        .with_columns(pl.col("discharge_date").max().over("person_id").alias("latest_discharge_date"))
        .sort(["score", "discharge_date", "stay_id"], descending=[True, True, False])
        .group_by("person_id", maintain_order=True)
        .first()
        .with_columns(
            (pl.col("score").rank("max") / pl.len() * 100).round(1).alias("score_percentile"),
        )
        .sort(["score", "latest_discharge_date", "person_id"], descending=[True, True, False])
        .with_row_index("rank", offset=1)
        .filter(pl.col("rank") <= total_free)
        .with_columns(
            pl.col("rank").cast(pl.Int64),
            _tier(pl.col("score_percentile")).alias("risk_tier"),
            (pl.lit(as_of) - pl.col("latest_discharge_date")).dt.total_days().alias("days_since_discharge"),
            pl.max_horizontal(
                pl.col("latest_discharge_date").dt.add_business_days(CONTACT_BUSINESS_DAYS, roll="forward"),
                pl.lit(as_of),
            ).alias("contact_by_date"),
        )
    )
    slots = (
        managers.lazy()
        .filter(pl.col("free_slots") > 0)
        .with_columns(pl.int_ranges(0, pl.col("free_slots")).alias("slot"))
        .explode("slot")
        .with_columns((pl.col("free_slots") - pl.col("slot")).alias("remaining"))
        .sort(["remaining", "case_manager_id"], descending=[True, False])
        .with_row_index("rank", offset=1)
        .select(
            pl.col("rank").cast(pl.Int64),
            pl.col("case_manager_id").alias("suggested_case_manager_id"),
            pl.col("program").alias("suggested_program"),
            pl.col("team").alias("suggested_team"),
        )
    )
    out = people.join(slots, on="rank", how="left").select(OUTPUT_COLUMNS).sort("rank").collect()
    return out
