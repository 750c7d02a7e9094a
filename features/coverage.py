"""Which months the data covers completely, and the default as-of date that follows.

Claims keep arriving for months after the service month (claims run-out), and an extract may
carry claims past its last eligibility month. An as-of date inside a month still running out,
or past the last enrolment month, gives features that undercount and a member snapshot with
nobody in it. This module measures, per calendar month, eligibility (member-months) and claims
(lines and paid amount per member-month) and says which months are complete.

**The completeness rule** (``judge_months``), per service month m, first match wins:

1. ``not_enrolled``: no member has an enrolment span overlapping m.
2. ``not_judged``: fewer than ``MIN_MEMBER_MONTHS`` (5,000) member-months in m, or fewer than
   ``MIN_BASELINE_MONTHS`` (3) earlier months with members to compare with. Below that, monthly
   counts are too noisy for a ratio (one stay is dozens of lines; on generated data the month-to-month
   ratio of lines per member-month has a standard deviation of 0.054 at 2,500 member-months and 0.036
   at 6,600), so such a month counts as complete and the default as-of falls back to the day after
   the latest service date: a source of tens of members is never misjudged by noise.
3. ``eligibility_ends``: fewer than ``ELIGIBILITY_END_SHARE`` (85%) of the month's members are
   still enrolled on its last day (the eligibility extract stops inside the month).
4. ``running_out``: claim lines per member-month, or paid amount per member-month, below
   ``RUNOUT_RATIO`` (0.85) x the mean of the up to ``BASELINE_MONTHS`` (6) preceding months with
   members. Paid amount is heavy-tailed (one long stay moves a month), so it is judged only from
   ``MIN_PAID_MEMBER_MONTHS`` (50,000) member-months (its ratio's standard deviation is 0.15 at
   2,500 and 0.065 at 16,600 member-months on generated data) and only when the baseline paid
   something: sources without amounts (all 0, e.g. MIMIC-IV) are judged by lines only.
5. ``complete``.

**The default as-of** (``decide_as_of``): the first day after the last complete month (months
1-4 above that trail the last complete month are excluded; a dip earlier in the series does not
move it), or, when the last enrolled month is ``not_judged``, the day after the latest service
date (the rule before this module). Either is then held to the enrolment: when nobody is enrolled
on that day it becomes the last day anybody is enrolled, so the as-of never passes the last
enrolment month and the member snapshot is never empty by construction.

``month_coverage`` works on any DuckDB relation with the canonical column names: the warehouse's
``raw.medical_claim`` / ``raw.eligibility`` (``raw.encounter`` for EHR-only sources, see
``ENCOUNTER_COLUMNS``) or views a caller made over landing files, so a dry run can tell the as-of
before loading anything. The SQL is ``features/sql/audit__month_coverage.sql``.

**One computation per warehouse state** (``cached_month_coverage``). Every asset that resolves the
default as-of needs the coverage (about a dozen per run), and computing it reads every claim line
and enrolment span (3-4 s at 200,000 members, 7 s at 1M). The warehouse's coverage is therefore
kept in ``audit.month_coverage_cache`` with ``raw_fingerprint``, a fingerprint of what it reads:
per table (``raw.medical_claim``, ``raw.encounter``, ``raw.eligibility``) the row count and the
lowest and highest value of each column the coverage reads, and the row count and last time of
``audit.ingest_log``. A caller gets the stored coverage while the fingerprint matches and a fresh
one (stored again, unless the connection is read-only) once it does not: any load through
ingestion logs a row, and a direct write that changes a count or a date range moves it too. A
write that bypasses ingestion and keeps every count and extreme (an UPDATE in place) is not seen;
``refresh_month_coverage`` recomputes regardless. ``audit.month_coverage`` stays the run's record
(with its as-of date).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

import duckdb
import polars as pl

from data_contracts.errors import RiskstratDataError
from features.sqlfiles import ensure_schema, load_sql

COVERAGE_TABLE = "audit.month_coverage"
COVERAGE_CACHE_TABLE = "audit.month_coverage_cache"
# what warehouse_month_coverage reads, per table: fingerprinted by row count and each column's
# lowest and highest value (a fixed list: no name comes from outside)
FINGERPRINT_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("raw", "medical_claim", ("person_id", "claim_start_date", "claim_end_date", "paid_amount")),
    ("raw", "encounter", ("person_id", "encounter_start_date", "encounter_end_date")),
    ("raw", "eligibility", ("person_id", "enrollment_start_date", "enrollment_end_date", "death_date")),
    ("audit", "ingest_log", ("logged_at",)),
)
RUNOUT_RATIO = 0.85
ELIGIBILITY_END_SHARE = 0.85
MIN_MEMBER_MONTHS = 5_000
MIN_PAID_MEMBER_MONTHS = 50_000
MIN_BASELINE_MONTHS = 3
BASELINE_MONTHS = 6

CLAIM_COLUMNS: dict[str, str | None] = {
    "start_column": "claim_start_date", "end_column": "claim_end_date", "paid_column": "paid_amount"}
ENCOUNTER_COLUMNS: dict[str, str | None] = {
    "start_column": "encounter_start_date", "end_column": "encounter_end_date", "paid_column": None}

MONTH_STATUS = pl.Enum(["complete", "not_judged", "running_out", "eligibility_ends", "not_enrolled"])
_RELATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _relation(name: str) -> str:
    if not _RELATION.match(name):
        raise ValueError(f"relation {name!r} must be a table or view name such as raw.medical_claim")
    return ".".join(f'"{part}"' for part in name.split("."))


def _column(name: str) -> str:
    if not _COLUMN.match(name):
        raise ValueError(f"column {name!r} must be a plain identifier")
    return f'"{name}"'


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def month_coverage(
    con: duckdb.DuckDBPyConnection,
    claims_relation: str,
    eligibility_relation: str,
    *,
    start_column: str = "claim_start_date",
    end_column: str | None = "claim_end_date",
    paid_column: str | None = "paid_amount",
) -> pl.DataFrame:
    """Per calendar month (first to last month with a claim line): eligibility and claims figures
    and the completeness verdict (``judge_months``), oldest month first.

    ``claims_relation``: a table or view with ``person_id``, ``start_column`` (service month) and
    optionally ``end_column`` and ``paid_column`` (``None``: no amounts, judged by lines);
    ``eligibility_relation``: ``person_id``, ``enrollment_start_date``, ``enrollment_end_date`` and
    optionally ``death_date`` (enrolment then ends at the death).
    Values that do not parse as dates or numbers are ignored (landing files may hold broken rows).
    Creates nothing, so it runs on a read-only connection."""
    end = f"TRY_CAST({_column(end_column)} AS DATE)" if end_column else "CAST(NULL AS DATE)"
    # a member is enrolled until death at the latest (the member cohort drops anyone dead before the
    # as-of): an enrolment span running past the death must not hold the as-of on a day nobody living
    # is enrolled (MIMIC-IV's derived spans run 30 days past the last discharge, death included)
    eligibility_columns = {row[0] for row in con.execute(
        f"DESCRIBE SELECT * FROM {_relation(eligibility_relation)}").fetchall()}
    enrolment_end = "TRY_CAST(enrollment_end_date AS DATE)"
    if "death_date" in eligibility_columns:
        enrolment_end = f"least({enrolment_end}, coalesce(TRY_CAST(death_date AS DATE), {enrolment_end}))"
    paid = f"coalesce(TRY_CAST({_column(paid_column)} AS DOUBLE), 0.0)" if paid_column else "0.0"
    sql = (
        "WITH _coverage_claims AS ("
        f"SELECT CAST(person_id AS VARCHAR) AS person_id, TRY_CAST({_column(start_column)} AS DATE) AS start_date, "
        f"{end} AS end_date, {paid} AS paid_amount FROM {_relation(claims_relation)}), "
        "_coverage_eligibility AS ("
        "SELECT CAST(person_id AS VARCHAR) AS person_id, TRY_CAST(enrollment_start_date AS DATE) AS enrollment_start_date, "
        f"{enrolment_end} AS enrollment_end_date FROM {_relation(eligibility_relation)}) "
        f"SELECT * FROM ({load_sql('audit__month_coverage')})"
    )
    frame = con.execute(sql, {"baseline_months": BASELINE_MONTHS}).pl()
    return judge_months(frame)


def judge_months(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``judged_flag``, ``month_status`` and ``month_complete_flag`` (1 complete or not judged,
    0 otherwise) to the per-month figures of ``audit__month_coverage.sql`` (rule: module docstring)."""
    judged = (pl.col("member_months") >= MIN_MEMBER_MONTHS) & (pl.col("baseline_months_used") >= MIN_BASELINE_MONTHS)
    low_lines = pl.col("lines_ratio").fill_null(0.0) < RUNOUT_RATIO
    low_paid = ((pl.col("member_months") >= MIN_PAID_MEMBER_MONTHS) & pl.col("paid_ratio").is_not_null()
                & (pl.col("paid_ratio") < RUNOUT_RATIO))
    status = (
        pl.when(pl.col("member_months") == 0).then(pl.lit("not_enrolled"))
        .when(~judged).then(pl.lit("not_judged"))
        .when(pl.col("month_end_members") < ELIGIBILITY_END_SHARE * pl.col("member_months")).then(pl.lit("eligibility_ends"))
        .when(low_lines | low_paid).then(pl.lit("running_out"))
        .otherwise(pl.lit("complete"))
        .cast(MONTH_STATUS)
    )
    return (
        frame.with_columns(judged.cast(pl.Int32).alias("judged_flag"), status.alias("month_status"))
        .with_columns(pl.col("month_status").is_in(["complete", "not_judged"]).cast(pl.Int32).alias("month_complete_flag"))
    )


