"""Program KPI marts: each ``marts.kpi_*`` table, its written definition, and the run histories
(earlier intake lists and scores) that the list-performance and drift KPIs compare against.

Every table is one SQL file in ``features/sql/marts__kpi_*.sql`` whose header states the grain,
numerator, denominator and exclusions; ``KPI_DEFINITIONS`` carries the same words into
``marts.kpi_definition`` so the program-lead report can print them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from features.coverage import cached_month_coverage
from features.readmission import materialise_labels
from features.sqlfiles import define_macros, ensure_schema, load_sql, naming, run_sql

KPI_READMISSION_TABLE = "marts.kpi_readmission_monthly"
KPI_MONTHS = 24  # months of history in the monthly KPI tables
PSI_BINS = 10
HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS marts.intake_list_history ("
    "list_as_of_date DATE, score_name VARCHAR, person_id VARCHAR, rank BIGINT, score DOUBLE)",
    "CREATE TABLE IF NOT EXISTS marts.score_history ("
    "scored_as_of_date DATE, score_name VARCHAR, person_id VARCHAR, score DOUBLE)",
)


@dataclass(frozen=True)
class KpiDefinition:
    kpi: str
    table: str
    columns: str
    numerator: str
    denominator: str
    exclusions: str
    grain: str


_LEVELS = "month x level (all / program / team / case_manager)"
KPI_DEFINITIONS: tuple[KpiDefinition, ...] = (
    KpiDefinition("30-day readmission rate (observed)", "marts.kpi_transition_monthly", "readmission_rate",
                  "index stays with an acute admission 1-30 days after discharge that the CMS Planned "
                  "Readmission Algorithm does not call planned",
                  "index stays whose 30-day window closed before the as-of date",
                  "the readmission label's exclusions (died in hospital, left against medical advice, transfer "
                  "out, not enrolled for the 30 days after discharge); stays of opted-out members not in case "
                  "management", f"discharge {_LEVELS} x cohort (in case management / comparable)"),
    KpiDefinition("Expected readmissions and O/E", "marts.kpi_transition_monthly",
                  "expected_readmissions, oe_ratio",
                  "observed readmissions among stays the current model scored",
                  "sum of the current readmission model's calibrated probabilities for those stays, computed "
                  "as if not in case management (case-management features set to 0)",
                  "as above; stays without a model probability; months inside the training window are "
                  "in-sample", f"discharge {_LEVELS} x cohort"),
    KpiDefinition("Follow-up within 7 days of discharge", "marts.kpi_transition_monthly", "followup_7d_rate",
                  "index stays with an office, telehealth or home-health visit 1-7 days after discharge",
                  "index stays whose 7-day window closed before the as-of date", "as for readmission",
                  f"discharge {_LEVELS} x cohort"),
    KpiDefinition("Time from referral to first contact", "marts.kpi_referral_monthly",
                  "days_to_first_contact_median, days_to_first_contact_p90",
                  "days from referral_date to first_contact_date (median, 90th percentile)",
                  "cases referred in the month with a first contact", "never-reached cases (counted in not_reached)",
                  f"referral {_LEVELS}"),
    KpiDefinition("Engagement rate", "marts.kpi_referral_monthly", "engagement_rate",
                  "referrals that opened (enrolled)", "referrals opened or closed without opening",
                  "referrals still pending on the as-of date", f"referral {_LEVELS}"),
    KpiDefinition("Referral completion", "marts.kpi_referral_monthly", "referral_completion_rate",
                  "services received", "services referred", "cases that do not report both counts",
                  f"referral {_LEVELS}"),
    KpiDefinition("Caseload per case manager against the guideline", "marts.kpi_caseload_monthly",
                  "caseload_per_manager, within_guideline_managers, above_guideline_managers",
                  "active cases on the snapshot date (acuity-weighted in acuity_weighted_cases)",
                  "active case managers; guideline 15-25 acute, 30-40 community (configurable)",
                  "inactive case managers", "month-end snapshot x level"),
    KpiDefinition("Case length", "marts.kpi_case_closure_monthly", "case_length_days_median",
                  "days from open_date to close_date", "cases closed in the month that had opened",
                  "cases never opened", f"close {_LEVELS}"),
    KpiDefinition("Case resolution time", "marts.kpi_case_closure_monthly", "resolution_days_median",
                  "days from referral_date to close_date", "cases closed in the month with goals met",
                  "cases closed for any other reason", f"close {_LEVELS}"),
    KpiDefinition("Goals achieved", "marts.kpi_case_closure_monthly", "goals_achieved_rate",
                  "goals with status achieved", "goals set in cases closed in the month",
                  "cases never opened", f"close {_LEVELS}"),
    KpiDefinition("Client satisfaction", "marts.kpi_case_closure_monthly", "satisfaction_mean, satisfied_share",
                  "sum of scores (mean) / responses scoring 4-5 (share)", "closed cases with a survey response",
                  "cases without a response; null when no responses are supplied", f"close {_LEVELS}"),
    KpiDefinition("Follow-up compliance", "marts.kpi_contact_compliance_monthly", "followup_compliance_rate",
                  "scheduled contacts made on or before the scheduled date", "scheduled contacts due in the month",
                  "unplanned attempts (no scheduled date)", f"scheduled {_LEVELS}"),
    KpiDefinition("Documentation completeness", "marts.kpi_documentation", "documentation_completeness_rate",
                  "open cases with an assessment, a care plan, a goal and a contact note in the last 30 days",
                  "cases open on the as-of date", "cases opened less than 14 days before the as-of date",
                  "as-of snapshot x level"),
    KpiDefinition("ED visits and admissions per 1,000 member-months", "marts.kpi_utilization_monthly",
                  "ed_visits_per_1000_mm, admissions_per_1000_mm",
                  "ED encounters / acute admissions starting in the month x 1,000",
                  "member-months (enrolled and alive on the 15th)", "none", f"{_LEVELS} x cohort"),
    KpiDefinition("PMPM cost", "marts.kpi_utilization_monthly", "pmpm_paid_amount",
                  "medical + pharmacy paid amount with service in the month", "member-months", "none",
                  f"{_LEVELS} x cohort"),
    KpiDefinition("How last period's list performed", "marts.kpi_list_performance", "event_rate, expected_events",
                  "listed members with an unplanned admission within 30 days of the list date",
                  "members on that list", "lists whose 30-day window has not closed", "list date x score"),
    KpiDefinition("Calibration of last period's list (O/E)", "marts.kpi_list_performance",
                  "oe_ratio, oe_ci_low, oe_ci_high, oe_flag",
                  "listed members with an unplanned admission within 30 days of the list date (observed)",
                  "sum of the listed members' calibrated 30-day readmission probabilities (expected); 95% interval "
                  "exact Poisson on the observed count; oe_flag 'outside 0.8-1.25' when O/E leaves that band",
                  "lists whose 30-day window has not closed; scores that are not a 30-day probability (high need: "
                  "12-month) have no O/E", "list date x score"),
    KpiDefinition("Score drift (PSI)", "marts.kpi_score_drift", "psi",
                  "sum over score deciles of the earlier run of (cur% - prev%) x ln(cur% / prev%)",
                  "-", "needs two scoring runs with different as-of dates; < 0.1 stable, 0.1-0.25 moderate, "
                  "> 0.25 large shift", "score name x (previous run, current run)"),
)


@dataclass(frozen=True)
class CaseloadGuideline:
    """Active cases per case manager that the program guideline accepts, by setting."""

    acute_low: int = 15
    acute_high: int = 25
    community_low: int = 30
    community_high: int = 40


def _start_month(as_of: dt.date, months: int = KPI_MONTHS) -> dt.date:
    first = as_of.replace(day=1)
    total = first.year * 12 + first.month - 1 - months
    return dt.date(total // 12, total % 12 + 1, 1)


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def kpi_months(start: dt.date, as_of: dt.date) -> list[dt.date]:
    """First days of the months from ``start`` to the last full month before ``as_of``."""
    months, month, stop = [], start.replace(day=1), as_of.replace(day=1)
    while month < stop:
        months.append(month)
        month = _next_month(month)
    return months


UTILIZATION_TABLE = "marts.kpi_utilization_monthly"


def build_kpi_utilization_monthly(con: duckdb.DuckDBPyConnection, as_of: dt.date, start: dt.date) -> int:
    """Create or replace ``marts.kpi_utilization_monthly`` (``marts__kpi_utilization_monthly.sql``)
    one month per statement, appended in month order, so memory holds one month's member-months
    however many months the KPI covers. Needs the temp table ``_month_complete``. Returns the months built."""
    ensure_schema(con, "marts")
    define_macros(con)
    sql = load_sql("marts__kpi_utilization_monthly")
    # an empty first month range gives the table its columns; each month is then appended in order
    con.execute(f"CREATE OR REPLACE TABLE {UTILIZATION_TABLE} AS\n{sql}",
                {"as_of": as_of, "first_month": start, "end_month": start})
    months = kpi_months(start, as_of)
    for month in months:
        with naming("marts__kpi_utilization_monthly", f"month {month:%Y-%m}"):
            con.execute(f"INSERT INTO {UTILIZATION_TABLE}\n{sql}",
                        {"as_of": as_of, "first_month": month, "end_month": _next_month(month)})
    return len(months)


def ensure_history_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con, "marts")
    for ddl in HISTORY_DDL:
        con.execute(ddl)


def record_history(
    con: duckdb.DuckDBPyConnection, score_name: str, as_of: dt.date, listed: pl.DataFrame, scored: pl.DataFrame
) -> None:
    """Replace this run's rows (same as-of date and score) in ``marts.intake_list_history``
    (``listed``: person_id, rank, score) and ``marts.score_history`` (``scored``: person_id, score)."""
    ensure_history_tables(con)
    listed_rows = listed.select("person_id", "rank", "score")
    scored_rows = scored.select("person_id", "score")
    params = {"as_of": as_of, "score_name": score_name}
    con.execute("DELETE FROM marts.intake_list_history WHERE list_as_of_date = $as_of AND score_name = $score_name", params)
    con.execute("DELETE FROM marts.score_history WHERE scored_as_of_date = $as_of AND score_name = $score_name", params)
    con.execute("INSERT INTO marts.intake_list_history SELECT CAST($as_of AS DATE), $score_name, person_id, rank, score "
                "FROM listed_rows", params)
    con.execute("INSERT INTO marts.score_history SELECT CAST($as_of AS DATE), $score_name, person_id, score "
                "FROM scored_rows", params)


def population_stability_index(previous: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI of ``current`` against ``previous``, with bins at the deciles of ``previous``.

    Each bin's share is floored at 1e-4 so an empty bin gives a large but finite term."""
    previous, current = np.asarray(previous, dtype=float), np.asarray(current, dtype=float)
    if previous.size == 0 or current.size == 0:
        raise ValueError("PSI needs scores in both runs")
    edges = np.unique(np.quantile(previous, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, previous, side="right"), minlength=edges.size + 1) / previous.size
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1) / current.size
    p, c = np.maximum(p, 1e-4), np.maximum(c, 1e-4)
    return float(np.sum((c - p) * np.log(c / p)))


