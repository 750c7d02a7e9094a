"""The ranked, explained intake list for case management.

Who is eligible, the member context (latest discharge, open care gaps, region) and each case
manager's open capacity are SQL files in ``features/sql/ml__intake_*.sql`` and
``ml__case_manager_open_capacity.sql``; this module ranks, cuts at capacity and suggests a case
manager. One row per listed member, with only the fields a case manager needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl

from features.sqlfiles import load_sql

CONTACT_BUSINESS_DAYS = 2
TIERS = ((95.0, "very_high"), (80.0, "high"), (50.0, "moderate"))
NO_FURTHER_REASON = "no other factor raises risk"
NO_REASONS = "reasons not computed for this score row"
SCORE_NAMES = ("readmission", "high_need")
OUTPUT_COLUMNS = (
    "rank", "person_id", "score", "score_percentile", "risk_tier", "rising_risk_flag",
    "reason_1", "reason_2", "reason_3", "latest_discharge_date", "days_since_discharge", "open_care_gaps",
    "suggested_program", "suggested_case_manager_id", "suggested_team", "contact_by_date",
)
# Caseload caps per program model (active cases per staff member): ACT fidelity (DACTS) about 10,
# intensive case management 20-50, brokerage higher. A roster capacity above the cap is cut to it.
PROGRAM_CASELOAD_CAP: dict[str, int] = {
    "assertive_community_treatment": 10,
    "intensive_case_management": 50,
    "care_transitions": 25,
    "complex_care": 40,
    "brokerage": 80,
}
# Program preference when suggesting a case manager: recent discharges go to care transitions
# first, high-need members to complex care first; then any program with room.
PROGRAM_PREFERENCE: dict[str, tuple[str, ...]] = {
    "readmission": ("care_transitions", "complex_care", "intensive_case_management", "brokerage",
                    "assertive_community_treatment"),
    "high_need": ("complex_care", "intensive_case_management", "care_transitions", "brokerage",
                  "assertive_community_treatment"),
}


@dataclass(frozen=True)
class IntakeOptions:
    """Knobs of the intake list (the defaults are what the pipeline runs)."""

    lookback_days: int = 30  # readmission score: stays discharged in [as_of - lookback, as_of)
    acuity_weighted: bool = False  # caseload counts acuity_level (1-3) instead of 1 per case
    program_caps: dict[str, int] = field(default_factory=lambda: dict(PROGRAM_CASELOAD_CAP))
    rising_delta: float = 0.10  # score rise since the member's previous scoring run that marks rising risk
    declined_days: int = 90  # members who declined within this many days are not offered again
    # A source with no case-manager roster at all (EHR extracts) still gets a ranked list of this
    # many members, with no suggested case manager; a roster that is full gets an empty list.
    no_roster_list_size: int = 25


def open_capacity(con: duckdb.DuckDBPyConnection, as_of: dt.date, options: IntakeOptions = IntakeOptions()) -> pl.DataFrame:
    """Active case managers with their caseload and free slots on ``as_of``."""
    caps = pl.DataFrame({"program": list(options.program_caps), "cap": list(options.program_caps.values())},
                        schema={"program": pl.String, "cap": pl.Int64})
    con.execute("CREATE OR REPLACE TEMP TABLE _program_cap AS SELECT * FROM caps")
    return con.execute(load_sql("ml__case_manager_open_capacity"),
                       {"as_of": as_of, "acuity_weighted": options.acuity_weighted}).pl()


def eligible_members(con: duckdb.DuckDBPyConnection, as_of: dt.date, options: IntakeOptions = IntakeOptions()) -> pl.DataFrame:
    return con.execute(load_sql("ml__intake_eligible_member"), {"as_of": as_of, "declined_days": options.declined_days}).pl()


def member_context(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pl.DataFrame:
    return con.execute(load_sql("ml__intake_member_context"), {"as_of": as_of}).pl()


def previous_scores(con: duckdb.DuckDBPyConnection, score_name: str, as_of: dt.date) -> pl.DataFrame:
    """Each member's score from the latest earlier scoring run (``marts.score_history``)."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_schema = 'marts' AND table_name = 'score_history'").fetchone()[0]
    if not exists:
        return pl.DataFrame(schema={"person_id": pl.String, "previous_score": pl.Float64})
    return con.execute(
        """
        SELECT person_id, arg_max(score, scored_as_of_date) AS previous_score
        FROM marts.score_history
        WHERE score_name = $score_name AND scored_as_of_date < $as_of
        GROUP BY person_id
        """,
        {"score_name": score_name, "as_of": as_of},
    ).pl()


