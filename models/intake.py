"""The ranked, explained intake list for case management.

Who is eligible, the member context (latest discharge, open care gaps, region) and each case
manager's open capacity are SQL files in ``features/sql/ml__intake_*.sql`` and
``ml__case_manager_open_capacity.sql``; this module ranks, cuts at capacity and suggests a case
manager. One row per listed member, with only the fields a case manager needs.

An evaluation lottery at the margin (``IntakeOptions.evaluation_lottery``): when eligible members
outnumber the open slots, the members whose ranks sit closest to the capacity cut form a band, and
the slots the band would have filled go to a seeded random half of it; everyone above the band is
listed as before. Each band member, offered or not, is logged in ``marts.intake_assignment`` so the
program-effect estimate can compare the two halves (a randomised, intention-to-treat comparison).
``lottery_sample_size`` and ``lottery_rounds`` say how many rounds such a comparison needs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl
from scipy.stats import norm

from features.sqlfiles import ensure_schema, load_sql

CONTACT_BUSINESS_DAYS = 2
TIERS = ((95.0, "very_high"), (80.0, "high"), (50.0, "moderate"))
NO_FURTHER_REASON = "no other factor raises risk"
NO_REASONS = "reasons not computed for this score row"
SCORE_NAMES = ("readmission", "high_need")
MODEL_SCORE_BASIS = "calibrated probability"
OUTPUT_COLUMNS = (
    "rank", "person_id", "score", "score_basis", "score_percentile", "risk_tier", "rising_risk_flag",
    "reason_1", "reason_2", "reason_3", "benefit", "benefit_ci_low", "benefit_ci_high",
    "benefit_reason_1", "benefit_reason_2", "rank_basis", "latest_discharge_date", "days_since_discharge",
    "open_care_gaps", "suggested_program", "suggested_case_manager_id", "suggested_team", "contact_by_date",
)
# How the list is ordered (IntakeOptions.rank_by; docs/evaluation.md, "Ranking by expected benefit"):
# risk = the calibrated probability; benefit = the estimated reduction in 30-day readmission risk if
# enrolled at this discharge (models.benefit); blend = expected readmissions averted = probability x
# the estimated relative reduction. Benefit and blend rank discharges, so they need the readmission list.
RANK_BASES: dict[str, str] = {
    "risk": "ranked by risk",
    "benefit": "ranked by expected benefit (estimated reduction in 30-day readmission risk)",
    "blend": "ranked by expected readmissions averted (risk x estimated relative reduction)",
}
BENEFIT_OUTCOME = "readmit_30d"
NO_BENEFIT = "no benefit estimate for this member"
BENEFIT_COLUMNS = ("stay_id", "benefit", "benefit_ci_low", "benefit_ci_high", "relative_reduction",
                   "benefit_reason_1", "benefit_reason_2")
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
    # Evaluation lottery at the margin: the band holds round(evaluation_lottery x open slots) members
    # closest to the cut; 0 turns it off. The seed defaults to one derived from the as-of date, so
    # re-running an as-of draws the same lottery.
    evaluation_lottery: float = 0.0
    lottery_seed: int | None = None
    rank_by: str = "risk"  # a key of RANK_BASES


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
        need |= {"discharge_date", "stay_id"}
    if missing := sorted(need - set(scores.columns)):
        raise ValueError(f"{score_name} scores lack columns {missing}")
    frame = scores.lazy().with_columns(
        (pl.col("score_raw") if "score_raw" in scores.columns else pl.col("score")).cast(pl.Float64).alias("score_raw"),
        (pl.col("score_basis") if "score_basis" in scores.columns else pl.lit(MODEL_SCORE_BASIS)).alias("score_basis"),
        (pl.col("stay_id").cast(pl.String) if "stay_id" in scores.columns else pl.lit(None, dtype=pl.String)).alias("stay_id"),
    )
    if score_name == "readmission":
        frame = frame.filter(
            pl.col("discharge_date").is_between(as_of - dt.timedelta(days=options.lookback_days), as_of, closed="left")
        )
    return (
        frame.sort(["score", "score_raw"], descending=True, nulls_last=True)
        .group_by("person_id", maintain_order=True)
        .first()
        .select("person_id", "stay_id", "score", "score_raw", "score_basis", "reason_1", "reason_2", "reason_3")
    )


def check_rank_by(rank_by: str, score_name: str) -> None:
    """A ranking the list can use: benefit and blend need the readmission list (the benefit is
    estimated at discharges)."""
    if rank_by not in RANK_BASES:
        raise ValueError(f"intake rank must be one of {sorted(RANK_BASES)}, not {rank_by!r}")
    if rank_by != "risk" and score_name != "readmission":
        raise ValueError(f"ranking by {rank_by} needs the readmission list: the expected benefit is estimated at "
                         f"a discharge, and the {score_name} list ranks members without one; use --intake-score "
                         "readmission or --intake-rank risk")


def benefit_candidates(benefit: pl.DataFrame | None) -> pl.LazyFrame:
    """The 30-day readmission benefit rows of ``ml.benefit_score`` keyed by stay (empty when none)."""
    schema = {"stay_id": pl.String, "benefit": pl.Float64, "benefit_ci_low": pl.Float64, "benefit_ci_high": pl.Float64,
              "relative_reduction": pl.Float64, "benefit_reason_1": pl.String, "benefit_reason_2": pl.String}
    if benefit is None or benefit.height == 0 or not set(BENEFIT_COLUMNS) <= set(benefit.columns):
        return pl.LazyFrame(schema=schema)
    return (benefit.lazy().filter(pl.col("outcome") == BENEFIT_OUTCOME)
            .select(pl.col("stay_id").cast(pl.String), *BENEFIT_COLUMNS[1:]).cast(schema)
            .unique("stay_id", keep="first"))


def _rank_order(rank_by: str) -> tuple[list, list[bool]]:
    """Sort keys (and descending flags) of a ranking; ties fall back to risk, then person_id."""
    risk = [pl.col("score"), pl.col("score_raw")]
    if rank_by == "benefit":
        return [pl.col("benefit"), *risk, pl.col("person_id")], [True, True, True, False]
    if rank_by == "blend":
        averted = pl.col("score") * pl.col("relative_reduction")
        return [averted, *risk, pl.col("person_id")], [True, True, True, False]
    return [*risk, pl.col("person_id")], [True, True, False]


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


ASSIGNMENT_TABLE = "marts.intake_assignment"
ASSIGNMENT_COLUMNS = (
    "assignment_date", "person_id", "program", "lottery_band_flag", "offered_flag", "lottery_seed",
    "score_name", "rank", "capacity", "band_size", "round_id", "score", "benefit",
)
ASSIGNMENT_SCHEMA = {
    "assignment_date": pl.Date, "person_id": pl.String, "program": pl.String, "lottery_band_flag": pl.Int64,
    "offered_flag": pl.Int64, "lottery_seed": pl.Int64, "score_name": pl.String, "rank": pl.Int64,
    "capacity": pl.Int64, "band_size": pl.Int64, "round_id": pl.String, "score": pl.Float64, "benefit": pl.Float64,
}
# The lottery randomises across every program's slots of the list, so its comparison is of the
# offer of case management in any program (the program_effect convention for "overall").
LOTTERY_PROGRAM = "all"


@dataclass(frozen=True)
class LotteryBand:
    """Where the band sits in a ranked list: ``above`` members just inside the capacity cut (ranks
    capacity - above + 1 .. capacity) and ``below`` just outside it (capacity + 1 .. capacity + below);
    ``above`` of the band are offered, so the list still holds exactly ``capacity`` members."""

    capacity: int
    above: int
    below: int

    @property
    def size(self) -> int:
        return self.above + self.below

    @property
    def first_rank(self) -> int:
        return self.capacity - self.above + 1

    @property
    def last_rank(self) -> int:
        return self.capacity + self.below


@dataclass(frozen=True)
class IntakeResult:
    """The intake list, the lottery's band log (empty when no lottery ran) and, when it did not run
    although asked for, why (one sentence with counts only)."""

    intake: pl.DataFrame
    assignment: pl.DataFrame
    lottery_note: str = ""


def lottery_band(capacity: int, eligible: int, fraction: float) -> LotteryBand | None:
    """The band of ``round(fraction x capacity)`` members around the cut: half above it, half below
    (the odd member below). Clipped symmetrically when either side runs short (at most ``capacity``
    above, at most ``eligible - capacity`` below, the two sides within one of each other). None when
    there is nothing to randomise: no fraction, eligible members do not outnumber the slots, or the
    band would hold no one on one side."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"evaluation lottery fraction must be between 0 and 1, not {fraction}")
    size = round(fraction * capacity)
    spare = eligible - capacity
    if size < 2 or capacity < 1 or spare < 1:
        return None
    above = min(size // 2, capacity, spare)
    below = min(size - size // 2, spare, above + 1)
    return LotteryBand(capacity=capacity, above=above, below=below)


def draw_lottery(ranked: pl.DataFrame, band: LotteryBand, seed: int) -> pl.DataFrame:
    """``ranked`` (one row per eligible member, ``rank`` 1..n) with ``lottery_band_flag`` and
    ``offered_flag``: ranks above the band are offered as without a lottery, ranks past the band are
    not, and within the band a seeded random ``band.above`` members are offered. The draw depends
    only on the band's rank order and the seed."""
    draw = pl.DataFrame({
        "rank": pl.int_range(band.first_rank, band.last_rank + 1, eager=True).cast(pl.Int64),
        "_drawn": np.random.default_rng(seed).permutation(band.size) < band.above,  # exactly band.above
    })
    in_band = pl.col("rank").is_between(band.first_rank, band.last_rank)
    return ranked.join(draw, on="rank", how="left").with_columns(
        in_band.cast(pl.Int64).alias("lottery_band_flag"),
        pl.when(in_band).then(pl.col("_drawn")).otherwise(pl.col("rank") < band.first_rank)
        .cast(pl.Int64).alias("offered_flag"),
    ).drop("_drawn")


def no_lottery(ranked: pl.DataFrame, capacity: int) -> pl.DataFrame:
    """``ranked`` with the flags of a plain cut at ``capacity``: no band, the top ranks offered."""
    return ranked.with_columns(
        pl.lit(0, dtype=pl.Int64).alias("lottery_band_flag"),
        (pl.col("rank") <= capacity).cast(pl.Int64).alias("offered_flag"),
    )


def default_lottery_seed(as_of: dt.date) -> int:
    """The seed used when none is configured: the as-of date as YYYYMMDD, so a re-run of the same
    as-of draws the same lottery and each round its own."""
    return as_of.year * 10_000 + as_of.month * 100 + as_of.day


def lottery_sample_size(control_rate: float, reduction: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Members per arm to detect ``control_rate`` falling by ``reduction`` (a proportion, 0.03 for 3
    points) with a two-sided test of two proportions at level ``alpha`` with ``power``: the normal
    approximation without continuity correction (Fleiss, Levin & Paik 2003, eq. 4.14),
    n = [z(1-a/2) sqrt(2 p q) + z(power) sqrt(p1 q1 + p2 q2)]^2 / (p1 - p2)^2 with p the mean of
    p1 and p2, rounded up."""
    p1, p2 = control_rate, control_rate - reduction
    if not (0.0 < p1 < 1.0 and 0.0 < p2 < 1.0) or reduction == 0:
        raise ValueError(f"rates must lie in (0, 1) and differ: control {control_rate}, reduction {reduction}")
    p_bar = (p1 + p2) / 2
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    n = (z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p1 - p2) ** 2
    return math.ceil(n - 1e-9)


def lottery_rounds(n_per_arm: int, band_size: int) -> int:
    """Rounds of a lottery with ``band_size`` members each until both arms hold ``n_per_arm``: each
    round adds band_size // 2 offered members (the smaller arm for an odd band)."""
    per_round = band_size // 2
    if per_round < 1:
        raise ValueError(f"a lottery band needs at least 2 members, not {band_size}")
    return math.ceil(n_per_arm / per_round)


def _ranked_candidates(
    con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, as_of: dt.date, score_name: str, options: IntakeOptions,
    benefit: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every eligible scored member with context and the estimated benefit at the listed
    discharge, in list order (``rank`` 1..n, by ``options.rank_by``)."""
    check_rank_by(options.rank_by, score_name)
    eligible = eligible_members(con, as_of, options).lazy()
    context = member_context(con, as_of).lazy()
    previous = previous_scores(con, score_name, as_of).lazy()
    keys, descending = _rank_order(options.rank_by)
    return (
        score_candidates(scores, score_name, as_of, options)
        .join(eligible, on="person_id", how="inner")
        .join(context, on="person_id", how="left")
        .join(previous, on="person_id", how="left")
        .join(benefit_candidates(benefit), on="stay_id", how="left")
        .sort(keys, descending=descending, nulls_last=True)
        # a rank-only score (no model: score is null) takes its percentile from score_raw
        .with_columns((pl.coalesce("score", "score_raw").rank("max") / pl.len() * 100).round(1).alias("score_percentile"))
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
        .collect()
    )


def candidate_pool(
    con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, as_of: dt.date, benefit: pl.DataFrame | None,
    options: IntakeOptions = IntakeOptions(),
) -> pl.DataFrame:
    """Every member eligible for the readmission list on ``as_of`` with the risk score, the
    estimated benefit and relative reduction at the listed discharge (for comparing rankings:
    models.benefit_eval); the list itself is the top of this pool by ``options.rank_by``."""
    return _ranked_candidates(con, scores, as_of, "readmission", options, benefit).select(
        "person_id", "stay_id", "score", "score_raw", "benefit", "relative_reduction")


def _assignment_log(drawn: pl.DataFrame, band: LotteryBand, seed: int, as_of: dt.date, score_name: str) -> pl.DataFrame:
    return drawn.filter(pl.col("lottery_band_flag") == 1).select(
        pl.lit(as_of, dtype=pl.Date).alias("assignment_date"),
        "person_id",
        pl.lit(LOTTERY_PROGRAM).alias("program"),
        "lottery_band_flag",
        "offered_flag",
        pl.lit(seed, dtype=pl.Int64).alias("lottery_seed"),
        pl.lit(score_name).alias("score_name"),
        "rank",
        pl.lit(band.capacity, dtype=pl.Int64).alias("capacity"),
        pl.lit(band.size, dtype=pl.Int64).alias("band_size"),
        pl.lit(f"{score_name}:{as_of.isoformat()}").alias("round_id"),
        pl.col("score").cast(pl.Float64),
        pl.col("benefit").cast(pl.Float64),
    ).sort("rank")


def build_intake(
    con: duckdb.DuckDBPyConnection,
    scores: pl.DataFrame,
    as_of: dt.date,
    score_name: str = "readmission",
    options: IntakeOptions = IntakeOptions(),
    benefit: pl.DataFrame | None = None,
) -> IntakeResult:
    """Rank eligible members by the configured score and cut the list at the team's open capacity,
    running the evaluation lottery at the cut when ``options.evaluation_lottery`` is set.

    ``scores``: ``ml.readmission_score`` (person_id, stay_id, discharge_date, score, score_raw,
    reason_1..3) or ``ml.high_need_score`` (person_id, score, score_raw, reason_1..3). Ranked by
    ``options.rank_by`` (RANK_BASES; default risk: score, then score_raw where calibrated scores
    tie, then person_id); ``benefit`` (``ml.benefit_score``) gives each listed discharge its
    estimated benefit and benefit reasons whatever the ranking. score_percentile is among
    eligible scored members before the cut. The list holds at most sum(free slots) of active case
    managers (capacity, capped by the program's caseload cap, minus the active caseload, acuity
    weighted when configured); with no roster at all, the top ``options.no_roster_list_size``
    members and no suggested case manager (and no lottery: there are no slots to randomise). With
    a lottery the list holds the members above the band and the band's offered half, ranked 1..k in
    score order; the band's other half is only in the assignment log. Needs raw.eligibility,
    raw.encounter, raw.cm_case, raw.cm_roster, core.inpatient_stay; reads marts.score_history when
    present for the rising-risk flag.
    """
    managers = open_capacity(con, as_of, options)
    roster_size = con.execute("SELECT count(*) FROM raw.cm_roster").fetchone()[0]
    total_free = int(managers["free_slots"].sum()) if managers.height else 0
    if roster_size == 0:
        total_free = options.no_roster_list_size
    ranked = _ranked_candidates(con, scores, as_of, score_name, options, benefit)
    band, note = None, ""
    if options.evaluation_lottery > 0:
        if roster_size == 0:
            note = "not run: the source has no case-manager roster, so there are no open slots to randomise"
        else:
            band = lottery_band(total_free, ranked.height, options.evaluation_lottery)
            if band is None:
                note = (f"not run: {ranked.height} eligible members for {total_free} open slots "
                        f"leave no band of two or more at the cut")
    seed = options.lottery_seed if options.lottery_seed is not None else default_lottery_seed(as_of)
    drawn = draw_lottery(ranked, band, seed) if band is not None else no_lottery(ranked, total_free)
    assignment = (_assignment_log(drawn, band, seed, as_of, score_name) if band is not None
                  else pl.DataFrame(schema=ASSIGNMENT_SCHEMA))
    people = (
        drawn.lazy()
        .filter(pl.col("offered_flag") == 1)
        .sort("rank")
        .drop("rank")
        .with_row_index("rank", offset=1)
        .with_columns(
            pl.col("rank").cast(pl.Int64),
            _tier(pl.col("score_percentile")).alias("risk_tier"),
            ((pl.col("score") - pl.col("previous_score")) >= options.rising_delta).fill_null(False)
            .cast(pl.Int64).alias("rising_risk_flag"),
            pl.col("reason_2").fill_null(pl.lit(NO_FURTHER_REASON)),
            pl.col("reason_3").fill_null(pl.lit(NO_FURTHER_REASON)),
            pl.col("reason_1").fill_null(pl.lit(NO_REASONS)),
            pl.col("benefit_reason_1").fill_null(pl.lit(NO_BENEFIT)),
            pl.lit(RANK_BASES[options.rank_by]).alias("rank_basis"),
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
    intake = people.join(assigned, on="rank", how="left").select(OUTPUT_COLUMNS).sort("rank")
    return IntakeResult(intake=intake, assignment=assignment, lottery_note=note)


def build_intake_list(
    con: duckdb.DuckDBPyConnection,
    scores: pl.DataFrame,
    as_of: dt.date,
    score_name: str = "readmission",
    options: IntakeOptions = IntakeOptions(),
    benefit: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The intake list of :func:`build_intake` (without the lottery log)."""
    return build_intake(con, scores, as_of, score_name, options, benefit).intake


def record_assignment(con: duckdb.DuckDBPyConnection, as_of: dt.date, assignment: pl.DataFrame) -> int:
    """Append this round's band to ``marts.intake_assignment`` (created when absent), replacing any
    rows an earlier run wrote for the same as-of date, so a re-run replaces its round instead of
    adding a second one. A run without a lottery removes that as-of's round. Returns the rows written."""
    ensure_schema(con, "marts")
    con.execute(load_sql("marts__intake_assignment"))
    rows = assignment.select(ASSIGNMENT_COLUMNS).cast(ASSIGNMENT_SCHEMA)  # read by DuckDB by name below
    con.execute(f"DELETE FROM {ASSIGNMENT_TABLE} WHERE assignment_date = $as_of", {"as_of": as_of})
    con.execute(f"INSERT INTO {ASSIGNMENT_TABLE} BY NAME SELECT * FROM rows")
    return assignment.height


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