def score_drift(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per score name with at least two scoring runs: PSI of the latest run against the one before."""
    ensure_history_tables(con)
    history = con.execute("SELECT score_name, scored_as_of_date, score FROM marts.score_history").pl()
    rows = []
    for name in sorted(history["score_name"].unique().to_list()):
        runs = history.filter(pl.col("score_name") == name)
        dates = sorted(runs["scored_as_of_date"].unique().to_list())
        if len(dates) < 2:
            continue
        prev = runs.filter(pl.col("scored_as_of_date") == dates[-2])["score"].drop_nulls().to_numpy()
        cur = runs.filter(pl.col("scored_as_of_date") == dates[-1])["score"].drop_nulls().to_numpy()
        if prev.size and cur.size:
            psi = population_stability_index(prev, cur)
            rows.append({"score_name": name, "previous_as_of_date": dates[-2], "current_as_of_date": dates[-1],
                         "previous_n": int(prev.size), "current_n": int(cur.size), "psi": psi,
                         "drift": "stable" if psi < 0.1 else ("moderate" if psi <= 0.25 else "large")})
    schema = {"score_name": pl.String, "previous_as_of_date": pl.Date, "current_as_of_date": pl.Date,
              "previous_n": pl.Int64, "current_n": pl.Int64, "psi": pl.Float64, "drift": pl.String}
    return pl.DataFrame(rows, schema=schema)


# Lists whose observed / expected events leave this band are flagged (the fairness O/E band too).
LIST_OE_BAND = (0.8, 1.25)
# scores whose listed value is a probability of the 30-day event the list KPI counts
THIRTY_DAY_SCORES = ("readmission",)


def list_calibration(perf: pl.DataFrame, band: tuple[float, float] = LIST_OE_BAND) -> pl.DataFrame:
    """``perf`` (marts.kpi_list_performance rows) with oe_ratio, oe_ci_low, oe_ci_high (exact Poisson
    on the observed count) and oe_flag ('within 0.8-1.25' / 'outside 0.8-1.25'); null where the
    score is not a 30-day probability or nothing was expected."""
    from models.metrics import observed_expected

    label = f"{band[0]:g}-{band[1]:g}"
    rows = []
    for r in perf.select("score_name", "listed_with_event", "expected_events").iter_rows(named=True):
        if r["score_name"] in THIRTY_DAY_SCORES and (r["expected_events"] or 0) > 0:
            oe = observed_expected(r["listed_with_event"], r["expected_events"])
            inside = band[0] <= oe["oe"] <= band[1]
            rows.append((oe["oe"], *oe["oe_ci"], f"{'within' if inside else 'outside'} {label}"))
        else:
            rows.append((None, None, None, None))
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    return perf.with_columns(
        pl.Series("oe_ratio", cols[0], dtype=pl.Float64), pl.Series("oe_ci_low", cols[1], dtype=pl.Float64),
        pl.Series("oe_ci_high", cols[2], dtype=pl.Float64), pl.Series("oe_flag", cols[3], dtype=pl.String),
    )


def add_list_calibration(con: duckdb.DuckDBPyConnection) -> None:
    """Add the O/E columns of ``list_calibration`` to marts.kpi_list_performance (rebuilt each run,
    so every scoring run records them for every list whose 30-day window has closed)."""
    perf = list_calibration(con.execute("SELECT * FROM marts.kpi_list_performance").pl())
    con.execute("CREATE OR REPLACE TABLE marts.kpi_list_performance AS SELECT * FROM perf "
                "ORDER BY list_as_of_date, score_name")


def materialise_month_flags(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Temp table ``_month_complete`` (month, month_complete_flag) from the warehouse's month coverage
    (``features.coverage``): the monthly KPI marts join it so a month whose claims still run out is
    flagged (0) rather than read as a drop. Returns the coverage."""
    coverage = cached_month_coverage(con)
    flags = coverage.select(pl.col("month"), pl.col("month_complete_flag"))
    con.execute("CREATE OR REPLACE TEMP TABLE _month_complete AS SELECT * FROM flags")
    return coverage


def build_kpi_readmission_monthly(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, int | float | None]:
    """Create or replace ``marts.kpi_readmission_monthly``.

    Grain: discharge month x in_case_management_flag (case open at discharge).
    Denominator: observable index stays (acute stays discharged before ``as_of``, alive, not AMA,
    not transferred, with discharge_date + 30 < as_of). Numerator: those with an unplanned
    (admit type <> '3') acute admission 1-30 days after discharge. Rate = numerator /
    denominator. Exclusions (died, AMA, transfer) are counted in their own columns;
    ``month_complete_flag`` is 0 for months whose claims (or the 30-day window's) still run out.
    Needs ``core.inpatient_stay``, ``raw.cm_case``, ``raw.eligibility`` and ``raw.medical_claim``. Returns row count and overall totals.
    """
    materialise_labels(con, as_of)
    materialise_month_flags(con)
    run_sql(con, "marts__kpi_readmission_monthly", {"as_of": as_of})
    return kpi_readmission_summary(con)


def kpi_readmission_summary(con: duckdb.DuckDBPyConnection) -> dict[str, int | float | None]:
    """Row count and overall totals of ``marts.kpi_readmission_monthly`` (whichever engine built it)."""
    rows, denominator, numerator = con.execute(
        "SELECT count(*), coalesce(sum(observable_index_stays), 0), coalesce(sum(readmissions), 0) "
        "FROM marts.kpi_readmission_monthly"
    ).fetchone()
    return {
        "rows": int(rows),
        "observable_index_stays": int(denominator),
        "readmissions": int(numerator),
        "overall_rate": (float(numerator) / denominator) if denominator else None,
    }


# kpi_documentation's windows (features/sql/marts__kpi_documentation.sql: $grace_days, $note_days)
DOCUMENTATION_GRACE_DAYS = 14
DOCUMENTATION_NOTE_DAYS = 30
KPI_TABLES = (
    "marts.kpi_transition_monthly", "marts.kpi_referral_monthly", "marts.kpi_case_closure_monthly",
    "marts.kpi_caseload_monthly", "marts.kpi_contact_compliance_monthly", "marts.kpi_documentation",
    "marts.kpi_utilization_monthly", "marts.kpi_list_performance", "marts.kpi_score_drift", "marts.kpi_definition",
)


def program_kpi_statements(
    as_of: dt.date, start: dt.date, guideline: CaseloadGuideline = CaseloadGuideline(),
) -> list[tuple[str, dict]]:
    """The program-KPI SQL files that are one statement each, in build order, with their parameters:
    ``build_program_kpis`` runs exactly these on DuckDB and ``features.spark_engine.build_kpis`` on
    Spark (kpi_utilization_monthly, one statement per month here, and kpi_list_performance follow)."""
    return [
        ("marts__kpi_transition_monthly", {"as_of": as_of}),
        ("marts__kpi_referral_monthly", {"as_of": as_of}),
        ("marts__kpi_case_closure_monthly", {"as_of": as_of}),
        ("marts__kpi_caseload_monthly", {
            "as_of": as_of, "start_month": start, "acute_low": guideline.acute_low,
            "acute_high": guideline.acute_high, "community_low": guideline.community_low,
            "community_high": guideline.community_high,
        }),
        ("marts__kpi_contact_compliance_monthly", {"as_of": as_of}),
        ("marts__kpi_documentation", {"as_of": as_of, "grace_days": DOCUMENTATION_GRACE_DAYS,
                                      "note_days": DOCUMENTATION_NOTE_DAYS}),
    ]


def build_program_kpis(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    expected: pl.DataFrame | None = None,
    guideline: CaseloadGuideline = CaseloadGuideline(),
    months: int = KPI_MONTHS,
) -> dict[str, int]:
    """Create or replace every table in ``KPI_TABLES``; return their row counts.

    Needs ``core.inpatient_stay`` and the raw tables eligibility, encounter, medical_claim,
    pharmacy_claim, cm_case, cm_contact, cm_goal and cm_roster. ``expected`` (stay_id, expected_p):
    the current readmission model's calibrated probability per index stay, for O/E; without it
    expected and O/E are null.
    """
    ensure_history_tables(con)
    start = _start_month(as_of, months)
    materialise_labels(con, as_of)
    materialise_month_flags(con)
    exp = expected if expected is not None else pl.DataFrame(schema={"stay_id": pl.String, "expected_p": pl.Float64})
    exp = exp.select(pl.col("stay_id").cast(pl.String), pl.col("expected_p").cast(pl.Float64))
    con.execute("CREATE OR REPLACE TEMP TABLE _readmission_expected AS SELECT * FROM exp")
    for name, params in program_kpi_statements(as_of, start, guideline):
        run_sql(con, name, params)
    build_kpi_utilization_monthly(con, as_of, start)
    run_sql(con, "marts__kpi_list_performance", {"as_of": as_of})
    return finish_program_kpis(con)


def finish_program_kpis(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What follows the program-KPI SQL on either engine, in Python over its tables: the O/E columns of
    kpi_list_performance, kpi_score_drift and kpi_definition. Returns every KPI table's row count."""
    add_list_calibration(con)
    drift = score_drift(con)
    con.execute("CREATE OR REPLACE TABLE marts.kpi_score_drift AS SELECT * FROM drift")
    definitions = pl.DataFrame([d.__dict__ for d in KPI_DEFINITIONS])
    con.execute("CREATE OR REPLACE TABLE marts.kpi_definition AS SELECT * FROM definitions")
    return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in KPI_TABLES}