def _tier(pct: pl.Expr) -> pl.Expr:
    expr = pl.lit("low")
    for threshold, name in reversed(TIERS):
        expr = pl.when(pct >= threshold).then(pl.lit(name)).otherwise(expr)
    return expr


def _care_gaps() -> pl.Expr:
    parts = [
        pl.when(pl.col("gap_no_followup_7d") == 1).then(pl.lit("no follow-up visit within 7 days of discharge")),
        pl.when(pl.col("gap_no_pcp_12m") == 1).then(pl.lit("no PCP visit in 12 months")),
    ]
    return pl.concat_str(parts, separator="; ", ignore_nulls=True).replace("", None).alias("open_care_gaps")


def score_candidates(scores: pl.DataFrame, score_name: str, as_of: dt.date, options: IntakeOptions) -> pl.LazyFrame:
    """One row per person from the score table: for ``readmission`` the highest-scoring stay
    discharged in the lookback window, for ``high_need`` the member's score."""
    if score_name not in SCORE_NAMES:
        raise ValueError(f"intake score must be one of {SCORE_NAMES}, not {score_name!r}")
    need = {"person_id", "score", "reason_1", "reason_2", "reason_3"}
    if score_name == "readmission":
        need |= {"discharge_date"}
    if missing := sorted(need - set(scores.columns)):
        raise ValueError(f"{score_name} scores lack columns {missing}")
    frame = scores.lazy().with_columns(
        (pl.col("score_raw") if "score_raw" in scores.columns else pl.col("score")).cast(pl.Float64).alias("score_raw")
    )
    if score_name == "readmission":
        frame = frame.filter(
            pl.col("discharge_date").is_between(as_of - dt.timedelta(days=options.lookback_days), as_of, closed="left")
        )
    return (
        frame.sort(["score", "score_raw"], descending=True, nulls_last=True)
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "score", "score_raw", "reason_1", "reason_2", "reason_3")
    )


def _assign(people: pl.DataFrame, managers: pl.DataFrame, score_name: str) -> pl.DataFrame:
    """Suggest a case manager per listed member: first within the member's region, then anywhere;
    within a region, by the score's program preference, then the manager with the most free slots
    (so the list is spread over the team), ties by id. Each slot is used once, so a manager never
    gets more members than free slots."""
    preference = {p: i for i, p in enumerate(PROGRAM_PREFERENCE[score_name])}
    slots = (
        managers.filter(pl.col("free_slots") > 0)
        .with_columns(pl.int_ranges(0, pl.col("free_slots")).alias("slot"))
        .explode("slot")
        .with_columns(
            (pl.col("free_slots") - pl.col("slot")).alias("remaining"),
            pl.col("program").replace_strict(preference, default=len(preference), return_dtype=pl.Int64).alias("pref"),
        )
        .sort(["pref", "remaining", "case_manager_id"], descending=[False, True, False])
        .with_row_index("slot_id")
        .with_columns(pl.int_range(pl.len()).over("region").alias("region_order"))
    )
    members = people.select("rank", "region").sort("rank").with_columns(
        pl.int_range(pl.len()).over("region").alias("region_order")
    )
    # round 1: the n-th member of a region takes the n-th slot of that region
    first = members.join(slots.select("slot_id", "region", "region_order"), on=["region", "region_order"], how="inner")
    # round 2: the members left, in rank order, take the slots left, in slot order
    rest_members = members.join(first, on="rank", how="anti").sort("rank").with_row_index("order")
    rest_slots = slots.join(first, on="slot_id", how="anti").sort("slot_id").with_row_index("order")
    second = rest_members.join(rest_slots.select("order", "slot_id"), on="order", how="inner")
    matched = pl.concat([first.select("rank", "slot_id"), second.select("rank", "slot_id")])
    return matched.join(slots, on="slot_id").select(
        "rank",
        pl.col("program").alias("suggested_program"),
        pl.col("case_manager_id").alias("suggested_case_manager_id"),
        pl.col("team").alias("suggested_team"),
    )