@dataclass(frozen=True)
class AsOfDecision:
    """The default as-of and why: ``rule`` is ``completeness`` or ``latest_service_date`` (a source
    too small to judge); ``as_of`` is None when no month has both claims and enrolled members."""

    as_of: dt.date | None
    rule: str
    last_complete_month: dt.date | None
    last_enrolled_date: dt.date | None
    held_to_enrolment: bool = False
    incomplete_months: tuple[tuple[dt.date, str], ...] = field(default_factory=tuple)

    def sentence(self) -> str:
        if self.as_of is None:
            return "no month has both claim lines and enrolled members"
        if self.rule == "latest_service_date":
            why = "the day after the latest service date (too few members to judge claims completeness)"
        else:
            why = f"the day after {self.last_complete_month:%Y-%m}, the last month complete in claims and eligibility"
        trailing = ", ".join(f"{m:%Y-%m} {s.replace('_', ' ')}" for m, s in self.incomplete_months)
        clamp = (f", held to {self.as_of.isoformat()}, the last day anybody is enrolled"
                 if self.held_to_enrolment else "")
        return f"as-of {self.as_of.isoformat()}: {why}{clamp}" + (f"; left out: {trailing}" if trailing else "")


def decide_as_of(coverage: pl.DataFrame) -> AsOfDecision:
    """The default as-of from ``month_coverage`` output (rule: module docstring)."""
    enrolled = coverage.filter(pl.col("member_months") > 0).sort("month")
    if enrolled.is_empty():
        return AsOfDecision(None, "completeness", None, None)
    last = enrolled.row(-1, named=True)
    # the last day on which somebody is enrolled, within or just after the claims months
    bound = _add_months(last["month"], 1) if last["next_month_start_members"] > 0 else last["enrolled_through_date"]
    if last["judged_flag"]:
        complete = enrolled.filter(pl.col("month_complete_flag") == 1)
        if complete.is_empty():
            return AsOfDecision(None, "completeness", None, bound)
        last_complete = complete["month"].max()
        candidate = _add_months(last_complete, 1)
        rule = "completeness"
    else:
        last_complete = enrolled.filter(pl.col("month_complete_flag") == 1)["month"].max()
        candidate = coverage["last_service_date"].max() + dt.timedelta(days=1)
        rule = "latest_service_date"
    as_of = min(candidate, bound)
    cut = last_complete or dt.date.min
    trailing = coverage.filter((pl.col("month") > cut) & (pl.col("month_complete_flag") == 0))
    return AsOfDecision(
        as_of, rule, last_complete, bound, bound < candidate,
        tuple(zip(trailing["month"].to_list(), trailing["month_status"].cast(pl.String).to_list(), strict=True)),
    )


def default_as_of(coverage: pl.DataFrame) -> dt.date | None:
    """The default as-of date for ``month_coverage`` output; None when no month has both claims and
    enrolled members."""
    return decide_as_of(coverage).as_of


def _columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    """The table's column names; empty when it does not exist."""
    return [row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [schema, name]).fetchall()]


def _has_rows(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    # schema and name are the fixed raw table names below
    return bool(_columns(con, schema, name)) and con.execute(f"SELECT EXISTS (SELECT 1 FROM {schema}.{name})").fetchone()[0]


def source_month_coverage(
    con: duckdb.DuckDBPyConnection, claims_relation: str, encounter_relation: str, eligibility_relation: str,
    *, claims_loaded: bool,
) -> pl.DataFrame:
    """``month_coverage`` of claims, or of encounters (lines only) for an EHR-only source without claims;
    one choice for the warehouse and for a dry run over landing files."""
    if claims_loaded:
        return month_coverage(con, claims_relation, eligibility_relation, **CLAIM_COLUMNS)
    return month_coverage(con, encounter_relation, eligibility_relation, **ENCOUNTER_COLUMNS)


def warehouse_month_coverage(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """``month_coverage`` of the loaded warehouse: ``raw.medical_claim`` against ``raw.eligibility``,
    or ``raw.encounter`` (lines only) for EHR-only sources without medical claims.

    Raises ``RiskstratDataError`` when neither claims nor encounters are loaded."""
    if _has_rows(con, "raw", "medical_claim") or _has_rows(con, "raw", "encounter"):
        return source_month_coverage(con, "raw.medical_claim", "raw.encounter", "raw.eligibility",
                                     claims_loaded=_has_rows(con, "raw", "medical_claim"))
    raise RiskstratDataError(
        "cannot derive an as-of date: raw.medical_claim and raw.encounter are both empty; load claims or "
        "encounters, or pass --as-of", source="raw.medical_claim")


def raw_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of the tables ``warehouse_month_coverage`` reads (``FINGERPRINT_COLUMNS``): per
    table its row count and each listed column's min and max, or ``absent``. One aggregate per table,
    no hashing of rows: a few hundredths of a second where the coverage takes seconds."""
    parts = []
    for schema, name, wanted in FINGERPRINT_COLUMNS:
        present = set(_columns(con, schema, name))
        if not present:
            parts.append(f"{schema}.{name} absent")
            continue
        columns = [c for c in wanted if c in present]
        aggregates = ", ".join(["count(*)", *(f"min({_column(c)}), max({_column(c)})" for c in columns)])
        values = con.execute(f"SELECT {aggregates} FROM {schema}.{name}").fetchone()  # names from the fixed list
        parts.append(f"{schema}.{name} {','.join(columns)} " + "|".join(map(str, values)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _read_only(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0])


def _stored_coverage(con: duckdb.DuckDBPyConnection, fingerprint: str) -> pl.DataFrame | None:
    """The coverage stored for ``fingerprint``, or None (no cache, or one of another warehouse state)."""
    if "raw_fingerprint" not in _columns(con, "audit", "month_coverage_cache"):
        return None
    stored = con.execute(f"SELECT * FROM {COVERAGE_CACHE_TABLE} WHERE raw_fingerprint = ? ORDER BY month",
                         [fingerprint]).pl()
    if stored.is_empty():
        return None
    return stored.drop("raw_fingerprint").with_columns(pl.col("month_status").cast(MONTH_STATUS))


def refresh_month_coverage(con: duckdb.DuckDBPyConnection, fingerprint: str | None = None) -> pl.DataFrame:
    """Compute ``warehouse_month_coverage`` and, on a writable connection, store it in
    ``audit.month_coverage_cache`` under the raw tables' fingerprint."""
    fingerprint = fingerprint or raw_fingerprint(con)
    coverage = warehouse_month_coverage(con)
    if not _read_only(con):
        ensure_schema(con, "audit")
        rows = coverage.with_columns(pl.col("month_status").cast(pl.String), pl.lit(fingerprint).alias("raw_fingerprint"))
        con.execute(f"CREATE OR REPLACE TABLE {COVERAGE_CACHE_TABLE} AS SELECT * FROM rows")
    return coverage


def cached_month_coverage(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """``warehouse_month_coverage``, computed once per state of the raw tables: the stored coverage
    while their fingerprint is unchanged, else a fresh one (stored for the next caller; module
    docstring). Raises what ``warehouse_month_coverage`` raises."""
    fingerprint = raw_fingerprint(con)
    stored = _stored_coverage(con, fingerprint)
    return stored if stored is not None else refresh_month_coverage(con, fingerprint)


def write_month_coverage(con: duckdb.DuckDBPyConnection, coverage: pl.DataFrame, as_of: dt.date) -> None:
    """Replace ``audit.month_coverage`` with ``coverage`` and the run's as-of date."""
    ensure_schema(con, "audit")
    rows = coverage.with_columns(pl.col("month_status").cast(pl.String), pl.lit(as_of).alias("as_of_date"))
    con.execute(f"CREATE OR REPLACE TABLE {COVERAGE_TABLE} AS SELECT * FROM rows")


def coverage_metadata(coverage: pl.DataFrame, months: int = 8) -> dict[str, object]:
    """Key figures for an asset's metadata: the decision and a markdown table of the last months."""
    decision = decide_as_of(coverage)
    tail = coverage.tail(months).select(
        pl.col("month").dt.strftime("%Y-%m"), "member_months", "claim_lines",
        pl.col("lines_ratio").round(2), pl.col("paid_ratio").round(2), pl.col("month_status").cast(pl.String),
    )
    return {
        "default_as_of": decision.as_of.isoformat() if decision.as_of else "none",
        "default_as_of_rule": decision.sentence(),
        "last_complete_month": decision.last_complete_month.strftime("%Y-%m") if decision.last_complete_month else "none",
        "incomplete_trailing_months": ", ".join(f"{m:%Y-%m}" for m, _ in decision.incomplete_months) or "none",
        "month_coverage": tail.to_pandas().to_markdown(index=False) if tail.height else "empty",
    }