def build_intake_list(
    con: duckdb.DuckDBPyConnection,
    scores: pl.DataFrame,
    as_of: dt.date,
    score_name: str = "readmission",
    options: IntakeOptions = IntakeOptions(),
) -> pl.DataFrame:
    """Rank eligible members by the configured score and cut the list at the team's open capacity.

    ``scores``: ``ml.readmission_score`` (person_id, stay_id, discharge_date, score, score_raw,
    reason_1..3) or ``ml.high_need_score`` (person_id, score, score_raw, reason_1..3). Ranked by
    score, then score_raw where calibrated scores tie, then person_id. score_percentile is among
    eligible scored members before the cut. The list holds at most sum(free slots) of active case
    managers (capacity, capped by the program's caseload cap, minus the active caseload, acuity
    weighted when configured); with no roster at all, the top ``options.no_roster_list_size``
    members and no suggested case manager. Needs raw.eligibility, raw.encounter, raw.cm_case, raw.cm_roster,
    core.inpatient_stay; reads marts.score_history when present for the rising-risk flag.
    """
    managers = open_capacity(con, as_of, options)
    roster_size = con.execute("SELECT count(*) FROM raw.cm_roster").fetchone()[0]
    total_free = int(managers["free_slots"].sum()) if managers.height else 0
    if roster_size == 0:
        total_free = options.no_roster_list_size
    eligible = eligible_members(con, as_of, options).lazy()
    context = member_context(con, as_of).lazy()
    previous = previous_scores(con, score_name, as_of).lazy()

    people = (
        score_candidates(scores, score_name, as_of, options)
        .join(eligible, on="person_id", how="inner")
        .join(context, on="person_id", how="left")
        .join(previous, on="person_id", how="left")
        .sort(["score", "score_raw", "person_id"], descending=[True, True, False], nulls_last=True)
        .with_columns((pl.col("score").rank("max") / pl.len() * 100).round(1).alias("score_percentile"))
        .with_row_index("rank", offset=1)
        .filter(pl.col("rank") <= total_free)
        .with_columns(
            pl.col("rank").cast(pl.Int64),
            _tier(pl.col("score_percentile")).alias("risk_tier"),
            ((pl.col("score") - pl.col("previous_score")) >= options.rising_delta).fill_null(False)
            .cast(pl.Int64).alias("rising_risk_flag"),
            pl.col("reason_2").fill_null(pl.lit(NO_FURTHER_REASON)),
            pl.col("reason_3").fill_null(pl.lit(NO_FURTHER_REASON)),
            pl.col("reason_1").fill_null(pl.lit(NO_REASONS)),
            (pl.lit(as_of) - pl.col("latest_discharge_date")).dt.total_days().alias("days_since_discharge"),
            pl.max_horizontal(
                pl.coalesce(pl.col("latest_discharge_date"), pl.lit(as_of))
                .dt.add_business_days(CONTACT_BUSINESS_DAYS, roll="forward"),
                pl.lit(as_of),
            ).alias("contact_by_date"),
            _care_gaps(),
        )
        .collect()
    )
    assigned = _assign(people, managers, score_name)
    return people.join(assigned, on="rank", how="left").select(OUTPUT_COLUMNS).sort("rank")


# Features that record case-management status. Expected risk for the KPI comparison is computed as if
# the member were not in case management, so a programme effect shows up as O/E below 1 instead of
# being absorbed into the expectation.
CASE_MANAGEMENT_FEATURES: tuple[str, ...] = ("open_cm_case_flag",)


def expected_readmission_risk(
    model, frame: pl.DataFrame, neutralise: tuple[str, ...] = CASE_MANAGEMENT_FEATURES
) -> pl.DataFrame:
    """stay_id and the model's calibrated probability for every row of a
    ``features.readmission_stay``-shaped frame, with the ``neutralise`` features set to 0 (the
    expected count behind O/E in the KPI mart: risk as if not in case management). The probability is
    the recalibrated one when the model's test O/E interval excluded 1 (``TrainedModel.recalibrated``)."""
    if frame.height == 0:
        return pl.DataFrame(schema={"stay_id": pl.String, "expected_p": pl.Float64})
    zeroed = [c for c in neutralise if c in model.feature_names]
    x = frame.with_columns(pl.lit(0, dtype=frame.schema[c]).alias(c) for c in zeroed).select(model.feature_names)
    recalibrated = getattr(model, "recalibrated", None)
    p = np.asarray(recalibrated.apply(model.predict_raw(x.to_numpy())) if recalibrated is not None
                   else model.predict(x.to_numpy()), dtype=float)
    return frame.select("stay_id").with_columns(pl.Series("expected_p", p, dtype=pl.Float64))
